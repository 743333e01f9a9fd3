"""Readers of cached blobs, so a purge or eviction never deletes a file under one.

A request holds a lease on a digest from before its response is prepared until the
last byte is sent (a FileResponse opens its file lazily, so an open fd alone does not
protect it). Removing an entry drops its index row at once; its file is unlinked
when the last lease is released.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)


class Leases:
    def __init__(self) -> None:
        self._holders: Counter[str] = Counter()
        self._doomed: dict[str, Path] = {}

    def acquire(self, digest: str) -> Callable[[], None]:
        """Take a lease now; the returned function releases it (calling it twice is harmless)."""
        self._holders[digest] += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._release(digest)

        return release

    def _release(self, digest: str) -> None:
        self._holders[digest] -= 1
        if self._holders[digest] <= 0:
            del self._holders[digest]
            path = self._doomed.pop(digest, None)
            if path is not None:
                _unlink(path)

    def in_use(self) -> frozenset[str]:
        return frozenset(self._holders)

    def remove(self, digest: str, path: Path) -> bool:
        """Unlink `path` now, or when the last reader of `digest` is done.
        True if it was removed now."""
        if self._holders.get(digest):
            self._doomed[digest] = path
            return False
        _unlink(path)
        return True

    @property
    def pending(self) -> int:
        return len(self._doomed)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc.strerror)
