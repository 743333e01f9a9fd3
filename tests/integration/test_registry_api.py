"""The client-facing registry API: headers, conditional and range requests, errors."""

from __future__ import annotations


import aiohttp
import pytest
from yarl import URL

from tests.fakes.hub import Hub
from tests.fakes.images import make_image, make_index
from tests.support.kura import KuraServer
from tests.support.registry_client import ALL_MANIFEST_TYPES, fetch, get_blob

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ZERO_DIGEST = "sha256:" + "0" * 64


async def test_api_version_check_is_unchallenged(kura: KuraServer, client: aiohttp.ClientSession) -> None:
    for path in ("/v2/", "/v2"):
        reply = await fetch(client, "GET", kura.url + path)
        assert reply.status == 200 and reply.json() == {}
        assert reply.headers["Docker-Distribution-API-Version"] == "registry/2.0"
        assert "WWW-Authenticate" not in reply.headers


async def test_manifest_headers_head_and_conditional_get(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    image = make_image(20, [1000])
    hub.push_image(image, repo="library/hdr", tag="1")
    for method in ("HEAD", "GET"):
        url = f"{kura.url}/v2/hdr/manifests/1?ns=docker.io&unknown=ignored"
        reply = await fetch(client, method, url, {"Accept": ALL_MANIFEST_TYPES})
        assert reply.status == 200
        assert reply.headers["Content-Type"] == image.manifest_media_type
        assert reply.headers["Content-Length"] == str(len(image.manifest_bytes))
        assert reply.headers["Docker-Content-Digest"] == image.manifest_digest
        assert reply.headers["Etag"] == f'"{image.manifest_digest}"'
        assert reply.headers["OCI-Namespace"] == "docker.io"
    assert reply.body == image.manifest_bytes
    reply = await fetch(client, "GET", f"{kura.url}/v2/hdr/manifests/1",
                        {"Accept": ALL_MANIFEST_TYPES, "If-None-Match": f'"{image.manifest_digest}"'})
    assert reply.status == 304 and reply.body == b""


async def test_client_accepting_only_single_manifests_never_gets_an_index(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    index = make_index([make_image(21, [1000]), make_image(22, [1000], arch="arm64")])
    hub.push_index(index, repo="library/idx", tag="1")
    reply = await fetch(client, "GET", f"{kura.url}/v2/idx/manifests/1", {"Accept": DOCKER_MANIFEST})
    assert reply.status == 404
    assert reply.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    reply = await fetch(client, "GET", f"{kura.url}/v2/idx/manifests/1", {"Accept": ALL_MANIFEST_TYPES})
    assert reply.status == 200 and reply.headers["Docker-Content-Digest"] == index.manifest_digest


async def test_blob_headers_ranges_and_conditional_get(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    image = make_image(23, [100_000])
    hub.push_image(image, repo="library/rng", tag="1")
    layer = image.layer_digests[0]
    data = image.blobs[layer]
    url = f"{kura.url}/v2/rng/blobs/{layer}"
    head = await fetch(client, "HEAD", url)  # uncached: answered by an upstream HEAD
    assert head.status == 200 and head.headers["Content-Length"] == str(len(data))
    # A range on a cold blob is served from the fill; then the same from the cache.
    for _ in ("cold", "cached"):
        part = await fetch(client, "GET", url, {"Range": "bytes=10-19"})
        assert part.status == 206 and part.body == data[10:20]
        assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
        tail = await fetch(client, "GET", url, {"Range": "bytes=99990-"})
        assert tail.status == 206 and tail.body == data[99990:]
    whole = await fetch(client, "GET", url)
    assert whole.headers["Docker-Content-Digest"] == layer
    assert whole.headers["Etag"] == f'"{layer}"'
    assert whole.headers["Accept-Ranges"] == "bytes"
    head = await fetch(client, "HEAD", url)
    assert head.headers["Content-Length"] == str(len(data)) and head.headers["Docker-Content-Digest"] == layer
    conditional = await fetch(client, "GET", url, {"If-None-Match": f'"{layer}"'})
    assert conditional.status == 304


async def test_tags_list_is_forwarded_with_link_rewritten(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    image = make_image(24, [1000])
    for tag in ("a", "b", "c"):
        hub.push_image(image, repo="library/tagged", tag=tag)
    reply = await fetch(client, "GET", f"{kura.url}/v2/tagged/tags/list?n=2&ns=docker.io")
    assert reply.status == 200
    assert reply.json()["tags"] == ["a", "b"]
    link = reply.headers["Link"]
    assert link.startswith("</v2/tagged/tags/list?") and 'rel="next"' in link
    assert "ns=docker.io" in link and hub.url not in link


@pytest.mark.parametrize(
    "method,path,status,code",
    [
        ("GET", "/v2/UPPER/manifests/1", 400, "NAME_INVALID"),
        ("GET", "/v2/a/../b/manifests/1", 400, "NAME_INVALID"),
        ("GET", "/v2/a/%2e%2e/b/manifests/1", 400, "NAME_INVALID"),
        ("GET", "/v2/" + "a" * 256 + "/manifests/1", 400, "NAME_INVALID"),
        ("GET", "/v2/x/manifests/-bad", 400, "TAG_INVALID"),
        ("GET", "/v2/x/manifests/sha256:abc", 400, "DIGEST_INVALID"),
        ("GET", "/v2/x/blobs/sha256:XYZ", 400, "DIGEST_INVALID"),
        ("GET", "/v2/x/blobs/md5:" + "0" * 32, 400, "DIGEST_INVALID"),
        ("GET", "/v2/x/blobs/latest", 400, "DIGEST_INVALID"),
        ("GET", "/v2/x/tags/list?n=abc", 400, "TAG_INVALID"),
        ("GET", "/v2/x/unknown/thing", 404, "NOT_FOUND"),
        ("GET", "/nowhere", 404, "NOT_FOUND"),
        ("PUT", "/v2/x/manifests/1", 405, "UNSUPPORTED"),
        ("DELETE", "/v2/x/manifests/1", 405, "UNSUPPORTED"),
        ("DELETE", f"/v2/x/blobs/{ZERO_DIGEST}", 405, "UNSUPPORTED"),
        ("POST", "/v2/x/blobs/uploads/", 405, "UNSUPPORTED"),
        ("PATCH", "/v2/x/blobs/uploads/abc", 405, "UNSUPPORTED"),
        ("GET", "/v2/_catalog", 405, "UNSUPPORTED"),
        ("GET", "/v2/x/manifests/1?ns=nowhere.example", 404, "NAME_UNKNOWN"),
    ],
)
async def test_invalid_inputs_get_4xx_json(
    kura: KuraServer, client: aiohttp.ClientSession, method: str, path: str, status: int, code: str
) -> None:
    # encoded=True: send the path as written, `..` included, with no client normalization.
    async with client.request(method, URL(kura.url + path, encoded=True)) as response:
        assert response.status == status
        body = await response.json()
    assert body["errors"][0]["code"] == code
    assert "Traceback" not in body["errors"][0]["message"]


@pytest.mark.parametrize("header", ["bytes=500-400", "bytes=999999-", "bytes=abc", "items=0-1"])
async def test_bad_ranges_get_416_json_on_cached_and_cold_blobs(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession, header: str
) -> None:
    image = make_image(25, [1000])
    hub.push_image(image, repo="library/badrange", tag="1")
    layer = image.layer_digests[0]
    url = f"{kura.url}/v2/badrange/blobs/{layer}"
    cold = await fetch(client, "GET", url, {"Range": header})
    await get_blob(client, kura.url, "badrange", layer)
    cached = await fetch(client, "GET", url, {"Range": header})
    for reply in (cold, cached):
        assert reply.status == 416, reply
        assert reply.json()["errors"][0]["code"] == "RANGE_INVALID"
        assert reply.headers["Content-Range"] == f"bytes */{len(image.blobs[layer])}"


async def test_unknown_blob_and_manifest_are_404_and_nothing_is_cached(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    for kind, code in (("blobs", "BLOB_UNKNOWN"), ("manifests", "MANIFEST_UNKNOWN")):
        reply = await fetch(client, "GET", f"{kura.url}/v2/nothing/{kind}/{ZERO_DIGEST}")
        assert reply.status == 404 and reply.json()["errors"][0]["code"] == code
    assert list(kura.services.paths.blobs_dir.rglob("*")) == []
    assert list(kura.services.paths.tmp_dir.iterdir()) == []


async def test_upstream_credential_rejected_is_reported_as_kuras_problem(
    hub: Hub, cache_dir, client: aiohttp.ClientSession
) -> None:
    from tests.support.kura import kura_settings, running_kura

    hub.push_image(make_image(26, [1000]), repo="library/cred", tag="1")
    settings = kura_settings(cache_dir, hub.url, username="alice", password="wrong-password")
    async with running_kura(settings) as kura:
        reply = await fetch(client, "GET", f"{kura.url}/v2/cred/manifests/1")
    assert reply.status == 401
    error = reply.json()["errors"][0]
    assert error["code"] == "UNAUTHORIZED" and "kura" in error["message"]
    assert "wrong-password" not in reply.body.decode()
    assert "WWW-Authenticate" not in reply.headers


async def test_a_fill_that_fails_before_its_first_byte_is_a_json_502(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    import shutil

    image = make_image(27, [1000])
    hub.push_image(image, repo="library/nofill", tag="1")
    shutil.rmtree(kura.services.paths.tmp_dir)  # the temp file cannot be created
    try:
        reply = await fetch(client, "GET", f"{kura.url}/v2/nofill/blobs/{image.layer_digests[0]}")
    finally:
        kura.services.paths.tmp_dir.mkdir()
    assert reply.status == 502
    assert reply.json()["errors"][0]["code"] == "UNAVAILABLE"
