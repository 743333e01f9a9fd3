"""The `/quota` document: one JSON object per upstream, built from the tracker.

Times are RFC 3339 UTC strings (null when unknown). No secrets: the account name at
most, never a password or token.
"""

from __future__ import annotations

import time
from typing import Any

from ..ratelimit import QuotaTracker


def quota_report(tracker: QuotaTracker, registry: str) -> dict[str, Any]:
    state = tracker.state(registry)
    last = state.last_429
    return {
        "credential": state.credential,
        "limit": state.limit,
        "remaining": state.remaining,
        "window_s": state.window_s,
        "source": state.source,
        "observed_at": iso(state.observed_at),
        "reset_estimate": iso(state.reset_estimate()),
        "spend_rate_per_hour": _per_hour(state.spend_rate_per_s()),
        "forecast_exhausted_at": iso(state.forecast_exhausted_at()),
        "pulls_spent": state.pulls_spent,
        "pulls_saved": state.pulls_saved,
        "manifest_gets": state.manifest_gets,
        "manifest_heads": state.manifest_heads,
        "too_many_requests": dict(state.too_many),
        "last_429": None if last is None else {
            "kind": last.kind, "at": iso(last.at), "retry_after_s": last.retry_after_s,
        },
        "blocked_until": iso(state.blocked_until),
        "unlimited": state.unlimited,
        "headerless_since": iso(state.headerless_since),
        "reserve": tracker.reserve,
        "mode": tracker.mode(registry),
    }


def iso(at: float | None) -> str | None:
    if at is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _per_hour(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 3600, 2)
