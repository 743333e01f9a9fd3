"""Docker Hub's pull quota on manifests: headers, GET-only spending, 429 at zero."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.fakes import Hub
from tests.fakes_selftest.support import IMAGE, RATE_LIMIT, REPO, TokenGetter, bearer

LIMIT, WINDOW = RATE_LIMIT


def remaining(response: aiohttp.ClientResponse) -> str:
    return response.headers["ratelimit-remaining"]


async def test_get_spends_a_pull_and_head_does_not(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    url, auth = f"{hub.url}/v2/{REPO}/manifests/1", bearer(await token(hub))
    async with http.head(url, headers=auth) as response:
        assert response.headers["ratelimit-limit"] == f"{LIMIT};w={WINDOW}"
        assert remaining(response) == f"{LIMIT};w={WINDOW}"
        assert response.headers["docker-ratelimit-source"] == "127.0.0.1"
    async with http.get(url, headers=auth) as response:
        assert remaining(response) == f"{LIMIT - 1};w={WINDOW}"
    async with http.head(url, headers=auth) as response:
        assert remaining(response) == f"{LIMIT - 1};w={WINDOW}"


async def test_get_at_zero_gets_429_with_docker_hubs_body(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    url, auth = f"{hub.url}/v2/{REPO}/manifests/1", bearer(await token(hub))
    hub.set_remaining(1)
    async with http.get(url, headers=auth) as response:
        assert response.status == 200 and remaining(response) == f"0;w={WINDOW}"
    async with http.get(url, headers=auth) as response:
        assert response.status == 429
        assert int(response.headers["Retry-After"]) > 0
        assert remaining(response) == f"0;w={WINDOW}"
        error = (await response.json())["errors"][0]
        assert error["code"] == "TOOMANYREQUESTS" and "pull rate limit" in error["message"]
    async with http.head(url, headers=auth) as response:
        assert response.status == 200  # HEAD stays free, even at zero


async def test_users_are_counted_apart_from_anonymous(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    url = f"{hub.url}/v2/{REPO}/manifests/1"
    hub.set_remaining(0, identity="127.0.0.1")
    async with http.get(url, headers=bearer(await token(hub, user="alice"))) as response:
        assert response.status == 200
        assert response.headers["docker-ratelimit-source"] == "alice"
    async with http.get(url, headers=bearer(await token(hub))) as response:
        assert response.status == 429


async def test_blobs_do_not_spend_and_reset_refills(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    hub.set_remaining(0)
    auth = bearer(await token(hub))
    async with http.head(
        f"{hub.url}/v2/{REPO}/blobs/{IMAGE.layer_digests[0]}", headers=auth
    ) as response:
        assert response.status == 200 and "ratelimit-remaining" not in response.headers
    hub.reset()
    async with http.get(f"{hub.url}/v2/{REPO}/manifests/1", headers=auth) as response:
        assert response.status == 200


async def test_window_refills_the_quota(http: aiohttp.ClientSession, token: TokenGetter) -> None:
    with Hub(rate_limit=(1, 1)) as short:
        short.push_image(IMAGE)
        url, auth = f"{short.url}/v2/{REPO}/manifests/1", bearer(await token(short))
        statuses = []
        for pause in (0, 0, 1.05):
            await asyncio.sleep(pause)
            async with http.get(url, headers=auth) as response:
                statuses.append(response.status)
        assert statuses == [200, 429, 200]
