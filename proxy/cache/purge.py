"""Removing entries from the index: purges chosen by an operator, and eviction.

The rules, in one place:
- A purge by repository or tag removes that repository's tags and manifests, then
  only the manifests and blobs that nothing else still reaches (no other tag, no
  other repository's manifest): a layer shared with another cached image stays.
- Eviction removes least-recently-used blobs outside every pin and outside `exclude`
  (blobs being read or filled), then the manifests that no longer reference any
  cached blob, then the indexes left without any cached manifest, and their tags.
- A sweep by age (`older_than_s` on creation, `unused_for_s` on last access) skips
  pinned entries and removes the same cascade as eviction.

Each selection runs in one sqlite transaction; a dry run rolls it back, so what it
reports is exactly what the real run would remove. Files are not touched here: the
janitor deletes them afterwards, from the returned `Removal`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

from .catalog import live, pinned, reach


@dataclass(slots=True)
class Removal:
    """What a selection removed (or, in a dry run, would remove)."""

    blobs: dict[str, int] = field(default_factory=dict)  # digest -> size
    manifests: dict[str, int] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)  # "registry/repository:tag"
    matched: bool = True  # False: the named repository, tag or blob is not cached
    dry_run: bool = False

    @property
    def bytes(self) -> int:
        return sum(self.blobs.values()) + sum(self.manifests.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run, "bytes": self.bytes, "blobs": len(self.blobs),
            "manifests": len(self.manifests), "tags": len(self.tags),
            "digests": sorted(self.blobs) + sorted(self.manifests), "tag_names": sorted(self.tags),
        }


class Selection(Protocol):
    def apply(self, db: sqlite3.Connection, removal: Removal) -> None: ...


def run_selection(db: sqlite3.Connection, selection: Selection, dry_run: bool) -> Removal:
    removal = Removal(dry_run=dry_run)
    db.execute("BEGIN IMMEDIATE")
    try:
        selection.apply(db, removal)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("ROLLBACK" if dry_run or not removal.matched else "COMMIT")
    return removal


# -- selections -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Repository:
    registry: str
    repository: str

    def apply(self, db: sqlite3.Connection, removal: Removal) -> None:
        key = (self.registry, self.repository)
        roots = _column(db, "SELECT digest FROM repository_manifests WHERE registry=? AND repository=?"
                            " UNION SELECT digest FROM tags WHERE registry=? AND repository=?", key + key)
        if not roots:
            removal.matched = False
            return
        _drop_tags(db, "registry=? AND repository=?", key, removal)
        db.execute("DELETE FROM repository_manifests WHERE registry=? AND repository=?", key)
        _collect(db, reach(db, roots), removal)


@dataclass(frozen=True, slots=True)
class Tag:
    registry: str
    repository: str
    tag: str

    def apply(self, db: sqlite3.Connection, removal: Removal) -> None:
        key = (self.registry, self.repository)
        targets = _column(db, "SELECT digest FROM tags WHERE registry=? AND repository=? AND tag=?",
                          key + (self.tag,))
        if not targets:
            removal.matched = False
            return
        _drop_tags(db, "registry=? AND repository=? AND tag=?", key + (self.tag,), removal)
        candidates = reach(db, targets)
        still_tagged = reach(db, _column(db, "SELECT digest FROM tags WHERE registry=? AND repository=?", key))
        db.execute("DELETE FROM repository_manifests WHERE registry=? AND repository=?"
                   " AND digest IN (SELECT value FROM json_each(?))",
                   key + (json.dumps(sorted(candidates - still_tagged)),))
        _collect(db, candidates, removal)


@dataclass(frozen=True, slots=True)
class Blob:
    digest: str

    def apply(self, db: sqlite3.Connection, removal: Removal) -> None:
        if not _drop_blobs(db, [self.digest], removal):
            removal.matched = False


@dataclass(frozen=True, slots=True)
class Everything:
    def apply(self, db: sqlite3.Connection, removal: Removal) -> None:
        removal.blobs.update(db.execute("SELECT digest, size FROM blobs").fetchall())
        removal.manifests.update(db.execute("SELECT digest, size FROM manifests").fetchall())
        _drop_tags(db, "1=1", (), removal)
        for table in ("blobs", "manifests", "manifest_refs", "repository_manifests"):
            db.execute(f"DELETE FROM {table}")


@dataclass(frozen=True, slots=True)
class Filter:
    """Repositories by registry and name prefix, narrowed by age when given."""

    registry: str = ""
    prefix: str = ""
    older_than_s: float | None = None
    unused_for_s: float | None = None
    now: float = field(default_factory=time.time)

    def apply(self, db: sqlite3.Connection, removal: Removal) -> None:
        protected = pinned(db)
        repos = db.execute(
            "SELECT registry, repository FROM repository_manifests UNION SELECT registry, repository FROM tags"
        ).fetchall()
        chosen = [(r, n) for r, n in repos if self.registry in ("", r) and n.startswith(self.prefix)]
        if self.older_than_s is None and self.unused_for_s is None:
            for registry, repository in chosen:
                if not _repository_pinned(db, registry, repository):
                    Repository(registry, repository).apply(db, removal)
            return
        scope = None
        if self.registry or self.prefix:
            scope = set().union(*(reach(db, _roots(db, r, n)) for r, n in chosen)) if chosen else set()
        self._sweep(db, removal, protected, scope)

    def _sweep(self, db: sqlite3.Connection, removal: Removal, protected: set[str], scope: set[str] | None) -> None:
        created = self.now - self.older_than_s if self.older_than_s is not None else None
        used = self.now - self.unused_for_s if self.unused_for_s is not None else None
        condition = "(? IS NOT NULL AND created_at < ?) OR (? IS NOT NULL AND last_access < ?)"
        params = (created, created, used, used)

        def stale(table: str) -> list[str]:
            found = _column(db, f"SELECT digest FROM {table} WHERE {condition}", params)
            return [d for d in found if d not in protected and (scope is None or d in scope)]

        manifests = stale("manifests")
        _drop_manifests(db, manifests, removal)
        _collect(db, reach(db, manifests), removal)
        blobs = stale("blobs")
        _drop_blobs(db, blobs, removal)
        _cascade(db, blobs, removal)


@dataclass(frozen=True, slots=True)
class Evict:
    """Least-recently-used unpinned blobs worth at least `need_bytes`, or nothing at all."""

    need_bytes: int
    exclude: frozenset[str] = frozenset()

    def apply(self, db: sqlite3.Connection, removal: Removal) -> None:
        protected = pinned(db) | self.exclude
        chosen: list[str] = []
        freed = 0
        cursor = db.execute("SELECT digest, size FROM blobs ORDER BY last_access, created_at")
        for digest, size in cursor:
            if digest in protected:
                continue
            chosen.append(digest)
            freed += size
            if freed >= self.need_bytes:
                break
        cursor.close()
        if freed < self.need_bytes:
            removal.matched = False  # evicting would not make room: keep everything
            return
        _drop_blobs(db, chosen, removal)
        _cascade(db, chosen, removal)


# -- shared steps -----------------------------------------------------------------------


def _column(db: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[str]:
    return [row[0] for row in db.execute(sql, params)]


def _roots(db: sqlite3.Connection, registry: str, repository: str) -> list[str]:
    key = (registry, repository)
    return _column(db, "SELECT digest FROM repository_manifests WHERE registry=? AND repository=?"
                       " UNION SELECT digest FROM tags WHERE registry=? AND repository=?", key + key)


def _repository_pinned(db: sqlite3.Connection, registry: str, repository: str) -> bool:
    return db.execute("SELECT 1 FROM pins WHERE registry=? AND repository=?",
                      (registry, repository)).fetchone() is not None


def _drop_tags(db: sqlite3.Connection, where: str, params: tuple[Any, ...], removal: Removal) -> None:
    for registry, repository, tag in db.execute(f"SELECT DISTINCT registry, repository, tag FROM tags WHERE {where}",
                                                params).fetchall():
        removal.tags.add(f"{registry}/{repository}:{tag}")
    db.execute(f"DELETE FROM tags WHERE {where}", params)


def _in(digests: Iterable[str]) -> str:
    return json.dumps(sorted(set(digests)))


def _drop_manifests(db: sqlite3.Connection, digests: Iterable[str], removal: Removal) -> None:
    """Manifests with their references, the tags naming them and repository links."""
    encoded = _in(digests)
    rows = db.execute("SELECT digest, size FROM manifests WHERE digest IN (SELECT value FROM json_each(?))",
                      (encoded,)).fetchall()
    removal.manifests.update(rows)
    _drop_tags(db, "digest IN (SELECT value FROM json_each(?))", (encoded,), removal)
    for table, column in (("manifests", "digest"), ("manifest_refs", "manifest"),
                          ("repository_manifests", "digest")):
        db.execute(f"DELETE FROM {table} WHERE {column} IN (SELECT value FROM json_each(?))", (encoded,))


def _drop_blobs(db: sqlite3.Connection, digests: Iterable[str], removal: Removal) -> bool:
    encoded = _in(digests)
    rows = db.execute("SELECT digest, size FROM blobs WHERE digest IN (SELECT value FROM json_each(?))",
                      (encoded,)).fetchall()
    removal.blobs.update(rows)
    db.execute("DELETE FROM blobs WHERE digest IN (SELECT value FROM json_each(?))", (encoded,))
    return bool(rows)


def _collect(db: sqlite3.Connection, candidates: set[str], removal: Removal) -> None:
    """Drop the candidates (manifests and blobs) that nothing live reaches any more."""
    dead = candidates - live(db)
    _drop_manifests(db, dead, removal)
    _drop_blobs(db, dead, removal)


def _cascade(db: sqlite3.Connection, removed_blobs: Iterable[str], removal: Removal) -> None:
    """Manifests left referencing no cached blob, then indexes left with no manifest."""
    images = _column(db, "SELECT DISTINCT manifest FROM manifest_refs WHERE child IN (SELECT value FROM json_each(?))"
                         " AND NOT EXISTS (SELECT 1 FROM manifest_refs r JOIN blobs b ON b.digest = r.child"
                         " WHERE r.manifest = manifest_refs.manifest)", (_in(removed_blobs),))
    _drop_manifests(db, images, removal)
    indexes = _column(db, "SELECT DISTINCT manifest FROM manifest_refs WHERE child IN (SELECT value FROM json_each(?))"
                          " AND NOT EXISTS (SELECT 1 FROM manifest_refs r JOIN manifests m ON m.digest = r.child"
                          " WHERE r.manifest = manifest_refs.manifest)", (_in(images),))
    _drop_manifests(db, indexes, removal)
