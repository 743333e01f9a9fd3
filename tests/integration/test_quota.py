"""Quota awareness: what kura reads from Docker Hub's rate-limit headers, what it
spends, and what it refuses to spend; asserted on what the hub saw."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import aiohttp
import pytest

from tests.fakes.hub import Hub
from tests.fakes.images import make_image, make_index
from tests.integration.conftest import PASSWORD, USER
from tests.support.kura import KuraServer, kura_settings, running_kura
from tests.support.registry_client import ALL_MANIFEST_TYPES, fetch, get_blob, pull_image

LIMIT, WINDOW_S = 100, 21600
ACCEPT = {"Accept": ALL_MANIFEST_TYPES}


@pytest.fixture
def hub() -> Iterator[Hub]:
    with Hub(backend="memory", users={USER: PASSWORD}, rate_limit=(LIMIT, WINDOW_S)) as hub:
        yield hub


def start_kura(hub: Hub, cache_dir: Path, **overrides: Any) -> Any:
    settings = kura_settings(cache_dir, hub.url, username=USER, password=PASSWORD, **overrides)
    return running_kura(settings)


@pytest.fixture
async def kura(hub: Hub, cache_dir: Path) -> AsyncIterator[KuraServer]:
    async with start_kura(hub, cache_dir, tag_ttl_s=0.0) as server:
        yield server


async def quota_of(client: aiohttp.ClientSession, kura: KuraServer, query: str = "") -> dict[str, Any]:
    reply = await fetch(client, "GET", f"{kura.url}/quota{query}")
    assert reply.status == 200
    return reply.json()["upstreams"]["docker.io"]


async def test_quota_endpoint_reflects_last_headers(hub: Hub, kura: KuraServer, client: aiohttp.ClientSession) -> None:
    hub.push_image(make_image(10, [1000]), repo="library/alpine", tag="3")
    await pull_image(client, kura.url, "alpine", "3")
    quota = await quota_of(client, kura)
    assert (quota["limit"], quota["remaining"], quota["window_s"]) == (LIMIT, LIMIT - 1, WINDOW_S)
    assert quota["source"] == USER and quota["credential"] == USER
    assert quota["observed_at"] and quota["reset_estimate"] and quota["mode"] == "normal"
    assert quota["pulls_spent"] == hub.counts("manifest", "GET") == 1
    assert quota["unlimited"] is False and quota["last_429"] is None

    hub.set_remaining(42)
    await pull_image(client, kura.url, "alpine", "3")  # tag TTL 0: a HEAD revalidates it
    quota = await quota_of(client, kura)
    assert quota["remaining"] == 42 and quota["pulls_spent"] == 1


async def test_head_revalidation_spends_no_pull(hub: Hub, kura: KuraServer, client: aiohttp.ClientSession) -> None:
    hub.push_image(make_image(11, [1000]), repo="library/alpine", tag="3")
    await pull_image(client, kura.url, "alpine", "3")
    gets, heads = hub.counts("manifest", "GET"), hub.counts("manifest", "HEAD")
    for _ in range(5):
        await pull_image(client, kura.url, "alpine", "3")
    assert hub.counts("manifest", "GET") == gets
    assert hub.counts("manifest", "HEAD") >= heads + 5
    quota = await quota_of(client, kura)
    assert quota["remaining"] == LIMIT - 1 and quota["pulls_spent"] == 1
    assert quota["pulls_saved"] == 5


async def test_hundred_pulls_of_one_tag_spend_one_get_per_manifest(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    index = make_index([make_image(12, [2000], arch="amd64"), make_image(13, [2000], arch="arm64")])
    hub.push_index(index, repo="library/multi", tag="1")
    await asyncio.gather(*(pull_image(client, kura.url, "multi", "1") for _ in range(100)))
    manifests = 1 + len(index.images)
    assert hub.counts("manifest", "GET") == manifests
    quota = await quota_of(client, kura)
    assert quota["pulls_spent"] == manifests and quota["remaining"] == LIMIT - manifests
    assert quota["pulls_saved"] == 100 * manifests - manifests
    assert kura.services.metrics.value("kura_pulls_saved_total", {"upstream": "docker.io"}) == 100 * manifests - manifests


async def test_cached_tags_served_stale_after_429_with_warning(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    cached, cold = make_image(14, [1000]), make_image(15, [1000])
    hub.push_image(cached, repo="library/alpine", tag="3")
    hub.push_image(cold, repo="library/alpine", tag="4")
    await pull_image(client, kura.url, "alpine", "3")
    hub.set_remaining(0)
    # kura still believes 99 pulls are left: the GET reaches the hub and gets its 429.
    reply = await fetch(client, "GET", f"{kura.url}/v2/alpine/manifests/{cold.manifest_digest}", ACCEPT)
    assert reply.status == 429 and int(reply.headers["Retry-After"]) >= 1
    assert reply.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    before = hub.counts("manifest")

    stale = await fetch(client, "GET", f"{kura.url}/v2/alpine/manifests/3", ACCEPT)
    assert stale.status == 200 and stale.headers["Docker-Content-Digest"] == cached.manifest_digest
    assert stale.headers["Warning"] == '110 - "Response is stale"'
    again = await fetch(client, "GET", f"{kura.url}/v2/alpine/manifests/{cold.manifest_digest}", ACCEPT)
    assert again.status == 429  # no retry of the 429 upstream: kura answers itself
    assert hub.counts("manifest") == before  # not even a HEAD while limited
    assert await get_blob(client, kura.url, "alpine", cold.layer_digests[0])  # blobs still flow
    quota = await quota_of(client, kura)
    assert quota["mode"] == "limited" and quota["last_429"]["kind"] == "pull_limit"
    assert kura.services.metrics.value(
        "kura_cache_requests_total", {"kind": "manifest", "result": "stale"}) == 1


async def test_cold_miss_in_reserve_gets_429_with_retry_after(
    hub: Hub, cache_dir: Path, client: aiohttp.ClientSession
) -> None:
    cached, cold = make_image(16, [1000]), make_image(17, [1000])
    hub.push_image(cached, repo="library/alpine", tag="3")
    hub.push_image(cold, repo="library/alpine", tag="4")
    async with start_kura(hub, cache_dir, tag_ttl_s=0.0, quota_reserve=5) as kura:
        await pull_image(client, kura.url, "alpine", "3")
        hub.set_remaining(5)
        gets = hub.counts("manifest", "GET")
        reply = await fetch(client, "GET", f"{kura.url}/v2/alpine/manifests/4", ACCEPT)
        assert reply.status == 429
        # From the window: the first pull seen in it returns WINDOW_S after it was made.
        assert WINDOW_S - 300 <= int(reply.headers["Retry-After"]) <= WINDOW_S
        message = reply.json()["errors"][0]["message"]
        assert "kura's reserve" in message and "not Docker Hub" in message
        assert hub.counts("manifest", "GET") == gets  # the HEAD was free; no GET spent
        served = await fetch(client, "GET", f"{kura.url}/v2/alpine/manifests/3", ACCEPT)
        assert served.status == 200  # cached tag still served (revalidated by HEAD)
        assert await get_blob(client, kura.url, "alpine", cold.layer_digests[0])
        assert hub.counts("manifest", "GET") == gets
        assert (await quota_of(client, kura))["mode"] == "reserve"


async def test_tag_moved_in_reserve_is_served_stale(
    hub: Hub, cache_dir: Path, client: aiohttp.ClientSession
) -> None:
    old, new = make_image(18, [1000]), make_image(19, [1000])
    hub.push_image(old, repo="library/alpine", tag="3")
    hub.push_image(new, repo="library/alpine", tag=None)
    async with start_kura(hub, cache_dir, tag_ttl_s=0.0, quota_reserve=10) as kura:
        await pull_image(client, kura.url, "alpine", "3")
        hub.set_tag("library/alpine", "3", new.manifest_digest)
        hub.set_remaining(3)
        gets = hub.counts("manifest", "GET")
        reply = await fetch(client, "GET", f"{kura.url}/v2/alpine/manifests/3", ACCEPT)
        assert reply.status == 200 and reply.headers["Docker-Content-Digest"] == old.manifest_digest
        assert reply.headers["Warning"] == '110 - "Response is stale"'
        assert hub.counts("manifest", "GET") == gets


async def test_abuse_429_is_told_apart_from_pull_limit(
    hub: Hub, tmp_path: Path, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    image = make_image(20, [1000])
    hub.push_image(image, repo="library/alpine", tag="3")
    caplog.set_level(logging.WARNING)
    async with start_kura(hub, tmp_path / "a") as kura:
        hub.faults.abuse_429, hub.faults.status_kinds = True, {"manifest"}
        reply = await fetch(client, "GET", f"{kura.url}/v2/alpine/manifests/3", ACCEPT)
        assert reply.status == 429
        abuse = await quota_of(client, kura)
        metrics = kura.services.metrics
        assert metrics.value("kura_upstream_rate_limited_total", {"upstream": "docker.io", "reason": "abuse"}) == 1
    assert "abuse limit" in caplog.text
    hub.faults.clear()
    caplog.clear()
    hub.set_remaining(0)
    async with start_kura(hub, tmp_path / "b") as kura:  # no figures yet: the GET goes out
        reply = await fetch(client, "GET", f"{kura.url}/v2/alpine/manifests/{image.manifest_digest}", ACCEPT)
        assert reply.status == 429
        limited = await quota_of(client, kura)
        metrics = kura.services.metrics
        assert metrics.value("kura_upstream_rate_limited_total", {"upstream": "docker.io", "reason": "pull_limit"}) == 1
        assert metrics.value("kura_upstream_rate_limited_total", {"upstream": "docker.io", "reason": "abuse"}) == 0
    assert "pull limit" in caplog.text and "abuse limit" not in caplog.text
    assert abuse["last_429"]["kind"] == "abuse" and abuse["too_many_requests"] == {"pull_limit": 0, "abuse": 1}
    assert limited["last_429"]["kind"] == "pull_limit"
    assert limited["too_many_requests"] == {"pull_limit": 1, "abuse": 0}
    assert abuse["mode"] == limited["mode"] == "limited"


async def test_probe_refreshes_quota_without_get(hub: Hub, kura: KuraServer, client: aiohttp.ClientSession) -> None:
    hub.push_image(make_image(21, [100]), repo="ratelimitpreview/test", tag="latest")
    hub.set_remaining(42)
    body = (await fetch(client, "GET", f"{kura.url}/quota?probe=1")).json()
    assert body["probe"] == {"docker.io": "ok"}
    quota = body["upstreams"]["docker.io"]
    assert quota["remaining"] == 42 and quota["limit"] == LIMIT
    assert hub.counts("manifest", "GET") == 0
    heads = [r for r in hub.requests if r.kind == "manifest"]
    assert heads and all(r.method == "HEAD" and r.path == "/v2/ratelimitpreview/test/manifests/latest"
                         for r in heads)
    assert any(r.query.get("scope") == "repository:ratelimitpreview/test:pull"
               for r in hub.requests if r.kind == "token")


async def test_periodic_probe_runs_when_enabled(hub: Hub, cache_dir: Path, client: aiohttp.ClientSession) -> None:
    hub.set_remaining(7)
    async with start_kura(hub, cache_dir, quota_probe_interval_s=0.05) as kura:
        for _ in range(400):  # polled, not timed: up to ~20 s on a busy machine
            if (await quota_of(client, kura))["remaining"] == 7:
                break
            await asyncio.sleep(0.05)
        assert (await quota_of(client, kura))["remaining"] == 7
    assert hub.counts("manifest", "GET") == 0


async def test_quota_json_has_every_documented_field(hub: Hub, kura: KuraServer, client: aiohttp.ClientSession) -> None:
    quota = await quota_of(client, kura)
    for key in ("limit", "remaining", "window_s", "source", "observed_at", "reset_estimate",
                "forecast_exhausted_at", "pulls_spent", "pulls_saved", "last_429", "unlimited",
                "reserve", "mode"):
        assert key in quota
    assert json.dumps(quota)


async def test_upstream_without_headers_is_unlimited(cache_dir: Path, client: aiohttp.ClientSession) -> None:
    with Hub(backend="memory", users={USER: PASSWORD}) as plain:  # a paid plan: no headers
        plain.push_image(make_image(22, [100]), repo="library/alpine", tag="3")
        async with start_kura(plain, cache_dir, quota_reserve=50) as kura:
            await pull_image(client, kura.url, "alpine", "3")
            quota = await quota_of(client, kura)
    assert quota["unlimited"] is True and quota["limit"] is None and quota["mode"] == "normal"
    assert quota["headerless_since"] is not None and quota["pulls_spent"] == 1


async def test_tag_moved_while_gets_are_withheld_keeps_serving_the_old_copy(tmp_path) -> None:
    from tests.fakes.images import make_image
    from tests.support.kura import kura_settings, running_kura
    from tests.support.registry_client import ALL_MANIFEST_TYPES, fetch

    with Hub(backend="memory", rate_limit=(100, 21600)) as hub:
        old, new = make_image(60, [1024]), make_image(61, [1024])
        hub.push_image(old, repo="library/moving", tag="1")
        settings = kura_settings(tmp_path, hub.url, tag_ttl_s=0, quota_reserve=99)
        async with running_kura(settings) as kura, aiohttp.ClientSession() as client:
            url = f"{kura.url}/v2/moving/manifests/1"
            first = await fetch(client, "GET", url, {"Accept": ALL_MANIFEST_TYPES})
            assert first.headers["Docker-Content-Digest"] == old.manifest_digest
            hub.push_image(new, repo="library/moving", tag="1")  # the tag moves upstream
            # containerd's way (HEAD the tag, then GET what it names) and plain GETs, repeatedly:
            for method in ("HEAD", "GET", "HEAD", "GET", "GET"):
                reply = await fetch(client, method, url, {"Accept": ALL_MANIFEST_TYPES})
                assert reply.status == 200
                assert reply.headers["Docker-Content-Digest"] == old.manifest_digest
                assert reply.headers["Warning"] == '110 - "Response is stale"'
        assert hub.counts("manifest", "GET") == 1
