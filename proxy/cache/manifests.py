"""Manifests by digest: a byte-bounded memory LRU in front of files and the index.

A warm manifest request by digest is answered from memory: no disk read, no sqlite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import aiofiles
from cachetools import LRUCache

from ..mediatypes import manifest_children
from ..reference import parse_digest
from .index import Index, ManifestRecord
from .paths import CachePaths
from .writer import write_verified


@dataclass(frozen=True, slots=True)
class StoredManifest:
    digest: str
    media_type: str
    body: bytes


class ManifestStore:
    def __init__(self, paths: CachePaths, index: Index, memory_bytes: int) -> None:
        self._paths = paths
        self._index = index
        self._memory: LRUCache[str, StoredManifest] = LRUCache(
            maxsize=max(memory_bytes, 1), getsizeof=lambda m: len(m.body) + 200
        )
        # Told the size of each manifest stored, for the cache's byte accounting.
        self.on_stored: Callable[[int], None] = lambda size: None

    async def get(self, digest: str) -> StoredManifest | None:
        manifest = self._memory.get(digest)
        if manifest is not None:
            return manifest
        record = await self._index.get_manifest(digest)
        if record is None:
            return None
        try:
            async with aiofiles.open(self._paths.manifest(parse_digest(digest)), "rb") as file:
                body = await file.read()
        except FileNotFoundError:
            return None  # index row without bytes: treat as a miss and refetch
        manifest = StoredManifest(digest, record.media_type, body)
        self._remember(manifest)
        return manifest

    async def put(self, manifest: StoredManifest, registry: str, repo: str) -> None:
        """Store verified bytes (the caller checked the digest), then index them."""
        digest = parse_digest(manifest.digest)
        await write_verified(
            self._paths.temp_for(digest), self._paths.manifest(digest), digest, manifest.body
        )
        record = ManifestRecord(manifest.digest, manifest.media_type, len(manifest.body))
        await self._index.put_manifest(record, manifest_children(manifest.body), registry, repo)
        self.on_stored(len(manifest.body))
        self._remember(manifest)

    def _remember(self, manifest: StoredManifest) -> None:
        if len(manifest.body) + 200 <= self._memory.maxsize:
            self._memory[manifest.digest] = manifest

    def forget(self, digest: str) -> None:
        self._memory.pop(digest, None)

