"""`kura quota`: Docker Hub pull quota as a running kura sees it (GET /quota)."""

from __future__ import annotations

import argparse
import datetime
import json
from typing import Any

from .client import add_connection_args, call, run_safely


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser("quota", help="upstream pull quota and forecast")
    add_connection_args(parser)
    parser.set_defaults(func=lambda args: run_safely(_quota, args))


def _quota(args: argparse.Namespace) -> int:
    answer = call(args, "GET", "/quota")
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    upstreams = answer.get("upstreams") if isinstance(answer, dict) else None
    if not isinstance(upstreams, dict) or not upstreams:
        print("no quota information yet")
        return 0
    for registry, quota in upstreams.items():
        print(render(registry, quota if isinstance(quota, dict) else {}))
    return 0


def render(registry: str, quota: dict[str, Any]) -> str:
    """A few lines per upstream; every field is optional (the endpoint may grow)."""
    lines = [f"{registry}: {_headline(quota)}"]
    details = [
        ("mode", quota.get("mode")), ("credential", quota.get("credential")), ("source", quota.get("source")),
        ("spend rate", _rate(quota.get("spend_rate_per_hour"))),
        ("pulls spent", quota.get("pulls_spent")), ("pulls saved", quota.get("pulls_saved")),
        ("reserve", quota.get("reserve")), ("observed", _when(quota.get("observed_at"))),
        ("window resets", _when(quota.get("reset_estimate"))),
        ("forecast exhausted", _when(quota.get("forecast_exhausted_at"))),
        ("blocked until", _when(quota.get("blocked_until"))),
        ("last 429", _when(quota.get("last_429"))),
    ]
    lines += [f"  {name:<19} {value}" for name, value in details if value not in (None, "")]
    return "\n".join(lines)


def _headline(quota: dict[str, Any]) -> str:
    if quota.get("unlimited"):
        return "unlimited (no rate-limit headers)"
    remaining, limit = quota.get("remaining"), quota.get("limit")
    if remaining is None and limit is None:
        return "not observed yet"
    window = quota.get("window_s")
    span = f" per {_duration(window)}" if isinstance(window, (int, float)) else ""
    return f"{remaining if remaining is not None else '?'} of {limit if limit is not None else '?'} pulls left{span}"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _rate(value: Any) -> Any:
    return f"{value:g} pulls/hour" if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _when(value: Any) -> Any:
    """Epoch seconds or ISO strings as they come; a nested object as `key=value` pairs."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={_when(v)}" for k, v in value.items() if v is not None) or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")
    return value
