"""Every path in the cache directory is built here, and nowhere else.

    <cache_dir>/
      blobs/<algorithm>/<first two hex>/<hex>       verified blob bytes
      manifests/<algorithm>/<first two hex>/<hex>   verified manifest bytes
      tmp/<digest hex>.<random>                     fills in progress (wiped at start-up)
      index.sqlite3 (+ -wal, -shm)                  tags, manifest metadata, references,
                                                    sizes and access times

A file exists under blobs/ or manifests/ only after its bytes were hashed, checked
against the digest and size, fsynced and renamed into place.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from ..reference import Digest


@dataclass(frozen=True, slots=True)
class CachePaths:
    root: Path

    @property
    def blobs_dir(self) -> Path:
        return self.root / "blobs"

    @property
    def manifests_dir(self) -> Path:
        return self.root / "manifests"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    @property
    def index_file(self) -> Path:
        return self.root / "index.sqlite3"

    def blob(self, digest: Digest) -> Path:
        return self.blobs_dir / digest.algorithm / digest.encoded[:2] / digest.encoded

    def manifest(self, digest: Digest) -> Path:
        return self.manifests_dir / digest.algorithm / digest.encoded[:2] / digest.encoded

    def temp_for(self, digest: Digest) -> Path:
        """A fresh temp name: two fills of one digest never share a file."""
        return self.tmp_dir / f"{digest.encoded[:16]}.{secrets.token_hex(6)}"

    def write_probe(self) -> Path:
        """A fresh temp name for the readiness check's write test."""
        return self.tmp_dir / f"writable.{secrets.token_hex(6)}"

    def create_dirs(self) -> None:
        for directory in (self.blobs_dir, self.manifests_dir, self.tmp_dir):
            directory.mkdir(parents=True, exist_ok=True)
