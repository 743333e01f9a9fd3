"""Request observation for metrics: timing, cache results, pulls saved, bytes served.

The middleware runs outermost, so it sees every request (errors included) once the
error middleware has turned exceptions into responses. Bytes are counted when a
response starts (`on_response_prepare`), from its Content-Length: a body aborted
mid-way still counts whole, which is the cheaper error.
"""

from __future__ import annotations

import time
from typing import Awaitable, Callable

from aiohttp import web

from .keys import CACHE_RESULT, SERVICES, TARGET

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CACHED_RESULTS = ("hit", "stale")


@web.middleware
async def observe_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        return await handler(request)
    finally:
        _record(request, time.perf_counter() - started)


def _route_kind(request: web.Request) -> str:
    """A bounded label: manifests, blobs, tags, base (/v2/) or other."""
    target = request.get(TARGET)
    if target is not None:
        return target.kind
    return "base" if request.path.startswith("/v2") else "other"


def _record(request: web.Request, seconds: float) -> None:
    services = request.app[SERVICES]
    metrics = services.metrics
    metrics.request_duration.labels(_route_kind(request)).observe(seconds)
    target, result = request.get(TARGET), request.get(CACHE_RESULT)
    if target is None or result is None:
        return
    kind = "manifest" if target.kind == "manifests" else "blob"
    normal = metrics.cache_result(kind, result)
    if kind == "manifest" and request.method == "GET":
        metrics.pulled(target.registry, target.repo)
        if normal != "miss":  # answered without an upstream GET of its own
            services.quota.note_saved(target.registry)
            metrics.pulls_saved.labels(target.registry).inc()


async def count_bytes_served(request: web.Request, response: web.StreamResponse) -> None:
    result = request.get(CACHE_RESULT)
    if result is None or request.method != "GET" or response.status not in (200, 206):
        return
    length = response.content_length
    if length:
        normal = request.app[SERVICES].metrics.cache_result_name(result)
        source = "cache" if normal in CACHED_RESULTS else "upstream"
        request.app[SERVICES].metrics.bytes_served.labels(source).inc(length)
