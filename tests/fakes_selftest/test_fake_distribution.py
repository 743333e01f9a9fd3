"""The Distribution backend, checked with a real client (skopeo) against the hub's front."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.fakes import Hub, make_image
from tests.fakes_selftest.support import (
    IMAGE,
    INDEX,
    RATE_LIMIT,
    REPO,
    USERS,
    TokenGetter,
    bearer,
    cdn_location,
    push_fixtures,
)

pytestmark = pytest.mark.e2e

BIG = make_image(12, [8_000_000])  # streamed through the CDN in many chunks


@pytest.fixture(scope="module")
def dist_hub() -> Iterator[Hub]:
    with Hub(backend="distribution", users=USERS, rate_limit=RATE_LIMIT) as hub:
        push_fixtures(hub)
        hub.push_image(BIG, tag="big")
        yield hub


@pytest.fixture
def hub(dist_hub: Hub) -> Iterator[Hub]:
    dist_hub.faults.clear()
    dist_hub.reset()
    yield dist_hub
    dist_hub.faults.clear()


def skopeo(*args: str) -> subprocess.CompletedProcess[bytes]:
    if shutil.which("skopeo") is None:
        raise RuntimeError("skopeo not installed: apt-get install -y skopeo")
    result = subprocess.run(["skopeo", *args], capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode()
    return result


def test_skopeo_copies_an_image_following_the_cdn_redirects(hub: Hub, tmp_path: Path) -> None:
    out = tmp_path / "out"
    skopeo("copy", "--src-tls-verify=false", f"docker://{hub.host}/{REPO}:1", f"dir:{out}")
    assert (out / "manifest.json").read_bytes() == IMAGE.manifest_bytes
    for digest, blob in IMAGE.blobs.items():
        stored = (out / digest.removeprefix("sha256:")).read_bytes()
        assert hashlib.sha256(stored).hexdigest() == digest.removeprefix("sha256:")
        assert stored == blob
    cdn = [r for r in hub.requests if r.kind == "cdn"]
    assert len(cdn) == len(IMAGE.blobs) == hub.counts("blob", "GET")
    assert all("authorization" not in r.headers and r.status == 200 for r in cdn)


def test_skopeo_inspect_raw_returns_the_index_bytes(hub: Hub) -> None:
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{hub.host}/{REPO}:multi")
    assert raw.stdout == INDEX.manifest_bytes


def test_skopeo_picks_one_platform_of_an_index(hub: Hub, tmp_path: Path) -> None:
    out, arm = tmp_path / "arm", INDEX.images[1]
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--override-arch=arm64",
        f"docker://{hub.host}/{REPO}:multi",
        f"dir:{out}",
    )
    assert (out / "manifest.json").read_bytes() == arm.manifest_bytes


def test_skopeo_with_credentials_gets_a_user_token(hub: Hub) -> None:
    ref = f"docker://{hub.host}/{REPO}:1"
    skopeo("inspect", "--raw", "--tls-verify=false", "--creds=alice:s3cret", ref)
    assert [r.user for r in hub.requests if r.kind == "token"] == ["alice"]
    manifests = [r for r in hub.requests if r.kind == "manifest"]
    assert manifests[-1].user == "alice"


async def test_distributions_401_names_the_hub_realm(hub: Hub, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{hub.url}/v2/{REPO}/manifests/1") as response:
        assert response.status == 401
        challenge = response.headers["WWW-Authenticate"]
    assert f'realm="{hub.realm_url}"' in challenge
    assert f'scope="repository:{REPO}:pull"' in challenge


async def test_manifests_get_rate_limit_headers(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    url, auth = f"{hub.url}/v2/{REPO}/manifests/1", bearer(await token(hub))
    async with http.get(url, headers=auth) as response:
        assert await response.read() == IMAGE.manifest_bytes
        assert response.headers["Docker-Content-Digest"] == IMAGE.manifest_digest
        assert response.headers["ratelimit-remaining"] == f"{RATE_LIMIT[0] - 1};w={RATE_LIMIT[1]}"
    async with http.head(url, headers=auth) as response:
        assert response.headers["Content-Length"] == str(len(IMAGE.manifest_bytes))
        assert response.headers["ratelimit-remaining"] == f"{RATE_LIMIT[0] - 1};w={RATE_LIMIT[1]}"


async def test_cdn_streams_a_large_blob_and_serves_ranges(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    digest = BIG.layer_digests[0]
    blob = BIG.blobs[digest]
    location = await cdn_location(hub, http, token, digest, repo=REPO)
    async with http.get(location) as response:
        assert await response.read() == blob
    async with http.get(location, headers={"Range": "bytes=4000000-"}) as response:
        assert response.status == 206
        assert await response.read() == blob[4_000_000:]
    async with http.get(location, headers={"Range": "bytes=5-9"}) as response:
        assert await response.read() == blob[5:10]


async def test_cdn_drop_works_on_streamed_bodies(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    location = await cdn_location(hub, http, token, BIG.layer_digests[0], repo=REPO)
    hub.faults.cdn_drop_after_bytes = 1_000_000
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.get(location) as response:
            await response.read()


async def test_tags_are_listed_with_pagination(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter
) -> None:
    async with http.get(
        f"{hub.url}/v2/{REPO}/tags/list?n=2", headers=bearer(await token(hub))
    ) as response:
        assert (await response.json())["tags"] == ["1", "big"]
        assert response.headers["Link"].startswith(f"</v2/{REPO}/tags/list?")


def test_set_tag_repushes_the_manifest_under_the_tag(hub: Hub) -> None:
    hub.set_tag(REPO, "moved", INDEX.manifest_digest)
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{hub.host}/{REPO}:moved")
    assert json.loads(raw.stdout)["manifests"][0]["digest"] == INDEX.images[0].manifest_digest
