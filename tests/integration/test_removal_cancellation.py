"""A purge or an eviction cancelled half-way (a fill's timeout around `admit`, an admin
client gone) must not leave files on disk that no index row names."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from proxy.cache import janitor as janitor_module
from proxy.cache.purge import Filter, Removal, Selection
from tests.fakes.hub import Hub
from tests.fakes.images import make_image
from tests.integration.conftest import PASSWORD, USER
from tests.support.kura import KuraServer, kura_settings, running_kura
from tests.support.registry_client import pull_image

LAYER = 100_000


@pytest.fixture
async def kura(hub: Hub, cache_dir: Path) -> AsyncIterator[KuraServer]:
    # Room for two images of one layer; a third needs an eviction.
    settings = kura_settings(cache_dir, hub.url, username=USER, password=PASSWORD, max_cache_bytes=250_000)
    async with running_kura(settings) as server:
        yield server


class SlowIndex:
    """Holds the index thread right after the removal committed its DELETEs: the moment
    a cancelled caller used to lose the file half of the step."""

    def __init__(self) -> None:
        self.committed = threading.Event()
        self.release = threading.Event()
        self.real = janitor_module.run_selection

    def __call__(self, db: sqlite3.Connection, selection: Selection, dry_run: bool) -> Removal:
        removal = self.real(db, selection, dry_run)
        if not dry_run:
            self.committed.set()
            self.release.wait(timeout=30)
        return removal


def files_under(root: Path) -> set[str]:
    return {f"{p.parent.parent.name}:{p.name}" for p in root.rglob("*") if p.is_file()}


async def rows(kura: KuraServer, table: str) -> set[str]:
    found = await kura.services.index.run(lambda db: db.execute(f"SELECT digest FROM {table}").fetchall())
    return {digest for (digest,) in found}


async def files_without_rows(kura: KuraServer) -> set[str]:
    paths = kura.services.paths
    return ((files_under(paths.blobs_dir) - await rows(kura, "blobs"))
            | (files_under(paths.manifests_dir) - await rows(kura, "manifests")))


async def purge_all(kura: KuraServer) -> object:
    return await kura.services.janitor.purge(Filter(registry="docker.io"))


async def evict_for_a_third_image(kura: KuraServer) -> object:
    return await kura.services.janitor.admit(2 * LAYER)


@pytest.mark.parametrize("remove", [purge_all, evict_for_a_third_image], ids=["purge", "eviction"])
async def test_cancelled_removal_still_unlinks_what_it_unindexed(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch,
    remove: Callable[[KuraServer], Awaitable[object]],
) -> None:
    for seed, repo in ((61, "one"), (62, "two")):
        hub.push_image(make_image(seed, [LAYER]), repo=f"library/{repo}", tag="1")
        await pull_image(client, kura.url, repo, "1")
    janitor = kura.services.janitor
    blobs_before = await rows(kura, "blobs")
    used_before, reserved_before = janitor.used_bytes, janitor.reserved_bytes
    assert blobs_before and not await files_without_rows(kura)

    slow = SlowIndex()
    monkeypatch.setattr(janitor_module, "run_selection", slow)
    task = asyncio.create_task(remove(kura))
    while not slow.committed.is_set():
        await asyncio.sleep(0.01)
    task.cancel()  # the rows are gone, the files not yet
    with pytest.raises(asyncio.CancelledError):
        await task
    slow.release.set()

    removed = blobs_before - await rows(kura, "blobs")
    assert removed  # the removal did delete rows
    for _ in range(1000):  # the shielded rest of the step runs on after the cancel
        if not await files_without_rows(kura):
            break
        await asyncio.sleep(0.01)
    assert not await files_without_rows(kura)
    assert janitor.used_bytes < used_before  # the accounting followed the files
    assert janitor.reserved_bytes == reserved_before  # a cancelled admit reserves nothing
