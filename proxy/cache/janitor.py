"""Keeping the cache inside its disk: purges, the size budget, eviction, the sweep.

Accounting is exact and comes from the index: `used_bytes` is SUM(size) of blobs and
manifests, read at start-up, moved by every fill and removal, and re-read from the
index on each flush cycle. A fill reserves its size (known once the upstream
answered) before its bytes land; if the reservation does not fit under
`max_cache_bytes` (or above `min_free_disk_bytes` of free disk), least-recently-used
unpinned blobs are evicted first (see purge.py for the rules). If nothing can be
evicted, the fill still serves its readers but its file is removed when they are
done: streamed, not cached, and counted in `uncached_serves`.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from typing import Any, Callable

from ..config import Settings
from ..reference import parse_digest
from .access import AccessLog
from .catalog import Catalog
from .index import Index
from .leases import Leases
from .manifests import ManifestStore
from .paths import CachePaths
from .purge import Evict, Filter, Removal, Selection, run_selection
from .reconcile import reconcile

log = logging.getLogger(__name__)


class Janitor:
    def __init__(self, settings: Settings, paths: CachePaths, index: Index, store: ManifestStore,
                 on_removed: Callable[[], None] = lambda: None) -> None:
        self.max_cache_bytes = settings.max_cache_bytes
        self._min_free_disk_bytes = settings.min_free_disk_bytes
        self._unused_ttl_s = settings.unused_ttl_s
        self._flush_s = settings.access_flush_s
        self._paths = paths
        self._index = index
        self._store = store
        store.on_stored = self._manifest_stored
        self._on_removed = on_removed  # drops memory caches (tag records) after a purge
        self.catalog = Catalog(index)
        self.access = AccessLog(index)
        self.leases = Leases()
        self.used_bytes = 0
        self.reserved_bytes = 0
        self.uncached_serves = 0  # fills served to clients but not kept: no room
        self.evicted_blobs = 0
        self.reconciled: dict[str, int] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._removals: set[asyncio.Task[Removal]] = set()  # see purge()
        self._last_sweep = time.monotonic()

    async def start(self) -> None:
        await self.catalog.open()
        self.reconciled = await self._index.run(lambda db: reconcile(db, self._paths))
        if any(self.reconciled.values()):
            log.warning("start-up reconcile fixed the cache: %s", self.reconciled)
        self.used_bytes = await self.catalog.total_bytes()
        self._task = asyncio.create_task(self._loop(), name="kura janitor")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.gather(*self._removals, return_exceptions=True)  # shielded removals
        await self.access.flush()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_s)
            try:
                await self.access.flush()
                async with self._lock:
                    self.used_bytes = await self.catalog.total_bytes()
                if self._unused_ttl_s and time.monotonic() - self._last_sweep >= min(self._unused_ttl_s / 4, 300):
                    self._last_sweep = time.monotonic()
                    await self.sweep()
            except Exception:  # noqa: BLE001 - the loop must outlive one failure
                log.exception("cache maintenance failed")

    async def sweep(self) -> Removal:
        removal = await self.purge(Filter(unused_for_s=self._unused_ttl_s))
        if removal.blobs or removal.manifests:
            log.info("unused sweep removed %d blobs, %d manifests (%d bytes)",
                     len(removal.blobs), len(removal.manifests), removal.bytes)
        return removal

    async def purge(self, selection: Selection, dry_run: bool = False) -> Removal:
        """Remove what `selection` picks from the index, then its files (deferred for
        files being read) and memory copies. A dry run only reports."""
        await self.access.flush()
        if dry_run:
            return await self._index.run(lambda db: run_selection(db, selection, True))
        # Shielded: deleting the rows and unlinking their files is one step. A caller
        # cancelled half-way (a fill's timeout around admit, a client gone) would
        # otherwise leave files that no index row names, counted in used_bytes forever.
        task = asyncio.create_task(self._remove(selection), name="kura cache removal")
        self._removals.add(task)  # a strong reference, and close() waits for it
        task.add_done_callback(self._removals.discard)
        return await asyncio.shield(task)

    async def _remove(self, selection: Selection) -> Removal:
        removal = await self._index.run(lambda db: run_selection(db, selection, False))
        if removal.matched:
            self._forget(removal)
        return removal

    def _forget(self, removal: Removal) -> None:
        for digest in removal.blobs:
            self.leases.remove(digest, self._paths.blob(parse_digest(digest)))
        for digest in removal.manifests:
            self._store.forget(digest)
            self.leases.remove(digest, self._paths.manifest(parse_digest(digest)))
        self.used_bytes -= removal.bytes
        self._on_removed()

    # -- the budget ---------------------------------------------------------------------

    async def admit(self, size: int) -> bool:
        """Reserve room for a `size`-byte fill, evicting if needed. False: no room."""
        async with self._lock:
            need = self._shortfall(size)
            if need > 0:
                removal = await self.purge(Evict(need, self.leases.in_use()))
                if not removal.matched:
                    return False
                self.evicted_blobs += len(removal.blobs)
                log.info("evicted %d blobs, %d manifests (%d bytes) to make room for %d bytes",
                         len(removal.blobs), len(removal.manifests), removal.bytes, size)
            self.reserved_bytes += size
            return True

    def _shortfall(self, size: int) -> int:
        need = 0
        if self.max_cache_bytes:
            need = self.used_bytes + self.reserved_bytes + size - self.max_cache_bytes
        if self._min_free_disk_bytes:
            free = shutil.disk_usage(self._paths.root).free - self.reserved_bytes
            need = max(need, self._min_free_disk_bytes - (free - size))
        return need

    def settle(self, reserved: int, size: int) -> None:
        """A reserved fill was indexed with `size` bytes."""
        self.reserved_bytes -= reserved
        self.used_bytes += size

    def _manifest_stored(self, size: int) -> None:
        self.used_bytes += size

    def release(self, reserved: int) -> None:
        self.reserved_bytes -= reserved

    def stats(self) -> dict[str, Any]:
        return {
            "max_cache_bytes": self.max_cache_bytes or None,
            "reserved_bytes": self.reserved_bytes,
            "uncached_serves": self.uncached_serves, "evicted_blobs": self.evicted_blobs,
            "pending_deletes": self.leases.pending,
        }
