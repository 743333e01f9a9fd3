"""What the admin subcommands share: reaching a running kura, and shell conventions.

Exit codes: 0 success; 1 the operation failed (kura unreachable, refused, not
found); 2 bad usage or configuration. Messages go to stderr, prefixed `kura:`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from typing import Any

DEFAULT_URL = "http://127.0.0.1:5000"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class CliError(Exception):
    """A failure to report as one line on stderr, with an exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=os.environ.get("KURA_URL", DEFAULT_URL),
                        help=f"kura's address (env KURA_URL; default {DEFAULT_URL})")
    parser.add_argument("--token", default=None,
                        help="admin token (default: env KURA_ADMIN_TOKEN or --token-file)")
    parser.add_argument("--token-file", default=os.environ.get("KURA_ADMIN_TOKEN_FILE"),
                        help="file holding the admin token (env KURA_ADMIN_TOKEN_FILE)")
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")


def token_from(args: argparse.Namespace) -> str | None:
    if args.token:
        return args.token
    if os.environ.get("KURA_ADMIN_TOKEN"):
        return os.environ["KURA_ADMIN_TOKEN"]
    if args.token_file:
        try:
            with open(args.token_file) as file:
                return file.read().strip()
        except OSError as exc:
            raise CliError(f"cannot read token file {args.token_file}: {exc.strerror}", 2) from None
    return None


def call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    """One admin request; the parsed JSON answer, or CliError with kura's message."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(args.url.rstrip("/") + path, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    token = token_from(args)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise CliError(_http_failure(exc, token)) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CliError(f"cannot reach kura at {args.url}: {reason}") from None


def _http_failure(exc: urllib.error.HTTPError, token: str | None) -> str:
    try:
        message = json.loads(exc.read())["errors"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        message = exc.reason
    if exc.code == 401:
        hint = "wrong admin token" if token else "no admin token (set KURA_ADMIN_TOKEN or --token)"
        return f"unauthorized: {hint}"
    if exc.code == 404 and message.startswith("no route"):
        return "the admin API is disabled on this kura (no admin token configured)"
    return f"{message} (HTTP {exc.code})"


def parse_duration(text: str) -> float:
    """`90`, `45s`, `30m`, `12h`, `7d`, `2w` -> seconds."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 7d, 12h, 30m)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def human_bytes(size: float | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


def run_safely(func: Any, args: argparse.Namespace) -> int:
    try:
        return int(func(args) or 0)
    except CliError as exc:
        print(f"kura: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
