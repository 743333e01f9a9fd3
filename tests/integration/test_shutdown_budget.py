"""The whole graceful stop (in-flight responses, then the drain of fills) fits in one
`shutdown_grace_s`, so it ends before Kubernetes' terminationGracePeriodSeconds."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from proxy import server
from proxy.api.keys import SERVICES, Services
from proxy.cache.inflight import Fills
from tests.fakes.hub import Hub
from tests.fakes.images import make_image
from tests.integration.conftest import PASSWORD, USER
from tests.support.kura import free_port, kura_settings, wait_until_up

GRACE_S = 2.0


async def test_slow_response_and_slow_fill_share_one_grace(
    hub: Hub, cache_dir: Path, client: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A blob whose fill takes far longer than the grace: the client's response and the
    # fill behind it would each use a whole grace if they had one each.
    image = make_image(77, [2 * 1024 * 1024])
    hub.push_image(image, repo="library/slow", tag="1")
    layer = image.layer_digests[0]
    hub.faults.cdn_chunk_delay_s, hub.faults.cdn_chunk_size = 0.05, 16 * 1024  # ~6.4 s

    apps: list[Services] = []
    real_create_app = server.create_app

    def create_app(settings):  # type: ignore[no-untyped-def]
        app = real_create_app(settings)
        apps.append(app[SERVICES])
        return app

    drains: list[tuple[float, float]] = []  # (loop time at the call, timeout given)
    real_drain = Fills.drain

    async def drain(self: Fills, timeout_s: float) -> None:
        drains.append((asyncio.get_running_loop().time(), timeout_s))
        await real_drain(self, timeout_s)

    monkeypatch.setattr(server, "create_app", create_app)
    monkeypatch.setattr(Fills, "drain", drain)

    url = f"http://127.0.0.1:{free_port()}"
    settings = replace(
        kura_settings(cache_dir, hub.url, username=USER, password=PASSWORD),
        listen=url.removeprefix("http://"), shutdown_grace_s=GRACE_S,
    )
    stop = asyncio.Event()
    serving = asyncio.create_task(server.serve(settings, stop))
    loop = asyncio.get_running_loop()
    try:
        await wait_until_up(url)
        async with client.get(f"{url}/v2/slow/blobs/{layer}") as response:
            assert response.status == 200
            await response.content.readexactly(64 * 1024)  # the fill is running
            stop.set()
            stopped_at = loop.time()
            with pytest.raises((aiohttp.ClientError, asyncio.IncompleteReadError)):
                await response.read()  # cut off when the grace is over
        await asyncio.wait_for(serving, timeout=30)
        elapsed = loop.time() - stopped_at
    finally:
        hub.faults.clear()
        if not serving.done():
            stop.set()
            await serving

    (services,) = apps
    deadline = services.shutdown_deadline
    assert deadline is not None and stopped_at + GRACE_S <= deadline <= stopped_at + GRACE_S + 5
    # The drain was given only what the in-flight response left of the grace (here
    # nothing: the response used it all), not a grace of its own.
    ((drain_at, drain_timeout),) = drains
    assert drain_at + max(drain_timeout, 0) <= max(deadline, drain_at) + 0.01
    # And the whole stop took one grace, not two (generous: overhead on a busy machine).
    assert elapsed < 2 * GRACE_S


def test_connection_shutdown_waits_fit_in_the_grace() -> None:
    # aiohttp waits twice (graceful, then after cancelling), each rounded up to a whole
    # second when over 5 s: both waits together must stay inside the grace.
    for grace in (0.5, 2.0, 10.0, 11.0, 30.0, 300.0):
        timeout = server.connection_shutdown_timeout(grace)
        per_wait = timeout + 1 if timeout > 5 else timeout
        assert 0 < timeout and 2 * per_wait <= grace
    assert 0 < server.connection_shutdown_timeout(0.0) < 0.01  # 0 must not mean "no limit"
