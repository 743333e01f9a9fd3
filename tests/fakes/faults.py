"""Fault switches, and the middleware that records every request and applies them.

Handlers read the switches at request time, so a test may flip them at any moment from
its own thread: plain attribute writes are atomic, and the one read-modify-write
(counting CDN drops down) takes a lock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields

from aiohttp import web

from .records import Recorder, RequestRecord
from .wire import ALL_KINDS, BASE, BLOB, MANIFEST

# Docker Hub's abuse limiter answers in plain text, without rate-limit headers.
ABUSE_BODY = "Too Many Requests (HAP429).\n"


@dataclass
class Faults:
    """Failure knobs; all off by default. ``*_kinds`` name the request kinds affected.

    - ``refuse``: drop the connection without an answer (client: connection error).
    - ``status`` (for ``status_kinds``): answer that status with a plain-text body.
    - ``abuse_429`` (for ``status_kinds``): 429, plain-text body, no rate-limit headers.
    - ``latency_s`` (for ``latency_kinds``): sleep before answering.
    - ``cdn_drop_after_bytes``: the CDN sends headers and that many body bytes, then
      aborts; for the next ``cdn_drop_times`` CDN responses, then disarms itself.
    - ``cdn_corrupt``: the CDN flips one byte in the middle of each body it serves.
    - ``cdn_chunk_delay_s``/``cdn_chunk_size``: the CDN sleeps between chunks.
    - ``cdn_ignore_range``: the CDN answers 200 with the full body despite ``Range``.
    """

    refuse: bool = False
    refuse_kinds: set[str] = field(default_factory=lambda: set(ALL_KINDS))
    status: int | None = None
    status_kinds: set[str] = field(default_factory=lambda: {MANIFEST, BLOB, BASE})
    abuse_429: bool = False
    latency_s: float = 0.0
    latency_kinds: set[str] = field(default_factory=lambda: set(ALL_KINDS))
    cdn_drop_after_bytes: int | None = None
    cdn_drop_times: int = 1
    cdn_corrupt: bool = False
    cdn_chunk_delay_s: float = 0.0
    cdn_chunk_size: int = 64 * 1024
    cdn_ignore_range: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def clear(self) -> None:
        """Switch every fault off (back to the defaults)."""
        defaults = Faults()
        with self._lock:
            for f in fields(self):
                if f.name != "_lock":
                    setattr(self, f.name, getattr(defaults, f.name))

    def take_cdn_drop(self) -> int | None:
        """Byte count after which this CDN response must abort, or None to serve it whole."""
        with self._lock:
            limit = self.cdn_drop_after_bytes
            if limit is None:
                return None
            self.cdn_drop_times -= 1
            if self.cdn_drop_times <= 0:
                # Disarm, so that setting cdn_drop_after_bytes again later works as is.
                self.cdn_drop_after_bytes, self.cdn_drop_times = None, 1
            return limit


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_RECORD = web.RequestKey("fake_hub_record", RequestRecord)


def _refuse(request: web.Request) -> web.Response:
    # Abort rather than stop listening: pooled keep-alive connections must fail too.
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=503)  # never sent; aiohttp swallows the write error


def _fault_response(faults: Faults, kind: str) -> web.Response | None:
    if kind not in faults.status_kinds:
        return None
    if faults.abuse_429:
        return web.Response(status=429, text=ABUSE_BODY)
    if faults.status is not None:
        reason = web.Response(status=faults.status).reason
        return web.Response(status=faults.status, text=f"{faults.status} {reason}\n")
    return None


def instrument(
    app: web.Application,
    recorder: Recorder,
    faults: Faults,
    kind_of: Callable[[web.Request], str],
) -> None:
    """Record every request of ``app`` (before answering) and apply the faults."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        kind = kind_of(request)
        record = recorder.add(request, kind)
        request[_RECORD] = record
        if faults.refuse and kind in faults.refuse_kinds:
            recorder.set_status(record, 0)
            return _refuse(request)
        if faults.latency_s and kind in faults.latency_kinds:
            await asyncio.sleep(faults.latency_s)
        if (fault := _fault_response(faults, kind)) is not None:
            return fault
        return await handler(request)

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        if (record := request.get(_RECORD)) is not None:
            recorder.set_status(record, response.status)

    app.middlewares.append(middleware)
    app.on_response_prepare.append(on_prepare)
