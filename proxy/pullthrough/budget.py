"""A blob source that asks the cache budget for room before its bytes land."""

from __future__ import annotations

import logging
from typing import AsyncIterator

from ..cache.inflight import BlobSource
from ..cache.janitor import Janitor

log = logging.getLogger(__name__)


class BudgetedBlob:
    """Wraps an upstream BlobSource: once the size is known, reserve it (evicting
    least-recently-used blobs if needed). `admitted` False means the cache is full of
    pinned or in-use entries: the fill still serves its readers, but is not kept."""

    def __init__(self, source: BlobSource, janitor: Janitor, digest: str) -> None:
        self._source = source
        self._janitor = janitor
        self._digest = digest
        self.size: int | None = None
        self.admitted = True
        self.reserved = 0

    async def open(self) -> None:
        await self._source.open()
        self.size = self._source.size
        if self.size is None:
            return  # unknown length: accounted when it lands
        self.admitted = await self._janitor.admit(self.size)
        if self.admitted:
            self.reserved = self.size
        else:
            self._janitor.uncached_serves += 1
            log.warning("cache full of pinned or in-use entries: streaming %s (%d bytes) uncached",
                        self._digest, self.size)

    def chunks(self) -> AsyncIterator[bytes]:
        return self._source.chunks()

    def settle(self, size: int) -> None:
        self._janitor.settle(self.reserved, size)
        self.reserved = 0

    async def close(self) -> None:
        try:
            await self._source.close()
        finally:
            if self.reserved:  # the fill failed before it was indexed
                self._janitor.release(self.reserved)
                self.reserved = 0
