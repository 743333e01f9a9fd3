import asyncio
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator
from datetime import datetime, timezone

import aiohttp
import pytest
from aiohttp import web

from proxy.config import Credential, Secret
from proxy.upstream.auth import TokenCache, parse_challenge, token_lifetime_s


def test_docker_hub_challenge() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/nginx:pull"'
    )
    assert challenge is not None
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.docker.io/token"
    assert challenge.service == "registry.docker.io"
    assert challenge.params["scope"] == "repository:library/nginx:pull"


def test_challenge_with_ports_escapes_and_spaces() -> None:
    challenge = parse_challenge(
        'Bearer realm="http://127.0.0.1:5001/token" , service=local,'
        ' scope="repository:host:5000/x:pull,push", error="insufficient_scope",'
        ' note="say \\"hi\\""'
    )
    assert challenge is not None
    assert challenge.realm == "http://127.0.0.1:5001/token"
    assert challenge.service == "local"
    assert challenge.params["scope"] == "repository:host:5000/x:pull,push"
    assert challenge.params["note"] == 'say "hi"'


@pytest.mark.parametrize("header", ["", "Bearer realm=\"unterminated", "Bearer ,,,"])
def test_garbage_challenges_are_none_or_empty(header: str) -> None:
    challenge = parse_challenge(header)
    assert challenge is None or not challenge.realm


def test_basic_challenge_is_parsed_but_not_bearer() -> None:
    challenge = parse_challenge('Basic realm="registry"')
    assert challenge is not None and challenge.scheme == "basic"


def test_lifetime_defaults_to_60_seconds_less_margin() -> None:
    assert token_lifetime_s({}, time.time()) == pytest.approx(54.0)


def test_lifetime_counts_from_issued_at() -> None:
    now = time.time()
    issued = datetime.fromtimestamp(now - 100, tz=timezone.utc).isoformat().replace("+00:00", "Z")
    assert token_lifetime_s({"expires_in": 300, "issued_at": issued}, now) == pytest.approx(180, abs=1)


@asynccontextmanager
async def token_cache(plain_http_credentials: bool) -> AsyncIterator[tuple[TokenCache, str, list[str]]]:
    """A TokenCache with credentials, a token server on 127.0.0.1, and the list of the
    Authorization headers that server saw."""
    seen: list[str] = []

    async def token(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        await asyncio.sleep(0.05)
        return web.json_response({"access_token": f"t{len(seen)}", "expires_in": 300})

    app = web.Application()
    app.router.add_get("/token", token)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    realm = f"http://127.0.0.1:{runner.addresses[0][1]}/token"
    try:
        async with aiohttp.ClientSession() as session:
            cache = TokenCache(session, Credential("u", Secret("p")),
                               allow_plain_http_credentials=plain_http_credentials, registry="test")
            yield cache, realm, seen
    finally:
        await runner.cleanup()


async def test_concurrent_requests_for_one_scope_share_one_fetch() -> None:
    async with token_cache(plain_http_credentials=True) as (cache, realm, seen):
        challenge = parse_challenge(f'Bearer realm="{realm}",service="svc"')
        assert challenge is not None
        tokens = await asyncio.gather(*(cache.get(challenge, "repository:a:pull") for _ in range(10)))
        assert {t.value for t in tokens} == {"t1"}
        assert len(seen) == 1 and seen[0].startswith("Basic ")
        await cache.get(challenge, "repository:b:pull")
        assert len(seen) == 2
        cache.invalidate(challenge, "repository:a:pull")
        assert (await cache.get(challenge, "repository:a:pull")).value == "t3"


async def test_credentials_never_go_to_a_plain_http_realm_of_an_https_upstream() -> None:
    async with token_cache(plain_http_credentials=False) as (cache, realm, seen):
        challenge = parse_challenge(f'Bearer realm="{realm}"')
        assert challenge is not None
        await cache.get(challenge, "repository:a:pull")
        assert seen == [""]


def test_token_repr_hides_value() -> None:
    from proxy.upstream.auth import Token

    assert "secret-token" not in repr(Token("secret-token", 0.0))
