"""What the fake hub saw: one record per request, readable from any thread.

Records are appended by the hub's event-loop thread and read by test threads, so every
access goes through one lock and readers get copies.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass

from aiohttp import hdrs, web

from .signing import unverified_subject
from .wire import basic_credentials


@dataclass
class RequestRecord:
    """One request as the hub saw it.

    ``headers`` has lower-cased names and the Authorization value cut to its scheme
    (``"Bearer"``/``"Basic"``) so that no secret lands in a test report. ``user`` is the
    Basic login presented (token server) or the Bearer token's ``sub`` (registry), if any.
    ``query`` keeps the first value per key; ``raw_query`` has them all. ``status`` is
    None until the response starts, and 0 when the connection was dropped unanswered.
    """

    method: str
    path: str
    query: dict[str, str]
    raw_query: str
    headers: dict[str, str]
    kind: str
    status: int | None
    time: float
    user: str | None


def _presented_user(authorization: str | None) -> str | None:
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "basic":
        creds = basic_credentials(authorization)
        return creds[0] if creds else None
    if scheme.lower() == "bearer":
        return unverified_subject(value.strip())
    return None


def _safe_headers(request: web.Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        if name.lower() == "authorization":
            value = value.partition(" ")[0]
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


class Recorder:
    """Thread-safe request log shared by the front, the CDN and the token server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def add(self, request: web.Request, kind: str) -> RequestRecord:
        """Record ``request`` now, before it is answered, so counts never lag a reply."""
        record = RequestRecord(
            method=request.method,
            path=request.path,
            query={k: request.query[k] for k in request.query},
            raw_query=request.query_string,
            headers=_safe_headers(request),
            kind=kind,
            status=None,
            time=time.time(),
            user=_presented_user(request.headers.get(hdrs.AUTHORIZATION)),
        )
        with self._lock:
            self._records.append(record)
        return record

    def set_status(self, record: RequestRecord, status: int) -> None:
        with self._lock:
            if record.status is None:
                record.status = status

    def counts(self, kind: str | None = None, method: str | None = None) -> int:
        """Requests seen, optionally only of one kind and/or HTTP method."""
        with self._lock:
            return sum(
                1
                for r in self._records
                if (kind is None or r.kind == kind) and (method is None or r.method == method)
            )

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return [dataclasses.replace(r) for r in self._records]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
