"""The registry front over the memory backend: auth, manifests, blobs, CDN, tags."""

from __future__ import annotations

import aiohttp
import pytest

from tests.fakes import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    Hub,
    make_image,
)
from tests.fakes_selftest.support import (
    IMAGE,
    INDEX,
    LAYER,
    OCI_IMAGE,
    REPO,
    TokenGetter,
    bearer,
    cdn_location,
)

ALL_TYPES = ", ".join([DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX])


async def test_unauthenticated_manifest_get_gets_401_with_challenge(
    hub: Hub, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{hub.url}/v2/{REPO}/manifests/1") as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == (
            f'Bearer realm="{hub.realm_url}",service="registry.docker.io",'
            f'scope="repository:{REPO}:pull"'
        )
        assert (await response.json())["errors"][0]["code"] == "UNAUTHORIZED"
        assert "ratelimit-remaining" not in response.headers


async def test_base_answers_200_with_a_token(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    async with http.get(f"{hub.url}/v2/") as response:
        assert response.status == 401
    async with http.get(f"{hub.url}/v2/", headers=bearer(await token(hub))) as response:
        assert response.status == 200
        assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"


async def test_token_for_another_repository_is_insufficient_scope(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    other = await token(hub, repo="library/other")
    async with http.get(f"{hub.url}/v2/{REPO}/manifests/1", headers=bearer(other)) as response:
        assert response.status == 401
        assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("reference", ["1", IMAGE.manifest_digest])
async def test_manifest_get_returns_bytes_and_headers(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter, reference: str
) -> None:
    async with http.get(
        f"{hub.url}/v2/{REPO}/manifests/{reference}", headers=bearer(await token(hub))
    ) as response:
        assert response.status == 200
        assert await response.read() == IMAGE.manifest_bytes
        assert response.headers["Content-Type"] == DOCKER_MANIFEST
        assert response.headers["Content-Length"] == str(len(IMAGE.manifest_bytes))
        assert response.headers["Docker-Content-Digest"] == IMAGE.manifest_digest
        assert response.headers["Etag"] == f'"{IMAGE.manifest_digest}"'


async def test_manifest_head_has_headers_and_no_body(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    async with http.head(
        f"{hub.url}/v2/{REPO}/manifests/1", headers=bearer(await token(hub))
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Length"] == str(len(IMAGE.manifest_bytes))
        assert response.headers["Docker-Content-Digest"] == IMAGE.manifest_digest
        assert await response.read() == b""


@pytest.mark.parametrize(
    ("tag", "accept", "status"),
    [
        ("multi", ALL_TYPES, 200),
        ("multi", DOCKER_MANIFEST, 404),
        ("multi", None, 200),
        ("oci", OCI_MANIFEST, 200),
        ("oci", DOCKER_MANIFEST, 404),
        ("nope", ALL_TYPES, 404),
    ],
)
async def test_manifest_media_type_must_be_accepted(
    hub: Hub,
    http: aiohttp.ClientSession,
    token: TokenGetter,
    tag: str,
    accept: str | None,
    status: int,
) -> None:
    headers = {**bearer(await token(hub)), **({"Accept": accept} if accept else {})}
    async with http.get(f"{hub.url}/v2/{REPO}/manifests/{tag}", headers=headers) as response:
        assert response.status == status
        if status == 404:
            assert (await response.json())["errors"][0]["code"] == "MANIFEST_UNKNOWN"
        else:
            expected = INDEX if tag == "multi" else OCI_IMAGE
            assert response.headers["Docker-Content-Digest"] == expected.manifest_digest


async def test_blob_get_redirects_to_the_cdn_and_head_answers_directly(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    assert (await cdn_location(hub, http, token)).startswith(f"{hub.cdn_url}/blobs/{LAYER}?")
    async with http.head(
        f"{hub.url}/v2/{REPO}/blobs/{LAYER}", headers=bearer(await token(hub))
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Length"] == str(len(IMAGE.blobs[LAYER]))
        assert response.headers["Docker-Content-Digest"] == LAYER
    async with http.get(
        f"{hub.url}/v2/{REPO}/blobs/sha256:{'0' * 64}", headers=bearer(await token(hub))
    ) as response:
        assert response.status == 404
        assert (await response.json())["errors"][0]["code"] == "BLOB_UNKNOWN"
    assert hub.counts("blob") == 3


async def test_cdn_rejects_a_request_carrying_authorization(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    location = await cdn_location(hub, http, token)
    async with http.get(location, headers=bearer(await token(hub))) as response:
        assert response.status == 400


async def test_cdn_serves_the_blob_without_authorization(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    async with http.get(await cdn_location(hub, http, token)) as response:
        assert response.status == 200
        assert response.headers["Content-Length"] == str(len(IMAGE.blobs[LAYER]))
        assert await response.read() == IMAGE.blobs[LAYER]
    assert hub.counts("cdn") == 1


@pytest.mark.parametrize(
    ("range_header", "status", "start", "end"),
    [("bytes=1000-", 206, 1000, None), ("bytes=10-19", 206, 10, 20), ("bytes=0-", 206, 0, None)],
)
async def test_cdn_answers_ranges_with_206(
    hub: Hub,
    http: aiohttp.ClientSession,
    token: TokenGetter,
    range_header: str,
    status: int,
    start: int,
    end: int | None,
) -> None:
    blob = IMAGE.blobs[LAYER]
    async with http.get(
        await cdn_location(hub, http, token), headers={"Range": range_header}
    ) as response:
        assert response.status == status
        assert await response.read() == blob[start:end]
        last = (end or len(blob)) - 1
        assert response.headers["Content-Range"] == f"bytes {start}-{last}/{len(blob)}"


async def test_cdn_refuses_unsatisfiable_range_bad_signature_and_expired_urls(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    location = await cdn_location(hub, http, token)
    async with http.get(location, headers={"Range": f"bytes={10**9}-"}) as response:
        assert response.status == 416
    async with http.get(location.replace("sig=", "sig=0")) as response:
        assert response.status == 403
    with Hub(cdn_url_ttl_s=-1) as expiring:
        expiring.push_image(IMAGE)
        async with http.get(await cdn_location(expiring, http, token)) as response:
            assert response.status == 403


async def test_tags_list_paginates_with_a_link_header(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    auth = bearer(await token(hub))
    async with http.get(f"{hub.url}/v2/{REPO}/tags/list", headers=auth) as response:
        assert (await response.json()) == {"name": REPO, "tags": ["1", "multi", "oci"]}
        assert "Link" not in response.headers
    async with http.get(f"{hub.url}/v2/{REPO}/tags/list?n=2", headers=auth) as response:
        assert (await response.json())["tags"] == ["1", "multi"]
        assert response.headers["Link"] == f'</v2/{REPO}/tags/list?last=multi&n=2>; rel="next"'
    async with http.get(f"{hub.url}/v2/{REPO}/tags/list?n=2&last=multi", headers=auth) as response:
        assert (await response.json())["tags"] == ["oci"]
    assert hub.counts("tags") == 3


async def test_records_redact_authorization_and_reset_forgets_them(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    secret = await token(hub, user="alice")
    async with http.get(f"{hub.url}/v2/{REPO}/manifests/1?ns=docker.io", headers=bearer(secret)):
        pass
    record = hub.requests[-1]
    assert (record.kind, record.method, record.status, record.user) == (
        "manifest",
        "GET",
        200,
        "alice",
    )
    assert record.headers["authorization"] == "Bearer" and record.query == {"ns": "docker.io"}
    assert secret not in repr(hub.requests)
    assert hub.counts() == 2 and hub.counts("token") == 1 and hub.counts(method="GET") == 2
    hub.reset()
    assert hub.counts() == 0 and hub.requests == []


async def test_set_tag_moves_a_tag(http: aiohttp.ClientSession, token: TokenGetter) -> None:
    other = make_image(11, [10])
    with Hub() as own:
        own.push_image(IMAGE, tag="latest")
        own.push_image(other, tag=None)
        own.set_tag(REPO, "latest", other.manifest_digest)
        async with http.head(
            f"{own.url}/v2/{REPO}/manifests/latest", headers=bearer(await token(own))
        ) as response:
            assert response.headers["Docker-Content-Digest"] == other.manifest_digest


async def test_without_require_auth_no_token_is_needed(http: aiohttp.ClientSession) -> None:
    with Hub(require_auth=False) as open_hub:
        open_hub.push_image(IMAGE)
        async with http.get(f"{open_hub.url}/v2/{REPO}/manifests/1") as response:
            assert response.status == 200


async def test_cdn_head_and_non_pull_methods(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    async with http.head(await cdn_location(hub, http, token)) as response:
        assert response.status == 200
        assert response.headers["Content-Length"] == str(len(IMAGE.blobs[LAYER]))
    async with http.post(f"{hub.url}/v2/{REPO}/blobs/uploads/") as response:
        assert response.status == 405
    assert hub.requests[-1].kind == "other"
