"""Access times, batched: hits are noted in memory and written to the index in one
transaction every `access_flush_s` (and before eviction and at shutdown), so a
busy mirror does not write sqlite once per request."""

from __future__ import annotations

import time
from typing import Callable

from .index import Index


class AccessLog:
    def __init__(self, index: Index, clock: Callable[[], float] = time.time) -> None:
        self._index = index
        self._clock = clock
        self._blobs: dict[str, float] = {}
        self._manifests: dict[str, float] = {}

    def blob(self, digest: str) -> None:
        self._blobs[digest] = self._clock()

    def manifest(self, digest: str) -> None:
        self._manifests[digest] = self._clock()

    async def flush(self) -> None:
        blobs, manifests = self._blobs, self._manifests
        if not blobs and not manifests:
            return
        self._blobs, self._manifests = {}, {}
        await self._index.touch(blobs, manifests)
