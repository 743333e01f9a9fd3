"""Admin API: authentication, stats, listing, purges and warm-up, asserted on what the
upstream saw afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import aiohttp
import pytest

from proxy.config import Secret
from proxy.reference import parse_digest
from tests.fakes.hub import Hub
from tests.fakes.images import make_image, make_index
from tests.integration.conftest import PASSWORD, USER
from tests.support.admin import TOKEN, admin, image_sharing_layer, wait_for_warm
from tests.support.kura import KuraServer, kura_settings, running_kura
from tests.support.registry_client import pull_image


@pytest.fixture
async def kura_admin(hub: Hub, cache_dir: Path) -> AsyncIterator[KuraServer]:
    settings = kura_settings(cache_dir, hub.url, username=USER, password=PASSWORD,
                             admin_token=Secret(TOKEN), access_flush_s=0.2)
    async with running_kura(settings) as server:
        yield server


async def test_admin_disabled_without_token(kura: KuraServer, client: aiohttp.ClientSession) -> None:
    for method, path in [("GET", "/admin/cache"), ("DELETE", "/admin/cache?confirm=yes"),
                         ("GET", "/admin/openapi.json"), ("POST", "/admin/warm")]:
        status, body = await admin(client, kura.url, method, path)
        assert status == 404, (path, body)


async def test_admin_requires_token(kura_admin: KuraServer, client: aiohttp.ClientSession) -> None:
    for token in (None, "wrong", TOKEN + "x", TOKEN[:-1]):
        status, body = await admin(client, kura_admin.url, "GET", "/admin/cache", token=token)
        assert status == 401 and body["errors"][0]["code"] == "UNAUTHORIZED"
        assert TOKEN not in str(body)
    async with client.get(kura_admin.url + "/admin/cache", headers={"Authorization": f"Basic {TOKEN}"}) as reply:
        assert reply.status == 401
    status, body = await admin(client, kura_admin.url, "GET", "/admin/cache")
    assert status == 200 and body["blobs"] == 0
    status, _ = await admin(client, kura_admin.url, "GET", "/admin/openapi.json", token=None)
    assert status == 200  # the document is public once the API is enabled


async def test_stats_and_listing_count_shared_blobs_once(
    hub: Hub, kura_admin: KuraServer, client: aiohttp.ClientSession
) -> None:
    a = make_image(21, [40_000, 20_000])
    b = image_sharing_layer(22, [10_000], shared=a)
    hub.push_image(a, repo="library/a", tag="1")
    hub.push_image(b, repo="library/a", tag="2")
    await pull_image(client, kura_admin.url, "a", "1")
    await pull_image(client, kura_admin.url, "a", "2")
    status, stats = await admin(client, kura_admin.url, "GET", "/admin/cache")
    unique = {**a.blobs, **b.blobs}
    blob_bytes = sum(len(v) for v in unique.values())
    manifest_bytes = len(a.manifest_bytes) + len(b.manifest_bytes)
    assert (stats["blobs"], stats["manifests"], stats["tags"], stats["repositories"]) == (len(unique), 2, 2, 1)
    assert stats["bytes"] == blob_bytes + manifest_bytes
    assert stats["oldest_access"] <= stats["newest_access"]
    status, listing = await admin(client, kura_admin.url, "GET", "/admin/repositories?prefix=library/")
    [repo] = listing["repositories"]
    assert repo["name"] == "library/a" and repo["tags"] == ["1", "2"]
    assert repo["bytes"] == blob_bytes + manifest_bytes and listing["next_cursor"] is None


async def test_purge_repo_keeps_blobs_shared_with_other_repos(
    hub: Hub, kura_admin: KuraServer, client: aiohttp.ClientSession
) -> None:
    a = make_image(23, [40_000, 20_000])
    b = image_sharing_layer(24, [10_000], shared=a)
    hub.push_image(a, repo="library/a", tag="1")
    hub.push_image(b, repo="library/b", tag="1")
    await pull_image(client, kura_admin.url, "a", "1")
    await pull_image(client, kura_admin.url, "b", "1")
    status, removed = await admin(client, kura_admin.url, "DELETE", "/admin/repositories/a")
    assert status == 200, removed
    shared = a.layer_digests[0]
    only_a = set(a.blobs) - {shared}
    assert set(removed["digests"]) == only_a | {a.manifest_digest}
    assert removed["tag_names"] == ["docker.io/library/a:1"]
    paths = kura_admin.services.paths
    assert paths.blob(parse_digest(shared)).exists()
    assert not any(paths.blob(parse_digest(d)).exists() for d in only_a)
    hub.reset()
    await pull_image(client, kura_admin.url, "b", "1")
    assert hub.counts("blob") == 0 and hub.counts("cdn") == 0
    await pull_image(client, kura_admin.url, "a", "1")
    assert hub.counts("cdn") == len(only_a)  # the shared layer was still cached
    assert hub.counts("manifest", "GET") == 1


async def test_purge_tag_removes_only_what_that_tag_alone_references(
    hub: Hub, kura_admin: KuraServer, client: aiohttp.ClientSession
) -> None:
    a = make_image(25, [30_000, 5_000])
    b = image_sharing_layer(26, [8_000], shared=a)
    hub.push_image(a, repo="library/t", tag="1")
    hub.push_image(b, repo="library/t", tag="2")
    await pull_image(client, kura_admin.url, "t", "1")
    await pull_image(client, kura_admin.url, "t", "2")
    status, removed = await admin(client, kura_admin.url, "DELETE", "/admin/repositories/t/tags/1")
    assert status == 200, removed
    assert set(removed["digests"]) == (set(a.blobs) - {a.layer_digests[0]}) | {a.manifest_digest}
    status, listing = await admin(client, kura_admin.url, "GET", "/admin/repositories")
    assert listing["repositories"][0]["tags"] == ["2"]
    status, _ = await admin(client, kura_admin.url, "DELETE", "/admin/repositories/t/tags/1")
    assert status == 404


async def test_purge_dry_run_changes_nothing(
    hub: Hub, kura_admin: KuraServer, client: aiohttp.ClientSession
) -> None:
    image = make_image(27, [50_000])
    hub.push_image(image, repo="library/d", tag="1")
    await pull_image(client, kura_admin.url, "d", "1")
    _, before = await admin(client, kura_admin.url, "GET", "/admin/cache")
    layer = image.layer_digests[0]
    for method, path, body in [
        ("DELETE", "/admin/repositories/d?dry_run=1", None),
        ("DELETE", "/admin/repositories/d/tags/1?dry_run=1", None),
        ("DELETE", f"/admin/blobs/{layer}?dry_run=1", None),
        ("DELETE", "/admin/cache?dry_run=1", None),
        ("POST", "/admin/purge?dry_run=1", {"prefix": "library/"}),
        ("POST", "/admin/purge", {"unused_for_s": 0, "dry_run": True}),
    ]:
        status, removed = await admin(client, kura_admin.url, method, path, body)
        assert status == 200, (path, removed)
        assert removed["dry_run"] is True and removed["bytes"] > 0, (path, removed)
        assert layer in removed["digests"], path
    _, after = await admin(client, kura_admin.url, "GET", "/admin/cache")
    assert {k: after[k] for k in ("bytes", "blobs", "manifests", "tags")} == \
           {k: before[k] for k in ("bytes", "blobs", "manifests", "tags")}
    hub.reset()
    await pull_image(client, kura_admin.url, "d", "1")
    assert hub.counts() == 0


async def test_delete_everything_needs_confirmation(
    hub: Hub, kura_admin: KuraServer, client: aiohttp.ClientSession
) -> None:
    image = make_image(28, [10_000])
    hub.push_image(image, repo="library/e", tag="1")
    await pull_image(client, kura_admin.url, "e", "1")
    status, _ = await admin(client, kura_admin.url, "DELETE", "/admin/cache")
    assert status == 400
    status, removed = await admin(client, kura_admin.url, "DELETE", "/admin/cache?confirm=yes")
    assert status == 200 and removed["blobs"] == len(image.blobs) and removed["manifests"] == 1
    _, stats = await admin(client, kura_admin.url, "GET", "/admin/cache")
    assert stats["bytes"] == 0 and stats["tags"] == 0
    hub.reset()
    await pull_image(client, kura_admin.url, "e", "1")
    assert hub.counts("cdn") == len(image.blobs)


async def test_warm_then_pull_spends_no_upstream(
    hub: Hub, kura_admin: KuraServer, client: aiohttp.ClientSession
) -> None:
    index = make_index([make_image(31, [60_000, 7_000], arch="amd64"), make_image(32, [50_000], arch="arm64")])
    hub.push_index(index, repo="library/w", tag="1")
    status, job = await admin(client, kura_admin.url, "POST", "/admin/warm",
                              {"image": "w:1", "platforms": ["linux/amd64", "linux/arm64"]})
    assert status == 202 and job["state"] == "running"
    job = await wait_for_warm(client, kura_admin.url, job["id"])
    assert job["state"] == "done" and not job["errors"]
    assert job["layers_done"] == job["layers_total"] == len(index.blobs)
    assert job["bytes_done"] == job["bytes_total"] == sum(len(b) for b in index.blobs.values())
    assert job["manifests_fetched"] == 3 == hub.counts("manifest", "GET")  # the quota it spent
    hub.reset()
    fetched = await pull_image(client, kura_admin.url, "w", "1")
    assert set(index.blobs) <= set(fetched)
    assert hub.counts() == 0


async def test_warm_defaults_to_configured_platforms(
    hub: Hub, kura_admin: KuraServer, client: aiohttp.ClientSession
) -> None:
    amd64, arm64 = make_image(33, [20_000], arch="amd64"), make_image(34, [20_000], arch="arm64")
    hub.push_index(make_index([amd64, arm64]), repo="library/p", tag="1")
    status, job = await admin(client, kura_admin.url, "POST", "/admin/warm", {"image": "docker.io/library/p:1"})
    job = await wait_for_warm(client, kura_admin.url, job["id"])
    assert job["state"] == "done" and job["platforms"] == ["linux/amd64"]
    paths = kura_admin.services.paths
    assert all(paths.blob(parse_digest(d)).exists() for d in amd64.blobs)
    assert not any(paths.blob(parse_digest(d)).exists() for d in arm64.layer_digests)


async def test_warm_reports_errors(hub: Hub, kura_admin: KuraServer, client: aiohttp.ClientSession) -> None:
    status, job = await admin(client, kura_admin.url, "POST", "/admin/warm", {"image": "missing:1"})
    job = await wait_for_warm(client, kura_admin.url, job["id"])
    assert job["state"] == "failed" and job["errors"]
    status, body = await admin(client, kura_admin.url, "POST", "/admin/warm", {"image": "Not A Name"})
    assert status == 400
    status, body = await admin(client, kura_admin.url, "GET", "/admin/warm/nope")
    assert status == 404
