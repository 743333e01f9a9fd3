"""Every fault knob does what it says, and switching it off restores service."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.fakes import Hub
from tests.fakes_selftest.support import IMAGE, LAYER, REPO, TokenGetter, bearer, cdn_location

BLOB = IMAGE.blobs[LAYER]


async def read_until_cut(http: aiohttp.ClientSession, url: str) -> tuple[int, bool]:
    """Bytes received and whether the body arrived whole."""
    received = 0
    try:
        async with http.get(url) as response:
            async for chunk in response.content.iter_chunked(4096):
                received += len(chunk)
    except aiohttp.ClientPayloadError:
        return received, False
    return received, True


async def test_refuse_fails_requests_fast_with_a_connection_error(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    auth = bearer(await token(hub))
    hub.reset()
    hub.faults.refuse = True
    started = time.monotonic()
    for url in (f"{hub.url}/v2/{REPO}/manifests/1", hub.realm_url):
        with pytest.raises(aiohttp.ClientConnectionError):
            async with http.get(url, headers=auth):
                pass
    assert time.monotonic() - started < 1
    assert {(r.kind, r.status) for r in hub.requests} == {("manifest", 0), ("token", 0)}
    hub.faults.refuse = False
    async with http.get(f"{hub.url}/v2/{REPO}/manifests/1", headers=auth) as response:
        assert response.status == 200


async def test_refuse_can_target_the_cdn_alone(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    hub.faults.refuse, hub.faults.refuse_kinds = True, {"cdn"}
    location = await cdn_location(hub, http, token)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(location):
            pass


async def test_status_answers_the_chosen_kinds_only(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    auth = bearer(await token(hub))
    hub.faults.status = 503
    for path in ("/v2/", f"/v2/{REPO}/manifests/1", f"/v2/{REPO}/blobs/{LAYER}"):
        async with http.get(hub.url + path, headers=auth, allow_redirects=False) as response:
            assert response.status == 503
            assert "ratelimit-remaining" not in response.headers
    async with http.get(f"{hub.url}/v2/{REPO}/tags/list", headers=auth) as response:
        assert response.status == 200
    hub.faults.status_kinds = {"cdn"}
    async with http.get(await cdn_location(hub, http, token)) as response:
        assert response.status == 503


async def test_abuse_429_is_plain_text_without_rate_limit_headers(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    hub.faults.abuse_429 = True
    async with http.get(
        f"{hub.url}/v2/{REPO}/manifests/1", headers=bearer(await token(hub))
    ) as response:
        assert response.status == 429
        assert response.content_type == "text/plain"
        assert "TOOMANYREQUESTS" not in await response.text()
        assert "ratelimit-limit" not in response.headers


async def test_latency_delays_the_answer(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    auth = bearer(await token(hub))
    hub.faults.latency_s = 0.3
    started = time.monotonic()
    async with http.get(f"{hub.url}/v2/{REPO}/manifests/1", headers=auth) as response:
        assert response.status == 200
    assert time.monotonic() - started >= 0.3


async def test_cdn_drop_cuts_the_next_bodies_after_that_many_bytes(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    location = await cdn_location(hub, http, token)
    hub.faults.cdn_drop_after_bytes, hub.faults.cdn_drop_times = 100_000, 2
    assert await read_until_cut(http, location) == (100_000, False)
    assert await read_until_cut(http, location) == (100_000, False)
    assert await read_until_cut(http, location) == (len(BLOB), True)
    assert hub.faults.cdn_drop_after_bytes is None  # disarmed itself


async def test_cdn_corrupt_flips_one_byte_keeping_the_length(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    hub.faults.cdn_corrupt = True
    async with http.get(await cdn_location(hub, http, token)) as response:
        body = await response.read()
    assert len(body) == len(BLOB) and body != BLOB
    assert sum(a != b for a, b in zip(body, BLOB, strict=True)) == 1


async def test_cdn_chunk_delay_slows_the_stream(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    location = await cdn_location(hub, http, token)
    hub.faults.cdn_chunk_delay_s, hub.faults.cdn_chunk_size = 0.05, 64 * 1024  # 5 chunks
    started = time.monotonic()
    async with http.get(location) as response:
        assert await response.read() == BLOB
    assert time.monotonic() - started >= 0.2


async def test_cdn_ignore_range_answers_200_with_everything(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    hub.faults.cdn_ignore_range = True
    async with http.get(
        await cdn_location(hub, http, token), headers={"Range": "bytes=10-"}
    ) as response:
        assert response.status == 200 and await response.read() == BLOB


async def test_expired_tokens_are_refused(http: aiohttp.ClientSession, token: TokenGetter) -> None:
    with Hub(token_expires_in=1) as short:
        short.push_image(IMAGE)
        auth = bearer(await token(short))
        await asyncio.sleep(1.05)
        async with http.get(f"{short.url}/v2/{REPO}/manifests/1", headers=auth) as response:
            assert response.status == 401
