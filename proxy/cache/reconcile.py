"""Start-up reconcile: make the index and the files agree.

- A file without an index row (a crash between rename and insert, or a restored
  backup) is hashed: if it matches its digest it is indexed, otherwise removed.
- A row without a file is dropped (its entry is fetched again when next needed).
- Anything under blobs/ or manifests/ that is not a digest-named file is removed.

Runs once, on the index thread, before kura serves; returns counts for the log.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Callable

from ..errors import DigestInvalid
from ..mediatypes import manifest_children, media_type_from_body
from ..reference import Digest, parse_digest
from .paths import CachePaths

log = logging.getLogger(__name__)


def reconcile(db: sqlite3.Connection, paths: CachePaths) -> dict[str, int]:
    db.execute("BEGIN")
    try:
        report = _reconcile(db, paths)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return report


def _reconcile(db: sqlite3.Connection, paths: CachePaths) -> dict[str, int]:
    report = {"indexed": 0, "removed_files": 0, "dropped_rows": 0}
    for table, root, path_of in (("blobs", paths.blobs_dir, paths.blob),
                                 ("manifests", paths.manifests_dir, paths.manifest)):
        rows = {digest: size for digest, size in db.execute(f"SELECT digest, size FROM {table}")}
        on_disk = set()
        for path, digest in _files(root, path_of):
            if digest is None:
                _remove(path, report)
            elif str(digest) in rows:
                on_disk.add(str(digest))
            elif _verified(path, digest):
                _index(db, table, path, str(digest))
                on_disk.add(str(digest))
                report["indexed"] += 1
            else:
                _remove(path, report)
        missing = sorted(set(rows) - on_disk)
        for digest in missing:
            db.execute(f"DELETE FROM {table} WHERE digest = ?", (digest,))
            if table == "manifests":
                db.execute("DELETE FROM manifest_refs WHERE manifest = ?", (digest,))
        report["dropped_rows"] += len(missing)
    return report


def _files(root: Path, path_of: Callable[[Digest], Path]) -> list[tuple[Path, Digest | None]]:
    """Every file under root, with its digest when its place is the one CachePaths
    would build for that digest."""
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            try:
                digest = parse_digest(f"{path.parent.parent.name}:{name}")
            except DigestInvalid:
                digest = None
            found.append((path, digest if digest and path_of(digest) == path else None))
    return found


def _verified(path: Path, digest: Digest) -> bool:
    hasher = hashlib.new(digest.algorithm)
    with open(path, "rb") as file:
        while chunk := file.read(1024 * 1024):
            hasher.update(chunk)
    return hasher.hexdigest() == digest.encoded


def _index(db: sqlite3.Connection, table: str, path: Path, digest: str) -> None:
    now = time.time()
    size = path.stat().st_size
    if table == "blobs":
        db.execute("INSERT OR REPLACE INTO blobs VALUES (?,?,?,?)", (digest, size, now, now))
        return
    body = path.read_bytes()
    db.execute("INSERT OR REPLACE INTO manifests VALUES (?,?,?,?,?)",
               (digest, media_type_from_body(body) or "application/octet-stream", size, now, now))
    for child in manifest_children(body):
        db.execute("INSERT OR IGNORE INTO manifest_refs VALUES (?,?,?)", (digest, child.digest, child.kind))


def _remove(path: Path, report: dict[str, int]) -> None:
    try:
        path.unlink()
        report["removed_files"] += 1
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc.strerror)
