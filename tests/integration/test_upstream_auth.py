"""kura's side of the token dance, asserted on what the upstream saw."""

from __future__ import annotations

import aiohttp

from tests.fakes.hub import Hub
from tests.fakes.images import make_image
from tests.integration.conftest import PASSWORD, USER
from tests.support.kura import KuraServer, kura_settings, running_kura
from tests.support.registry_client import fetch, pull_image


async def test_token_is_fetched_once_per_scope_with_basic_credentials(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    hub.push_image(make_image(40, [1000]), repo="library/tokens", tag="1")
    for _ in range(3):
        await pull_image(client, kura.url, "tokens", "1")
    tokens = [r for r in hub.requests if r.kind == "token"]
    assert len(tokens) == 1
    assert tokens[0].user == USER
    assert tokens[0].query["scope"] == "repository:library/tokens:pull"
    assert tokens[0].query["service"] == "registry.docker.io"


async def test_rejected_cached_token_is_refreshed_once_and_retried(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    hub.push_image(make_image(41, [1000]), repo="library/refresh", tag="1")
    image = make_image(44, [1000])
    hub.push_image(image, repo="library/refresh", tag="2")
    await pull_image(client, kura.url, "refresh", "1")  # caches a token for the scope
    # Corrupt the cached token, as an upstream that revoked it early would see it.
    cache = kura.services.upstreams.get("docker.io").tokens
    for key, token in list(cache._tokens.items()):
        cache._tokens[key] = type(token)("revoked", token.expires_at)
    hub.reset()
    reply = await fetch(client, "GET", f"{kura.url}/v2/refresh/blobs/{image.config_digest}")
    assert reply.status == 200
    statuses = [(r.kind, r.status) for r in hub.requests if r.kind in ("blob", "token")]
    assert statuses == [("blob", 401), ("token", 200), ("blob", 307)]


async def test_anonymous_upstream_works_without_credentials(
    hub: Hub, client: aiohttp.ClientSession, cache_dir
) -> None:
    hub.push_image(make_image(42, [1000]), repo="library/anon", tag="1")
    async with running_kura(kura_settings(cache_dir, hub.url)) as kura:
        await pull_image(client, kura.url, "anon", "1")
    tokens = [r for r in hub.requests if r.kind == "token"]
    assert tokens and all(r.user is None for r in tokens)
    assert all("authorization" not in r.headers for r in tokens)


async def test_secrets_never_reach_a_client(hub: Hub, client: aiohttp.ClientSession, cache_dir, caplog) -> None:
    caplog.set_level("DEBUG")
    hub.push_image(make_image(43, [1000]), repo="library/secret", tag="1")
    async with running_kura(kura_settings(cache_dir, hub.url, username=USER, password=PASSWORD)) as kura:
        await pull_image(client, kura.url, "secret", "1")
        hub.faults.refuse = True
        reply = await fetch(client, "GET", f"{kura.url}/v2/secret/manifests/other")
        assert reply.status == 504
        token = next(iter(kura.services.upstreams.get("docker.io").tokens._tokens.values())).value
    for text in (reply.body.decode(), str(reply.headers), caplog.text):
        assert PASSWORD not in text and token not in text
        assert "sig=" not in text
