"""The core pull-through behaviours, asserted on what the upstream saw."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.fakes.hub import Hub
from tests.fakes.images import make_image, make_index
from tests.support.kura import KuraServer, running_kura
from tests.support.registry_client import ALL_MANIFEST_TYPES, fetch, get_blob, pull_image

MB = 1024 * 1024


async def test_pull_through_delivers_verified_image(hub: Hub, kura: KuraServer, client: aiohttp.ClientSession) -> None:
    image = make_image(1, [200_000, 50_000])
    hub.push_image(image, repo="library/alpine", tag="3")
    fetched = await pull_image(client, kura.url, "alpine", "3")
    assert set(fetched) == {image.manifest_digest, *image.blobs}


async def test_second_pull_makes_no_upstream_blob_or_manifest_get(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    image = make_image(2, [300_000, 10_000])
    hub.push_image(image, repo="library/alpine", tag="3")
    await pull_image(client, kura.url, "alpine", "3")
    hub.reset()
    await pull_image(client, kura.url, "alpine", "3")  # tag still fresh (ttl 60 s)
    await pull_image(client, kura.url, "alpine", image.manifest_digest)
    assert hub.counts("blob") == 0 and hub.counts("cdn") == 0
    assert hub.counts("manifest", "GET") == 0
    assert hub.counts() == 0


async def test_multi_arch_index_pull(hub: Hub, kura: KuraServer, client: aiohttp.ClientSession) -> None:
    index = make_index([make_image(3, [20_000], arch="amd64"), make_image(4, [20_000], arch="arm64")])
    hub.push_index(index, repo="library/multi", tag="1")
    fetched = await pull_image(client, kura.url, "library/multi", "1")
    assert index.manifest_digest in fetched
    assert all(image.manifest_digest in fetched for image in index.images)


async def test_ten_concurrent_cold_pulls_fetch_the_blob_once(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    image = make_image(5, [24 * MB])
    hub.push_image(image, repo="library/big", tag="1")
    layer = image.layer_digests[0]
    hub.reset()
    bodies = await asyncio.gather(*(get_blob(client, kura.url, "big", layer) for _ in range(10)))
    assert all(body == image.blobs[layer] for body in bodies)
    assert _answered(hub, "blob", "GET") == 1  # plus at most the first 401 of the token dance
    assert hub.counts("cdn") == 1


async def test_follower_gets_first_byte_before_fill_completes(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    image = make_image(6, [2 * MB])
    hub.push_image(image, repo="library/slow", tag="1")
    layer = image.layer_digests[0]
    hub.faults.cdn_chunk_size = 64 * 1024
    hub.faults.cdn_chunk_delay_s = 0.05  # ~1.6 s for the whole blob
    url = f"{kura.url}/v2/slow/blobs/{layer}"
    async with client.get(url) as leader, client.get(url) as follower:
        for response in (leader, follower):
            assert response.status == 200
            assert response.headers["Content-Length"] == str(len(image.blobs[layer]))
            first = await response.content.readany()
            assert first
            assert kura.services.blobs.fills.get(_digest(layer)) is not None, "fill already done"
        rest = await follower.read()
        assert first + rest == image.blobs[layer]
    assert hub.counts("cdn") == 1


async def test_client_disconnect_does_not_abort_fill(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    image = make_image(7, [2 * MB])
    hub.push_image(image, repo="library/gone", tag="1")
    layer = image.layer_digests[0]
    hub.faults.cdn_chunk_delay_s = 0.02
    async with client.get(f"{kura.url}/v2/gone/blobs/{layer}") as response:
        await response.content.readany()
        response.close()  # the only client walks away mid-blob
    await _until(lambda: kura.services.blobs.cached(_digest(layer)) is not None)
    hub.reset()
    assert await get_blob(client, kura.url, "gone", layer) == image.blobs[layer]
    assert hub.counts() == 0


async def test_corrupted_upstream_blob_is_never_cached(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    image = make_image(8, [500_000])
    hub.push_image(image, repo="library/bad", tag="1")
    layer = image.layer_digests[0]
    hub.faults.cdn_corrupt = True
    try:
        async with client.get(f"{kura.url}/v2/bad/blobs/{layer}") as response:
            await response.read()
        raise AssertionError("a corrupt blob was delivered complete")
    except aiohttp.ClientPayloadError:
        pass  # the connection was cut before the last byte: the client knows it failed
    await _until(lambda: kura.services.blobs.fills.get(_digest(layer)) is None)
    assert kura.services.blobs.cached(_digest(layer)) is None
    assert list((kura.services.paths.tmp_dir).iterdir()) == []
    hub.faults.cdn_corrupt = False
    assert await get_blob(client, kura.url, "bad", layer) == image.blobs[layer]


async def test_upstream_drop_mid_blob_is_resumed_with_range(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    image = make_image(9, [3 * MB])
    hub.push_image(image, repo="library/drop", tag="1")
    layer = image.layer_digests[0]
    hub.faults.cdn_drop_after_bytes = 1 * MB
    hub.faults.cdn_drop_times = 2
    assert await get_blob(client, kura.url, "drop", layer) == image.blobs[layer]
    cdn = [record for record in hub.requests if record.kind == "cdn"]
    assert len(cdn) == 3
    assert "range" not in cdn[0].headers
    assert cdn[1].headers["range"].startswith("bytes=") and cdn[1].headers["range"] != "bytes=0-"
    assert kura.services.blobs.cached(_digest(layer)) is not None


async def test_cdn_redirect_is_followed_without_authorization(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    image = make_image(10, [100_000])
    hub.push_image(image, repo="library/cdn", tag="1")
    hub.reset()
    await get_blob(client, kura.url, "cdn", image.layer_digests[0])
    blob_requests = [r for r in hub.requests if r.kind == "blob"]
    cdn_requests = [r for r in hub.requests if r.kind == "cdn"]
    assert blob_requests[-1].headers.get("authorization", "").startswith("Bearer")
    assert blob_requests[-1].status == 307
    assert len(cdn_requests) == 1 and cdn_requests[0].status == 200
    assert "authorization" not in cdn_requests[0].headers
    assert cdn_requests[0].headers.get("accept-encoding") == "identity"


async def test_returns_cached_tag_when_upstream_is_down(hub: Hub, client: aiohttp.ClientSession, cache_dir) -> None:
    image = make_image(11, [10_000])
    hub.push_image(image, repo="library/down", tag="1")
    async with running_kura(_settings(hub, cache_dir, tag_ttl_s=0)) as kura:
        await pull_image(client, kura.url, "down", "1")
        hub.faults.refuse = True
        reply = await fetch(client, "GET", f"{kura.url}/v2/down/manifests/1", {"Accept": ALL_MANIFEST_TYPES})
        assert reply.status == 200
        assert reply.headers["Docker-Content-Digest"] == image.manifest_digest
        assert reply.headers["Warning"] == '110 - "Response is stale"'
        hub.faults.refuse = False
        hub.faults.status = 503
        reply = await fetch(client, "HEAD", f"{kura.url}/v2/down/manifests/1", {"Accept": ALL_MANIFEST_TYPES})
        assert reply.status == 200 and "Warning" in reply.headers
        missing = await fetch(client, "GET", f"{kura.url}/v2/down/manifests/never-pulled")
        assert missing.status == 502 and missing.json()["errors"][0]["code"] == "UNAVAILABLE"


async def test_tag_revalidation_uses_head_not_get(hub: Hub, client: aiohttp.ClientSession, cache_dir) -> None:
    image = make_image(12, [10_000])
    hub.push_image(image, repo="library/fresh", tag="1")
    async with running_kura(_settings(hub, cache_dir, tag_ttl_s=0)) as kura:
        await pull_image(client, kura.url, "fresh", "1")
        hub.reset()
        for _ in range(3):
            await pull_image(client, kura.url, "fresh", "1")
        assert hub.counts("manifest", "HEAD") == 3
        assert hub.counts("manifest", "GET") == 0
        moved = make_image(13, [10_000])
        hub.push_image(moved, repo="library/fresh", tag="1")
        hub.reset()
        fetched = await pull_image(client, kura.url, "fresh", "1")
        assert moved.manifest_digest in fetched
        assert hub.counts("manifest", "GET") == 1


async def test_cached_digest_needs_no_token(hub: Hub, client: aiohttp.ClientSession, cache_dir) -> None:
    image = make_image(14, [10_000])
    hub.push_image(image, repo="library/tok", tag="1")
    async with running_kura(_settings(hub, cache_dir)) as kura:
        await pull_image(client, kura.url, "tok", "1")
    hub.reset()
    async with running_kura(_settings(hub, cache_dir)) as fresh_kura:  # empty token cache
        await pull_image(client, fresh_kura.url, "tok", image.manifest_digest)
        reply = await fetch(client, "HEAD", f"{fresh_kura.url}/v2/tok/manifests/{image.manifest_digest}")
        assert reply.status == 200
    assert hub.counts() == 0
    assert hub.counts("token") == 0


async def test_ns_selects_upstream(hub: Hub, client: aiohttp.ClientSession, cache_dir) -> None:
    with Hub(backend="memory") as other:
        hub.push_image(make_image(15, [1000]), repo="library/same", tag="1")
        theirs = make_image(16, [1000])
        other.push_image(theirs, repo="team/same", tag="1")
        settings = _settings(hub, cache_dir, extra_upstreams={"ghcr.io": other.url})
        async with running_kura(settings) as kura:
            fetched = await pull_image(client, kura.url, "team/same", "1", "?ns=ghcr.io")
            assert theirs.manifest_digest in fetched
            assert other.counts("manifest") > 0 and hub.counts("manifest") == 0
            reply = await fetch(client, "GET", f"{kura.url}/v2/team/same/manifests/1?ns=ghcr.io")
            assert reply.headers["OCI-Namespace"] == "ghcr.io"
            prefixed = await fetch(client, "GET", f"{kura.url}/v2/ghcr.io/team/same/manifests/1",
                                   {"Accept": ALL_MANIFEST_TYPES})
            assert prefixed.headers["Docker-Content-Digest"] == theirs.manifest_digest
            unknown = await fetch(client, "GET", f"{kura.url}/v2/x/manifests/1?ns=quay.io")
            assert unknown.status == 404
            assert unknown.json()["errors"][0]["code"] == "NAME_UNKNOWN"
            assert "quay.io" in unknown.json()["errors"][0]["message"]


def _settings(hub: Hub, cache_dir, **overrides):
    from tests.integration.conftest import PASSWORD, USER
    from tests.support.kura import kura_settings

    return kura_settings(cache_dir, hub.url, username=USER, password=PASSWORD, **overrides)


def _answered(hub: Hub, kind: str, method: str) -> int:
    """Requests of a kind the upstream answered other than with the auth challenge."""
    return sum(1 for r in hub.requests if r.kind == kind and r.method == method and r.status != 401)


def _digest(text: str):
    from proxy.reference import parse_digest

    return parse_digest(text)


async def _until(predicate, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_outage_serves_cached_tags_without_waiting_on_each_request(
    hub: Hub, client: aiohttp.ClientSession, cache_dir
) -> None:
    image = make_image(17, [1000])
    hub.push_image(image, repo="library/outage", tag="1")
    async with running_kura(_settings(hub, cache_dir, tag_ttl_s=0)) as kura:
        await pull_image(client, kura.url, "outage", "1")
        hub.faults.refuse = True
        hub.reset()
        for _ in range(5):
            reply = await fetch(client, "GET", f"{kura.url}/v2/outage/manifests/1", {"Accept": ALL_MANIFEST_TYPES})
            assert reply.status == 200 and "Warning" in reply.headers
        # The first request found the upstream down; the next ones did not ask again.
        assert hub.counts("manifest") <= 2  # one refused HEAD (aiohttp may retry it once)


async def test_followers_that_hang_up_mid_blob_are_routine_not_errors(
    hub: Hub, kura: KuraServer, caplog
) -> None:
    image = make_image(18, [4 * MB])
    hub.push_image(image, repo="library/hangup", tag="1")
    layer = image.layer_digests[0]
    hub.faults.cdn_chunk_delay_s = 0.02
    port = int(kura.url.rsplit(":", 1)[1])

    async def hang_up_after(count: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /v2/hangup/blobs/{layer} HTTP/1.1\r\nHost: kura\r\n\r\n".encode())
        received = 0
        while received < count:
            chunk = await reader.read(65536)
            if not chunk:
                break
            received += len(chunk)
        writer.transport.abort()  # a reset, like a killed client

    await asyncio.gather(*(hang_up_after(300_000) for _ in range(5)))
    await _until(lambda: kura.services.blobs.cached(_digest(layer)) is not None)
    assert [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []
    await _until(lambda: not kura.services.janitor.leases.in_use())  # every lease released
