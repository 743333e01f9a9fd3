"""What the cache holds, read from the index: totals, repositories, pins.

Every function here is synchronous and takes the sqlite connection: it runs on the
index thread through `Index.run`, so each answer is one consistent snapshot. The
`Catalog` class is the async face the admin API, the janitor and the CLI use.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Iterable

from .index import Index

SCHEMA = """
CREATE TABLE IF NOT EXISTS pins (
    registry TEXT NOT NULL, repository TEXT NOT NULL, tag TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL, PRIMARY KEY (registry, repository, tag));
CREATE INDEX IF NOT EXISTS blobs_last_access ON blobs (last_access);
"""


@dataclass(frozen=True, slots=True)
class Pin:
    registry: str
    repository: str
    tag: str = ""  # "" pins the whole repository

    def to_json(self) -> dict[str, str | None]:
        return {"registry": self.registry, "repository": self.repository, "tag": self.tag or None}


def reach(db: sqlite3.Connection, roots: Iterable[str]) -> set[str]:
    """The roots and every digest (manifest or blob) they reference, transitively."""
    roots = sorted(set(roots))
    if not roots:
        return set()
    rows = db.execute(
        "WITH RECURSIVE r(d) AS (SELECT value FROM json_each(?)"
        " UNION SELECT mr.child FROM manifest_refs mr JOIN r ON mr.manifest = r.d)"
        " SELECT d FROM r",
        (json.dumps(roots),),
    )
    return {row[0] for row in rows}


def live(db: sqlite3.Connection) -> set[str]:
    """Everything reachable from a tag or a repository's manifest."""
    roots = [r[0] for r in db.execute("SELECT digest FROM repository_manifests UNION SELECT digest FROM tags")]
    return reach(db, roots)


def pinned(db: sqlite3.Connection) -> set[str]:
    """Everything reachable from a pinned repository or tag: never evicted or swept."""
    roots = [r[0] for r in db.execute(
        "SELECT rm.digest FROM repository_manifests rm JOIN pins p"
        " ON p.registry = rm.registry AND p.repository = rm.repository AND p.tag = ''"
        " UNION SELECT t.digest FROM tags t JOIN pins p"
        " ON p.registry = t.registry AND p.repository = t.repository AND p.tag = t.tag")]
    return reach(db, roots)


def total_bytes(db: sqlite3.Connection) -> int:
    row = db.execute(
        "SELECT (SELECT coalesce(sum(size), 0) FROM blobs) + (SELECT coalesce(sum(size), 0) FROM manifests)"
    ).fetchone()
    return int(row[0])


def stats(db: sqlite3.Connection) -> dict[str, Any]:
    blobs, blob_bytes = db.execute("SELECT count(*), coalesce(sum(size), 0) FROM blobs").fetchone()
    manifests, manifest_bytes = db.execute("SELECT count(*), coalesce(sum(size), 0) FROM manifests").fetchone()
    tags = db.execute("SELECT count(*) FROM (SELECT DISTINCT registry, repository, tag FROM tags)").fetchone()[0]
    repositories = db.execute(
        "SELECT count(*) FROM (SELECT registry, repository FROM repository_manifests"
        " UNION SELECT registry, repository FROM tags)").fetchone()[0]
    oldest, newest = db.execute(
        "SELECT min(t), max(t) FROM (SELECT last_access AS t FROM blobs"
        " UNION ALL SELECT last_access FROM manifests)").fetchone()
    pins = db.execute("SELECT count(*) FROM pins").fetchone()[0]
    return {
        "bytes": blob_bytes + manifest_bytes, "blob_bytes": blob_bytes, "manifest_bytes": manifest_bytes,
        "blobs": blobs, "manifests": manifests, "tags": tags, "repositories": repositories,
        "pins": pins, "oldest_access": oldest, "newest_access": newest,
    }


def repositories(
    db: sqlite3.Connection, registry: str, prefix: str, limit: int, cursor: str
) -> list[dict[str, Any]]:
    """Repositories ordered by (registry, name), after `cursor` ("registry/name")."""
    after_registry, _, after_name = cursor.partition("/") if cursor else ("", "", "")
    rows = db.execute(
        "SELECT registry, repository, max(last_pull) FROM ("
        " SELECT registry, repository, last_pull FROM repository_manifests"
        " UNION ALL SELECT registry, repository, NULL FROM tags)"
        " WHERE (? = '' OR registry = ?) AND repository LIKE ? ESCAPE '\\'"
        " AND (registry, repository) > (?, ?)"
        " GROUP BY registry, repository ORDER BY registry, repository LIMIT ?",
        (registry, registry, _like_prefix(prefix), after_registry, after_name, limit),
    ).fetchall()
    return [_describe_repository(db, reg, repo, last_pull) for reg, repo, last_pull in rows]


def _describe_repository(db: sqlite3.Connection, registry: str, repo: str, last_pull: float | None) -> dict[str, Any]:
    tags = sorted({r[0] for r in db.execute(
        "SELECT tag FROM tags WHERE registry = ? AND repository = ?", (registry, repo))})
    roots = [r[0] for r in db.execute(
        "SELECT digest FROM repository_manifests WHERE registry = ? AND repository = ?"
        " UNION SELECT digest FROM tags WHERE registry = ? AND repository = ?",
        (registry, repo, registry, repo))]
    return {
        "registry": registry, "name": repo, "tags": tags, "digests": sorted(roots),
        "bytes": bytes_of(db, reach(db, roots)), "last_pull": last_pull,
    }


def bytes_of(db: sqlite3.Connection, digests: set[str]) -> int:
    """Bytes of the cached blobs and manifests among `digests`, each counted once."""
    encoded = json.dumps(sorted(digests))
    row = db.execute(
        "SELECT (SELECT coalesce(sum(size), 0) FROM blobs WHERE digest IN (SELECT value FROM json_each(?)))"
        " + (SELECT coalesce(sum(size), 0) FROM manifests WHERE digest IN (SELECT value FROM json_each(?)))",
        (encoded, encoded),
    ).fetchone()
    return int(row[0])


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class Catalog:
    """Async access to the queries above, on the index's own thread."""

    def __init__(self, index: Index) -> None:
        self._index = index

    async def open(self) -> None:
        await self._index.run(lambda db: db.executescript(SCHEMA))

    async def stats(self) -> dict[str, Any]:
        return await self._index.run(stats)

    async def total_bytes(self) -> int:
        return await self._index.run(total_bytes)

    async def repositories(self, registry: str = "", prefix: str = "", limit: int = 100,
                           cursor: str = "") -> list[dict[str, Any]]:
        return await self._index.run(lambda db: repositories(db, registry, prefix, limit, cursor))

    async def pins(self) -> list[Pin]:
        rows = await self._index.run(
            lambda db: db.execute("SELECT registry, repository, tag FROM pins ORDER BY 1, 2, 3").fetchall())
        return [Pin(*row) for row in rows]

    async def add_pin(self, pin: Pin) -> None:
        await self._index.run(lambda db: db.execute(
            "INSERT OR IGNORE INTO pins VALUES (?, ?, ?, ?)", (pin.registry, pin.repository, pin.tag, time.time())))

    async def remove_pin(self, pin: Pin) -> bool:
        removed = await self._index.run(lambda db: db.execute(
            "DELETE FROM pins WHERE registry = ? AND repository = ? AND tag = ?",
            (pin.registry, pin.repository, pin.tag)).rowcount)
        return removed > 0
