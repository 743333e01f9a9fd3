"""Logging: JSON lines or human text, one access line per request, upstream costs.

Access lines carry method, path (never the query string: kura's own URLs hold no
secrets, but a client's might), status, bytes, duration, cache result, `ns`, client
address and request id. Upstream calls are logged at debug with what they cost against
Docker Hub's pull limit; their URLs (signed CDN URLs included) are never logged.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import IO, Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.abc import AbstractAccessLogger

from .api.keys import CACHE_RESULT
from .upstream.client import UpstreamEvent

ACCESS_LOGGER = "kura.access"
HTTP_LOGGER = "kura.http"  # aiohttp's per-connection errors, through BadRequestFilter
UPSTREAM_LOGGER = "kura.upstream"
REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID = web.RequestKey("request_id", str)
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Manifest results ("cache"/"upstream"/"stale") and blob results in one vocabulary.
_CACHE_WORDS = {"cache": "hit", "upstream": "miss"}
_RECORD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def configure_logging(level: str, log_format: str = "auto", stream: IO[str] | None = None) -> None:
    """Replace the root handlers with one writing `json` or `text` lines to `stream`
    (stderr); `auto` picks text on a TTY and JSON otherwise."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(make_formatter(log_format, stream))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # ours replaces it


def make_formatter(log_format: str, stream: IO[str]) -> logging.Formatter:
    """`json`, `text`, or `auto`: text on a TTY, JSON lines otherwise."""
    if log_format == "auto":
        log_format = "text" if stream.isatty() else "json"
    return JsonFormatter() if log_format == "json" else TextFormatter()


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRS}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_extra_fields(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message key=value ...` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = _extra_fields(record)
        if extra and record.name != ACCESS_LOGGER:  # access messages already say it all
            line += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        return line


def request_id(request: web.BaseRequest) -> str:
    """The request's id: the client's `X-Request-Id` when well-formed, else a new one."""
    existing = request.get(REQUEST_ID)
    if existing is None:
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        existing = offered if _CLIENT_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        request[REQUEST_ID] = existing
    return existing


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, streamed ones included, carries the id."""
    response.headers[REQUEST_ID_HEADER] = request_id(request)


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access-log hook: called once a response has been sent."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        fields = {
            "method": request.method,
            "path": request.path[:512],
            "status": response.status,
            "bytes": _body_bytes(request, response),
            "duration_ms": round(time * 1000, 1),
            "cache": _CACHE_WORDS.get(request.get(CACHE_RESULT, "-"), request.get(CACHE_RESULT, "-")),
            "ns": request.query.get("ns", ""),
            "client": request.remote or "",
            "request_id": request_id(request),
        }
        self.logger.info(
            "%s %s %s %sB %.1fms cache=%s ns=%s client=%s id=%s", fields["method"], fields["path"],
            fields["status"], fields["bytes"], fields["duration_ms"], fields["cache"],
            fields["ns"] or "-", fields["client"], fields["request_id"], extra=fields,
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def _body_bytes(request: web.BaseRequest, response: web.StreamResponse) -> int:
    """Body bytes of the response. aiohttp's own counter includes the header block and
    misses sendfile(), so use the announced length, which sendfile honours."""
    if request.method == "HEAD" or response.status in (204, 304):
        return 0
    if response.content_length is not None:
        return response.content_length
    return response.body_length


def log_upstream_event(event: UpstreamEvent) -> None:
    """Upstream observer: one debug line per registry response, with its cost."""
    logger = logging.getLogger(UPSTREAM_LOGGER)
    if not logger.isEnabledFor(logging.DEBUG):
        return
    spends = event.kind == "manifest" and event.method == "GET" and 200 <= event.status < 300
    remaining = event.headers.get("ratelimit-remaining", "")
    logger.debug(
        "upstream %s %s %s -> %s%s", event.registry, event.method, event.kind, event.status or "no response",
        " (spends a pull)" if spends else "",
        extra={"registry": event.registry, "method": event.method, "kind": event.kind,
               "status": event.status, "spends_pull": spends, "ratelimit_remaining": remaining},
    )


class BadRequestFilter(logging.Filter):
    """A malformed request (line too long, too many headers, bad syntax) is the client's
    fault: one warning line, not an ERROR with a traceback per request, which a
    misbehaving client could otherwise use to flood the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = "bad request refused: %s", (str(error.message)[:200],)
            record.exc_info = record.exc_text = None
        return True


def http_logger() -> logging.Logger:
    """The logger kura's HTTP server reports connection-level errors to."""
    logger = logging.getLogger(HTTP_LOGGER)
    if not any(isinstance(f, BadRequestFilter) for f in logger.filters):
        logger.addFilter(BadRequestFilter())
    return logger
