"""/readyz after upstream failures: it must not latch unready once the upstream is back.

Kubernetes takes an unready pod out of its Service, after which no client request
reaches the upstream again; /readyz must therefore re-check the upstream itself.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import AsyncIterator

import aiohttp
import pytest

from proxy.api import health
from tests.fakes.hub import Hub
from tests.fakes.images import make_image
from tests.integration.conftest import PASSWORD, USER
from tests.support.kura import KuraServer, kura_settings, running_kura
from tests.support.registry_client import fetch


@pytest.fixture
async def kura(hub: Hub, cache_dir: Path) -> AsyncIterator[KuraServer]:
    # tag_ttl_s=0: every manifest pull revalidates, so a blip reaches the upstream.
    settings = kura_settings(cache_dir, hub.url, username=USER, password=PASSWORD, tag_ttl_s=0)
    async with running_kura(settings) as server:
        yield server


async def blip(hub: Hub, kura: KuraServer, client: aiohttp.ClientSession) -> None:
    """Warm the cache, then one upstream 503 while a pull is served stale."""
    hub.push_image(make_image(41, [1024]), repo="library/x", tag="1")
    assert (await fetch(client, "GET", f"{kura.url}/v2/x/manifests/1")).status == 200
    assert (await fetch(client, "GET", f"{kura.url}/readyz")).status == 200
    hub.faults.status, hub.faults.status_kinds = 503, {"manifest"}
    assert (await fetch(client, "GET", f"{kura.url}/v2/x/manifests/1")).status == 200  # stale
    assert kura.services.upstreams.get("docker.io").last_ok is False


async def test_readyz_recovers_after_an_upstream_blip_without_client_traffic(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    await blip(hub, kura, client)
    hub.faults.clear()
    pulls = hub.counts("manifest")
    reply = await fetch(client, "GET", f"{kura.url}/readyz")
    assert reply.status == 200, reply.body
    assert kura.services.upstreams.get("docker.io").last_ok is True
    assert hub.counts("manifest") == pulls  # the re-check is a GET /v2/, not a pull
    assert hub.counts("base", "GET") >= 1


async def test_readyz_stays_unready_while_the_upstream_is_down_and_pings_sparingly(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "UPSTREAM_RECHECK_S", 3600.0)  # no second ping in this test
    await blip(hub, kura, client)
    hub.faults.refuse = True
    upstream = kura.services.upstreams.get("docker.io")
    pings: list[float] = []
    real_ping = upstream.ping

    async def counted_ping(timeout_s: float) -> bool:
        pings.append(timeout_s)
        return await real_ping(timeout_s)

    monkeypatch.setattr(upstream, "ping", counted_ping)
    for _ in range(5):
        reply = await fetch(client, "GET", f"{kura.url}/readyz")
        assert reply.status == 503
        assert reply.json()["reasons"] == ["default upstream docker.io failed its last request"]
    assert pings == [health.UPSTREAM_PING_TIMEOUT_S]  # one short ping, then the cached outcome
    # The local check ignores the upstream: kura keeps serving its cache in an outage.
    reply = await fetch(client, "GET", f"{kura.url}/readyz?local=1")
    assert reply.status == 200 and reply.json() == {"status": "ready"}


async def test_readyz_pings_again_after_the_recheck_interval(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "UPSTREAM_RECHECK_S", 0.0)
    await blip(hub, kura, client)
    hub.faults.refuse = True
    assert (await fetch(client, "GET", f"{kura.url}/readyz")).status == 503
    hub.faults.clear()
    assert (await fetch(client, "GET", f"{kura.url}/readyz")).status == 200


async def test_a_401_from_the_upstream_counts_as_an_answer(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    # The fake Hub answers an anonymous GET /v2/ with 401, as Docker Hub does.
    upstream = kura.services.upstreams.get("docker.io")
    upstream.last_ok = False
    assert await upstream.ping(2.0) is True and upstream.last_ok is True


async def test_ping_of_an_unreachable_upstream_is_false_not_an_error(
    hub: Hub, kura: KuraServer
) -> None:
    hub.faults.refuse = True
    upstream = kura.services.upstreams.get("docker.io")
    assert await upstream.ping(2.0) is False and upstream.last_ok is False


async def test_readyz_local_checks_the_cache_directory(
    kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    tmp = kura.services.paths.tmp_dir
    shutil.rmtree(tmp)
    tmp.write_text("not a directory")  # root ignores permission bits
    try:
        reply = await fetch(client, "GET", f"{kura.url}/readyz?local=1")
        assert reply.status == 503
        assert "cache directory is not writable" in reply.json()["reasons"][0]
    finally:
        tmp.unlink()
        tmp.mkdir()
