"""The cache index: a sqlite database (WAL) that survives restarts and `kill -9`.

It records what the files cannot: which digest a tag pointed at and when that was
last confirmed upstream, each manifest's media type and the digests it references,
which repositories use which manifest, and per-entry size and last access (for
eviction). Files are written and renamed *before* their row is inserted, so after a
crash the worst case is a verified file without a row, never a row without bytes
that would be served.

sqlite calls run on one dedicated thread so the event loop never waits on disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS blobs (
    digest TEXT PRIMARY KEY, size INTEGER NOT NULL,
    created_at REAL NOT NULL, last_access REAL NOT NULL);
CREATE TABLE IF NOT EXISTS manifests (
    digest TEXT PRIMARY KEY, media_type TEXT NOT NULL, size INTEGER NOT NULL,
    created_at REAL NOT NULL, last_access REAL NOT NULL);
CREATE TABLE IF NOT EXISTS manifest_refs (
    manifest TEXT NOT NULL, child TEXT NOT NULL, kind TEXT NOT NULL,
    PRIMARY KEY (manifest, child));
CREATE INDEX IF NOT EXISTS manifest_refs_child ON manifest_refs (child);
CREATE TABLE IF NOT EXISTS repository_manifests (
    registry TEXT NOT NULL, repository TEXT NOT NULL, digest TEXT NOT NULL,
    last_pull REAL NOT NULL, PRIMARY KEY (registry, repository, digest));
CREATE TABLE IF NOT EXISTS tags (
    registry TEXT NOT NULL, repository TEXT NOT NULL, tag TEXT NOT NULL,
    accept TEXT NOT NULL, digest TEXT NOT NULL, confirmed_at REAL NOT NULL,
    PRIMARY KEY (registry, repository, tag, accept));
"""


@dataclass(frozen=True, slots=True)
class TagRecord:
    digest: str
    confirmed_at: float


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    digest: str
    media_type: str
    size: int


@dataclass(frozen=True, slots=True)
class ManifestChild:
    digest: str
    kind: str  # "blob" or "manifest"


class Index:
    """Async facade over one sqlite connection used from one worker thread."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kura-index")
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a crash may lose the last commits, never corrupt the file;
        # a lost row only means a verified file gets indexed again.
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(connection)` on the index thread: the door for modules that keep
        their own queries (catalog, purge). `fn` must not keep the connection."""
        assert self._db is not None, "index is not open"
        return await self._run(fn, self._db)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _write(self, statements: Iterable[tuple[str, tuple[Any, ...]]]) -> None:
        assert self._db is not None
        with self._db:  # one transaction: all or nothing
            self._db.execute("BEGIN")
            for sql, params in statements:
                self._db.execute(sql, params)

    def _query_one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        assert self._db is not None
        return self._db.execute(sql, params).fetchone()

    # -- tags -------------------------------------------------------------------------

    async def get_tag(self, registry: str, repo: str, tag: str, accept: str) -> TagRecord | None:
        row = await self._run(
            self._query_one,
            "SELECT digest, confirmed_at FROM tags"
            " WHERE registry=? AND repository=? AND tag=? AND accept=?",
            (registry, repo, tag, accept),
        )
        return TagRecord(row[0], row[1]) if row else None

    async def put_tag(
        self, registry: str, repo: str, tag: str, accept: str, record: TagRecord
    ) -> None:
        sql = (
            "INSERT INTO tags VALUES (?,?,?,?,?,?) ON CONFLICT DO UPDATE"
            " SET digest=excluded.digest, confirmed_at=excluded.confirmed_at"
        )
        params = (registry, repo, tag, accept, record.digest, record.confirmed_at)
        await self._run(self._write, [(sql, params)])

    # -- manifests --------------------------------------------------------------------

    async def get_manifest(self, digest: str) -> ManifestRecord | None:
        row = await self._run(
            self._query_one, "SELECT media_type, size FROM manifests WHERE digest=?", (digest,)
        )
        return ManifestRecord(digest, row[0], row[1]) if row else None

    async def put_manifest(
        self, record: ManifestRecord, children: list[ManifestChild], registry: str, repo: str
    ) -> None:
        now = time.time()
        statements: list[tuple[str, tuple[Any, ...]]] = [
            (
                "INSERT INTO manifests VALUES (?,?,?,?,?) ON CONFLICT DO UPDATE"
                " SET last_access=excluded.last_access",
                (record.digest, record.media_type, record.size, now, now),
            )
        ]
        statements += [
            ("INSERT OR IGNORE INTO manifest_refs VALUES (?,?,?)", (record.digest, c.digest, c.kind))
            for c in children
        ]
        statements.append(_link_statement(registry, repo, record.digest, now))
        await self._run(self._write, statements)

    # -- blobs ------------------------------------------------------------------------

    async def put_blob(self, digest: str, size: int) -> None:
        now = time.time()
        sql = (
            "INSERT INTO blobs VALUES (?,?,?,?) ON CONFLICT DO UPDATE"
            " SET size=excluded.size, last_access=excluded.last_access"
        )
        await self._run(self._write, [(sql, (digest, size, now, now))])

    async def blob_bytes(self) -> int:
        """The total size of the indexed blobs (for metrics; also a liveness query)."""
        row = await self._run(self._query_one, "SELECT COALESCE(SUM(size), 0) FROM blobs", ())
        return int(row[0]) if row else 0

    async def touch(self, blobs: dict[str, float], manifests: dict[str, float]) -> None:
        """Record access times in one transaction (callers batch them)."""
        statements = [
            ("UPDATE blobs SET last_access=max(last_access, ?) WHERE digest=?", (t, d))
            for d, t in blobs.items()
        ] + [
            ("UPDATE manifests SET last_access=max(last_access, ?) WHERE digest=?", (t, d))
            for d, t in manifests.items()
        ]
        if statements:
            await self._run(self._write, statements)


def _link_statement(registry: str, repo: str, digest: str, now: float) -> tuple[str, tuple[Any, ...]]:
    return (
        "INSERT INTO repository_manifests VALUES (?,?,?,?) ON CONFLICT DO UPDATE"
        " SET last_pull=excluded.last_pull",
        (registry, repo, digest, now),
    )
