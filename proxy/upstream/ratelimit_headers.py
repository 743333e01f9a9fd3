"""Docker Hub's rate-limit headers and 429 bodies, parsed (SPEC "Facing Docker Hub").

`ratelimit-limit: 100;w=21600` and `ratelimit-remaining: 76;w=21600` on manifest
responses; a pull-limit 429 carries a JSON `TOOMANYREQUESTS` body, an abuse-limit 429
does not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

PULL_LIMIT, ABUSE = "pull_limit", "abuse"  # the two kinds of 429


@dataclass(frozen=True, slots=True)
class RateFigure:
    count: int
    window_s: int | None


def parse_ratelimit(value: str | None) -> RateFigure | None:
    """`100;w=21600` -> RateFigure(100, 21600); extra `;` parameters and whitespace are
    tolerated; anything unparseable is None."""
    if not value:
        return None
    first, *params = value.split(";")
    try:
        count = int(first.strip())
    except ValueError:
        return None
    window = None
    for param in params:
        key, _, raw = param.partition("=")
        if key.strip().lower() == "w" and raw.strip().isdigit():
            window = int(raw.strip())
    return RateFigure(count, window)


def classify_429(body: bytes | None) -> str:
    """PULL_LIMIT for Docker Hub's JSON `TOOMANYREQUESTS` body, ABUSE for anything else."""
    try:
        document = json.loads(body or b"")
        codes = {error.get("code") for error in document.get("errors", [])}
    except (ValueError, AttributeError, TypeError):
        return ABUSE
    return PULL_LIMIT if "TOOMANYREQUESTS" in codes else ABUSE


def parse_retry_after(value: str | None) -> float | None:
    """Delay-seconds form only (what registries send); None when absent or a date."""
    return float(value.strip()) if value and value.strip().isdigit() else None
