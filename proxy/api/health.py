"""Operational endpoints outside /v2/: unauthenticated, read-only, no secrets.

- `GET /healthz`: the process is alive (200 while the loop runs).
- `GET /readyz`: 200 when the cache directory is writable, the index answers a query
  and the default upstream answered its last request (or was never asked); else 503
  with the reasons. After a failed upstream request, /readyz itself re-checks the
  upstream (`GET /v2/`, at most every UPSTREAM_RECHECK_S), so one failure cannot keep
  the pod unready once nothing else asks the upstream. `?local=1` checks only the
  cache directory and the index: the Kubernetes readiness probe, so kura stays in its
  Service, serving the cache, while Docker Hub is down.
- `GET /quota`: per-upstream quota figures (`?probe=1` runs the free probe first).
- `GET /metrics`: Prometheus exposition.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import weakref
from dataclasses import dataclass, field

from aiohttp import web

from ..metrics import CONTENT_TYPE
from ..probe import probe
from ..upstream.client import UpstreamClient
from .keys import SERVICES, Services
from .quota_report import quota_report

log = logging.getLogger(__name__)
NO_STORE = {"Cache-Control": "no-store"}
UPSTREAM_RECHECK_S = 5.0  # at most one readiness ping per upstream this often
UPSTREAM_PING_TIMEOUT_S = 2.0
TRUE_VALUES = ("1", "true", "yes")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"}, headers=NO_STORE)


async def readyz(request: web.Request) -> web.Response:
    local = request.query.get("local") in TRUE_VALUES
    reasons = await readiness_problems(request.app[SERVICES], local=local)
    if reasons:
        return web.json_response({"status": "unready", "reasons": reasons}, status=503, headers=NO_STORE)
    return web.json_response({"status": "ready"}, headers=NO_STORE)


async def readiness_problems(services: Services, local: bool = False) -> list[str]:
    """Why kura is not ready (empty: ready). `local`: the cache only, no upstream."""
    reasons = []
    try:
        await asyncio.to_thread(_write_and_remove, services)
    except OSError as exc:
        # strerror only: no path or secret in a public answer beyond the cache's name
        reasons.append(f"cache directory is not writable: {exc.strerror or type(exc).__name__}")
    try:
        await services.index.blob_bytes()
    except Exception as exc:  # any failure of the index is a readiness failure
        reasons.append(f"cache index does not answer: {type(exc).__name__}")
    if local:
        return reasons
    default = services.settings.default_registry
    if default in services.upstreams and not await upstream_answers(services.upstreams.get(default)):
        reasons.append(f"default upstream {default} failed its last request")
    return reasons


@dataclass(slots=True)
class _Recheck:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    at: float = float("-inf")  # monotonic time of the last ping


_rechecks: weakref.WeakKeyDictionary[UpstreamClient, _Recheck] = weakref.WeakKeyDictionary()


async def upstream_answers(client: UpstreamClient) -> bool:
    """True unless the upstream's last request failed and it still does not answer.

    Once Kubernetes takes an unready pod out of its Service no client request reaches
    the upstream again, so `last_ok` alone would latch: after a failure, ping the
    upstream here, at most every UPSTREAM_RECHECK_S (concurrent probes share one
    ping; in between, the last outcome stands)."""
    if client.last_ok is not False:
        return True
    recheck = _rechecks.setdefault(client, _Recheck())
    async with recheck.lock:
        if client.last_ok is not False:  # a concurrent ping or request succeeded
            return True
        if time.monotonic() - recheck.at < UPSTREAM_RECHECK_S:
            return False
        recheck.at = time.monotonic()
        return await client.ping(UPSTREAM_PING_TIMEOUT_S)


def _write_and_remove(services: Services) -> None:
    path = services.paths.write_probe()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"ok")
    finally:
        os.close(fd)
        os.unlink(path)


async def quota(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body: dict[str, object] = {}
    if request.query.get("probe") in ("1", "true", "yes"):
        body["probe"] = await probe(services)
    tracker = services.quota
    body["default"] = services.settings.default_registry
    body["upstreams"] = {registry: quota_report(tracker, registry) for registry in tracker.registries()}
    return web.json_response(body, headers=NO_STORE, dumps=_dumps)


async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    cache_bytes = await cache_bytes_or_zero(services)
    await services.metrics.refresh(cache_bytes)
    headers = {**NO_STORE, "Content-Type": CONTENT_TYPE}
    return web.Response(body=services.metrics.exposition(), headers=headers)


def _dumps(value: object) -> str:
    return json.dumps(value, indent=2)


async def cache_bytes_or_zero(services: Services) -> int:
    """Cached blob bytes from the index; 0 (logged) when the index does not answer,
    so a broken index degrades the figures instead of failing the page."""
    try:
        return await services.index.blob_bytes()
    except Exception:
        log.warning("cache index did not answer while reading the cache size")
        return 0
