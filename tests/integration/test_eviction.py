"""The size limit: LRU eviction, pins, readers, and streaming when nothing fits."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import AsyncIterator, Callable

import aiohttp
import pytest

from proxy.config import Secret
from proxy.reference import parse_digest
from tests.fakes.hub import Hub
from tests.fakes.images import Image, make_image
from tests.integration.conftest import PASSWORD, USER
from tests.support.admin import TOKEN, admin
from tests.support.kura import KuraServer, kura_settings, running_kura
from tests.support.registry_client import get_blob, pull_image

LAYER = 100_000
LIMIT = 250_000  # two images of one 100 kB layer fit, three do not
MB = 1024 * 1024


@pytest.fixture
async def small_kura(hub: Hub, cache_dir: Path) -> AsyncIterator[KuraServer]:
    settings = kura_settings(cache_dir, hub.url, username=USER, password=PASSWORD,
                             admin_token=Secret(TOKEN), max_cache_bytes=LIMIT, access_flush_s=0.2)
    async with running_kura(settings) as server:
        yield server


def _push(hub: Hub, seed: int, repo: str) -> Image:
    image = make_image(seed, [LAYER])
    hub.push_image(image, repo=f"library/{repo}", tag="1")
    return image


class DiskPeak:
    """Samples the bytes under blobs/, manifests/ and tmp/ on every event-loop turn."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.peak = 0
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, sum(_size(f) for d in ("blobs", "manifests", "tmp")
                                           for f in (self.root / d).rglob("*")))
            await asyncio.sleep(0)

    async def stop(self) -> int:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return self.peak


def _size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else 0
    except FileNotFoundError:  # renamed or removed while sampling
        return 0


def _cached(kura: KuraServer, image: Image) -> bool:
    return all(kura.services.paths.blob(parse_digest(d)).exists() for d in image.blobs)


async def _cache_bytes(client: aiohttp.ClientSession, kura: KuraServer) -> int:
    status, stats = await admin(client, kura.url, "GET", "/admin/cache")
    assert status == 200
    return stats["bytes"]


async def test_eviction_keeps_cache_under_limit(
    hub: Hub, small_kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    images = {name: _push(hub, 40 + i, name) for i, name in enumerate(["one", "two", "three", "four"])}
    largest = max(len(b) for image in images.values() for b in image.blobs.values())
    disk = DiskPeak(small_kura.services.paths.root)
    await pull_image(client, small_kura.url, "one", "1")
    await pull_image(client, small_kura.url, "two", "1")
    await pull_image(client, small_kura.url, "one", "1")  # "one" is now more recent than "two"
    await pull_image(client, small_kura.url, "three", "1")
    assert await _cache_bytes(client, small_kura) <= LIMIT + largest
    assert _cached(small_kura, images["one"]) and _cached(small_kura, images["three"])
    assert not any(small_kura.services.paths.blob(parse_digest(d)).exists() for d in images["two"].blobs)
    await pull_image(client, small_kura.url, "four", "1")  # evicts "one" (least recent now)
    assert await _cache_bytes(client, small_kura) <= LIMIT + largest
    assert _cached(small_kura, images["three"]) and _cached(small_kura, images["four"])
    assert small_kura.services.janitor.used_bytes == await _cache_bytes(client, small_kura)
    assert await disk.stop() <= LIMIT + largest  # on disk, fills in progress included
    hub.reset()
    await pull_image(client, small_kura.url, "four", "1")
    await pull_image(client, small_kura.url, "three", "1")
    assert hub.counts("cdn") == 0
    await pull_image(client, small_kura.url, "one", "1")
    assert hub.counts("cdn") == len(images["one"].blobs)  # it was evicted
    assert small_kura.services.janitor.uncached_serves == 0


async def test_pinned_image_survives_eviction(
    hub: Hub, small_kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    pinned = _push(hub, 50, "pinned")
    status, _ = await admin(client, small_kura.url, "POST", "/admin/pins", {"repository": "pinned"})
    assert status == 201
    await pull_image(client, small_kura.url, "pinned", "1")
    for seed, name in enumerate(["x1", "x2", "x3", "x4"], start=51):
        _push(hub, seed, name)
        await pull_image(client, small_kura.url, name, "1")
        assert _cached(small_kura, pinned)
    hub.reset()
    await pull_image(client, small_kura.url, "pinned", "1")
    assert hub.counts("cdn") == 0
    status, pins = await admin(client, small_kura.url, "GET", "/admin/pins")
    assert pins["pins"] == [{"registry": "docker.io", "repository": "library/pinned", "tag": None}]
    status, _ = await admin(client, small_kura.url, "DELETE", "/admin/pins/pinned")
    assert status == 200


async def test_cache_full_of_pins_streams_uncached(
    hub: Hub, small_kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    kept = [_push(hub, 60, "keep1"), _push(hub, 61, "keep2")]
    for name in ("keep1", "keep2"):
        await admin(client, small_kura.url, "POST", "/admin/pins", {"repository": name, "tag": "1"})
        await pull_image(client, small_kura.url, name, "1")
    extra = _push(hub, 62, "extra")
    fetched = await pull_image(client, small_kura.url, "extra", "1")  # verifies every digest
    assert set(extra.blobs) <= set(fetched)
    layer = extra.layer_digests[0]
    # Removed once its last reader is done (the server finishes just after the client).
    await _until(lambda: not small_kura.services.paths.blob(parse_digest(layer)).exists())
    assert small_kura.services.janitor.uncached_serves == 1
    status, stats = await admin(client, small_kura.url, "GET", "/admin/cache")
    assert stats["uncached_serves"] == 1 and stats["bytes"] <= LIMIT
    assert all(_cached(small_kura, image) for image in kept)
    async with client.get(small_kura.url + "/metrics") as reply:
        assert "kura_cache_uncached_serves_total 1.0" in await reply.text()
    hub.reset()
    assert await get_blob(client, small_kura.url, "extra", layer) == extra.blobs[layer]
    assert hub.counts("cdn") == 1  # streamed again: it was never kept


async def test_blob_in_use_is_not_deleted_under_a_reader(
    hub: Hub, client: aiohttp.ClientSession, cache_dir: Path
) -> None:
    image = make_image(70, [24 * MB])
    hub.push_image(image, repo="library/big", tag="1")
    layer = image.layer_digests[0]
    settings = kura_settings(cache_dir, hub.url, username=USER, password=PASSWORD, admin_token=Secret(TOKEN))
    async with running_kura(settings) as kura:
        await get_blob(client, kura.url, "big", layer)  # cached now
        path = kura.services.paths.blob(parse_digest(layer))
        async with client.get(f"{kura.url}/v2/big/blobs/{layer}") as reader:
            assert reader.status == 200
            head = await reader.content.readexactly(64 * 1024)
            status, removed = await admin(client, kura.url, "DELETE", f"/admin/blobs/{layer}")
            assert status == 200 and removed["digests"] == [layer]
            assert path.exists()  # still being sent
            status, _ = await admin(client, kura.url, "DELETE", f"/admin/blobs/{layer}")
            assert status == 404  # gone from the index at once
            body = head + await reader.read()
        assert hashlib.sha256(body).hexdigest() == parse_digest(layer).encoded
        await _until(lambda: not path.exists())  # removed once the response completed
        hub.reset()
        await get_blob(client, kura.url, "big", layer)
        assert hub.counts("cdn") == 1


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for something the server does in the background (bounded, not timed)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


async def test_unused_entries_are_swept(hub: Hub, cache_dir: Path, client: aiohttp.ClientSession) -> None:
    image = _push(hub, 80, "old")
    settings = kura_settings(cache_dir, hub.url, username=USER, password=PASSWORD,
                             admin_token=Secret(TOKEN), unused_ttl_s=0.4, access_flush_s=0.05)
    async with running_kura(settings) as kura:
        await pull_image(client, kura.url, "old", "1")
        assert _cached(kura, image)
        await _until(lambda: not any(kura.services.paths.blob(parse_digest(d)).exists() for d in image.blobs))
        status, stats = await admin(client, kura.url, "GET", "/admin/cache")
        assert (stats["blobs"], stats["manifests"], stats["tags"]) == (0, 0, 0)


async def test_min_free_disk_floor_streams_without_keeping(
    hub: Hub, cache_dir: Path, client: aiohttp.ClientSession
) -> None:
    image = _push(hub, 85, "floor")
    settings = kura_settings(cache_dir, hub.url, username=USER, password=PASSWORD,
                             admin_token=Secret(TOKEN), min_free_disk_bytes=10**18)  # never satisfiable
    async with running_kura(settings) as kura:
        fetched = await pull_image(client, kura.url, "floor", "1")
        assert set(image.blobs) <= set(fetched)
        assert kura.services.janitor.uncached_serves == len(image.blobs)
        await _until(lambda: not any(kura.services.paths.blob(parse_digest(d)).exists() for d in image.blobs))
