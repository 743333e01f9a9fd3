"""Docker Hub's pull quota: ``limit`` manifest GETs per identity per ``window_s``.

Fixed windows starting at an identity's first pull (Docker Hub's are sliding; tests only
need "counts down, then 429, then refills"). Used from the hub loop and, through
``set_remaining``/``reset``, from test threads, hence the lock.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass
class _Quota:
    remaining: int
    window_start: float


class RateLimiter:
    """Per-identity pull counters plus the headers Docker Hub puts on manifests."""

    def __init__(self, limit: int, window_s: int) -> None:
        self.limit, self.window_s = limit, window_s
        self._lock = threading.Lock()
        self._quotas: dict[str, _Quota] = {}
        self._initial = limit  # what an identity not seen yet starts with

    def _quota(self, identity: str) -> _Quota:
        now = time.monotonic()
        quota = self._quotas.get(identity)
        if quota is None:
            quota = self._quotas[identity] = _Quota(self._initial, now)
        elif now - quota.window_start >= self.window_s:
            quota.remaining, quota.window_start = self.limit, now
        return quota

    def remaining(self, identity: str) -> int:
        with self._lock:
            return self._quota(identity).remaining

    def try_spend(self, identity: str) -> bool:
        """Count one pull if any is left; False (and nothing counted) when exhausted."""
        with self._lock:
            quota = self._quota(identity)
            if quota.remaining <= 0:
                return False
            quota.remaining -= 1
            return True

    def set_remaining(self, n: int, identity: str | None = None) -> None:
        """Set one identity's remaining pulls, or everyone's (also identities not seen yet)."""
        with self._lock:
            if identity is not None:
                self._quota(identity).remaining = n
                return
            self._initial = n
            for quota in self._quotas.values():
                quota.remaining = n

    def reset(self) -> None:
        """Forget every identity: all quotas full again."""
        with self._lock:
            self._quotas.clear()
            self._initial = self.limit

    def retry_after_s(self, identity: str) -> int:
        """Seconds until the identity's window refills (at least 1)."""
        with self._lock:
            quota = self._quota(identity)
            left = quota.window_start + self.window_s - time.monotonic()
        return max(1, math.ceil(left))

    def headers(self, identity: str) -> dict[str, str]:
        """``ratelimit-limit``, ``ratelimit-remaining`` and ``docker-ratelimit-source``."""
        window = f";w={self.window_s}"
        return {
            "ratelimit-limit": f"{self.limit}{window}",
            "ratelimit-remaining": f"{self.remaining(identity)}{window}",
            "docker-ratelimit-source": identity,
        }
