"""The token server: anonymous and Basic tokens, Distribution-shaped claims, records."""

from __future__ import annotations

import base64
import json
import time

import aiohttp

from tests.fakes import Hub
from tests.fakes_selftest.support import REPO, TokenGetter, claims_of

SERVICE = "registry.docker.io"


async def test_anonymous_token_grants_pull_only(hub: Hub, http: aiohttp.ClientSession) -> None:
    params = {"service": SERVICE, "scope": f"repository:{REPO}:pull,push"}
    async with http.get(hub.realm_url, params=params) as response:
        assert response.status == 200
        body = await response.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300 and body["issued_at"].endswith("Z")
    claims = claims_of(body["token"])
    assert claims["sub"] == "anonymous" and claims["aud"] == SERVICE
    assert claims["access"] == [{"type": "repository", "name": REPO, "actions": ["pull"]}]
    assert claims["nbf"] <= time.time() < claims["exp"]


async def test_token_header_carries_the_signing_certificate(hub: Hub, token: TokenGetter) -> None:
    header = json.loads(base64.urlsafe_b64decode((await token(hub)).split(".")[0] + "=="))
    assert header["alg"] == "RS256" and len(header["x5c"]) == 1


async def test_user_token_grants_pull_and_push_and_records_the_user(
    hub: Hub, token: TokenGetter
) -> None:
    claims = claims_of(await token(hub, user="alice", actions="pull,push"))
    assert claims["sub"] == "alice"
    assert claims["access"][0]["actions"] == ["pull", "push"]
    (record,) = hub.requests
    assert (record.kind, record.user, record.headers["authorization"]) == (
        "token",
        "alice",
        "Basic",
    )


async def test_repeated_scopes_are_all_granted(hub: Hub, http: aiohttp.ClientSession) -> None:
    params = [
        ("service", SERVICE),
        ("scope", "repository:a/b:pull"),
        ("scope", "repository:c/d:pull"),
    ]
    async with http.get(hub.realm_url, params=params) as response:
        claims = claims_of((await response.json())["token"])
    assert [entry["name"] for entry in claims["access"]] == ["a/b", "c/d"]


async def test_wrong_password_gets_401(hub: Hub, http: aiohttp.ClientSession) -> None:
    headers = {"Authorization": aiohttp.encode_basic_auth("alice", "wrong")}
    async with http.get(
        hub.realm_url, params={"scope": f"repository:{REPO}:pull"}, headers=headers
    ) as response:
        assert response.status == 401
    assert hub.requests[0].user == "alice"


async def test_post_token_is_404(hub: Hub, http: aiohttp.ClientSession) -> None:
    async with http.post(hub.realm_url, data={"grant_type": "password"}) as response:
        assert response.status == 404
    assert hub.counts("token", "POST") == 1


async def test_anonymous_can_be_refused(http: aiohttp.ClientSession) -> None:
    with Hub(allow_anonymous=False) as private:
        async with http.get(
            private.realm_url, params={"scope": f"repository:{REPO}:pull"}
        ) as response:
            assert response.status == 401
