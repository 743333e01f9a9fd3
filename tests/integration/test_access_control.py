"""Client access control and per-upstream repository rules, over real sockets."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import aiohttp

from proxy.config import ClientSettings, Secret
from proxy.passwords import hash_password
from tests.fakes.hub import Hub
from tests.fakes.images import make_image
from tests.integration.conftest import PASSWORD, USER
from tests.support.kura import KuraServer, kura_settings, running_kura
from tests.support.registry_client import fetch, pull_image

CLIENT_TOKEN = "kura-client-token-123"
CLIENTS = ClientSettings(tokens=(Secret(CLIENT_TOKEN),), users={"ci": hash_password("ci-password", rounds=1000)})


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_access_control_is_off_by_default_and_v2_never_challenges(
    kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    reply = await fetch(client, "GET", kura.url + "/v2/")
    assert reply.status == 200 and "WWW-Authenticate" not in reply.headers


async def test_unauthenticated_pull_gets_401_json_with_a_challenge_and_no_upstream_request(
    hub: Hub, cache_dir: Path, client: aiohttp.ClientSession
) -> None:
    hub.push_image(make_image(400, [10_000]), repo="library/locked", tag="1")
    settings = replace(kura_settings(cache_dir, hub.url, username=USER, password=PASSWORD), clients=CLIENTS)
    hub.reset()
    async with running_kura(settings) as kura:
        for path in ("/v2/", "/v2/locked/manifests/1"):
            reply = await fetch(client, "GET", kura.url + path)
            assert reply.status == 401
            assert reply.headers["WWW-Authenticate"] == 'Basic realm="kura"'
            assert reply.json()["errors"][0]["code"] == "UNAUTHORIZED"
        wrong = await fetch(client, "GET", kura.url + "/v2/locked/manifests/1", _basic("ci", "nope"))
        assert wrong.status == 401
        bad_token = await fetch(client, "GET", kura.url + "/v2/", {"Authorization": "Bearer nope"})
        assert bad_token.status == 401
    assert hub.counts() == 0


async def test_bearer_token_and_basic_user_can_pull(hub: Hub, cache_dir: Path) -> None:
    image = make_image(401, [10_000])
    hub.push_image(image, repo="library/locked", tag="1")
    settings = replace(kura_settings(cache_dir, hub.url, username=USER, password=PASSWORD), clients=CLIENTS)
    async with running_kura(settings) as kura:
        for headers in ({"Authorization": f"Bearer {CLIENT_TOKEN}"}, _basic("ci", "ci-password"),
                        _basic("anyone", CLIENT_TOKEN)):
            async with aiohttp.ClientSession(headers=headers, auto_decompress=False) as session:
                assert (await fetch(session, "GET", kura.url + "/v2/")).status == 200
                fetched = await pull_image(session, kura.url, "locked", "1")
                assert set(fetched) == {image.manifest_digest, *image.blobs}


async def test_repository_outside_the_allow_list_is_denied_without_asking_upstream(
    hub: Hub, cache_dir: Path, client: aiohttp.ClientSession
) -> None:
    image = make_image(402, [10_000])
    hub.push_image(image, repo="library/public", tag="1")
    hub.push_image(image, repo="secretorg/private", tag="1")
    hub.push_image(image, repo="myorg/tool", tag="1")
    settings = kura_settings(cache_dir, hub.url, username=USER, password=PASSWORD)
    upstream = replace(settings.upstreams["docker.io"], allow=("library/*", "myorg/*"), deny=("myorg/tool",))
    settings = replace(settings, upstreams={"docker.io": upstream})
    async with running_kura(settings) as kura:
        assert set(await pull_image(client, kura.url, "public", "1")) == {image.manifest_digest, *image.blobs}
        hub.reset()
        for name in ("secretorg/private", "myorg/tool"):
            for kind, ref in (("manifests", "1"), ("blobs", image.layer_digests[0]), ("tags", "list")):
                reply = await fetch(client, "GET", f"{kura.url}/v2/{name}/{kind}/{ref}?ns=docker.io")
                assert reply.status == 403, (name, kind)
                error = reply.json()["errors"][0]
                assert error["code"] == "DENIED" and name in error["message"]
    assert hub.counts() == 0
