"""Blobs: served from disk once cached, otherwise from the one shared fill.

A cached blob never contacts the upstream. A missing blob starts (or joins) the
single fill for its digest, and the request reads the growing file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..cache.index import Index
from ..cache.inflight import Fill, Fills
from ..cache.janitor import Janitor
from ..cache.paths import CachePaths
from ..cache.writer import VerifyingWriter
from ..reference import Digest
from ..upstream.blobsource import UpstreamBlob
from ..upstream.pool import Upstreams
from .budget import BudgetedBlob


@dataclass(frozen=True, slots=True)
class CachedBlob:
    path: Path
    size: int


@dataclass(frozen=True, slots=True)
class BlobLocation:
    registry: str
    repo: str
    digest: Digest


class BlobService:
    def __init__(
        self, paths: CachePaths, index: Index, upstreams: Upstreams, fills: Fills, resume_attempts: int,
        janitor: Janitor,
    ) -> None:
        self._janitor = janitor
        self._paths = paths
        self._index = index
        self._upstreams = upstreams
        self.fills = fills
        self._resume_attempts = resume_attempts

    def cached(self, digest: Digest) -> CachedBlob | None:
        # A synchronous stat (microseconds, the inode is hot) leaves no await between
        # "not cached" and "start a fill", so a fill finishing meanwhile cannot be missed.
        path = self._paths.blob(digest)
        try:
            return CachedBlob(path, os.stat(path).st_size)
        except FileNotFoundError:
            return None

    def open(self, where: BlobLocation) -> CachedBlob | Fill:
        """The cached file, or the fill to read from (joined or started)."""
        return self.cached(where.digest) or self.fill(where)

    async def size(self, where: BlobLocation) -> int | None:
        """The blob's size for a HEAD: cache, then a fill in flight, then upstream."""
        cached = self.cached(where.digest)
        if cached is not None:
            return cached.size
        fill = self.fills.get(where.digest)
        if fill is not None:
            await fill.wait_started()
            if fill.size is not None:
                return fill.size
        upstream = self._upstreams.get(where.registry)
        return await upstream.head_blob(where.repo, str(where.digest))

    def fill(self, where: BlobLocation) -> Fill:
        """The one fill for this digest: joined if in flight, started otherwise."""
        existing = self.fills.get(where.digest)
        if existing is not None:
            return existing
        upstream = self._upstreams.get(where.registry)
        source = BudgetedBlob(
            UpstreamBlob(upstream, where.repo, str(where.digest), self._resume_attempts),
            self._janitor, str(where.digest),
        )
        writer = VerifyingWriter(
            self._paths.temp_for(where.digest), self._paths.blob(where.digest), where.digest
        )

        async def on_filled(digest: Digest, size: int) -> None:
            if not source.admitted:  # no room: readers finish from their open files
                self._janitor.leases.remove(str(digest), self._paths.blob(digest))
                return
            await self._index.put_blob(str(digest), size)
            source.settle(size)

        return self.fills.start(where.digest, writer, source, on_filled)
