"""create_app(settings): everything hangs off the application object; no globals."""

from __future__ import annotations

import asyncio
import logging
import shutil
from typing import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Middleware

from .api.admin_auth import admin_auth
from .api.access import client_auth_middleware
from .api.keys import SERVICES, Services
from .api.middlewares import registry_errors
from .api.observe import count_bytes_served, observe_requests
from .api.routes import add_routes
from .cache.index import Index
from .cache.inflight import Fills
from .cache.janitor import Janitor
from .cache.janitor_metrics import JanitorCollector
from .cache.manifests import ManifestStore
from .cache.paths import CachePaths
from .config import Settings
from .metrics import Metrics
from .probe import monitoring
from .logs import echo_request_id, log_upstream_event
from .pullthrough.blobs import BlobService
from .pullthrough.manifests import ManifestService
from .pullthrough.warm import WarmJobs
from .ratelimit import QuotaTracker
from .upstream.pool import Upstreams

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> web.Application:
    middlewares: list[Middleware] = [observe_requests, registry_errors]
    if settings.clients.enabled:
        middlewares.append(client_auth_middleware(settings.clients))
    middlewares.append(admin_auth)  # /admin only: bearer token, 404 when disabled
    app = web.Application(middlewares=middlewares, client_max_size=1024 * 1024)
    app[SERVICES] = build_services(settings)
    app.on_response_prepare.append(echo_request_id)
    app.cleanup_ctx.append(_lifecycle)
    app.cleanup_ctx.append(monitoring)  # after _lifecycle: the upstream clients exist
    app.on_response_prepare.append(count_bytes_served)
    add_routes(app)
    return app


def build_services(settings: Settings) -> Services:
    paths = CachePaths(settings.cache_dir)
    index = Index(paths.index_file)
    upstreams = Upstreams(settings)
    store = ManifestStore(paths, index, settings.manifest_memory_bytes)
    fills = Fills(settings.fill_timeout_s)
    quota = QuotaTracker(settings)
    manifests = ManifestService(store, index, upstreams, settings.tag_ttl_s, quota=quota)
    janitor = Janitor(settings, paths, index, store, on_removed=manifests.forget_tags)
    blobs = BlobService(paths, index, upstreams, fills, settings.resume_attempts, janitor)
    metrics = Metrics(quota, lambda: len(fills), settings.cache_dir)
    metrics.registry.register(JanitorCollector(janitor))
    return Services(
        settings=settings,
        paths=paths,
        index=index,
        upstreams=upstreams,
        manifests=manifests,
        blobs=blobs,
        janitor=janitor,
        warm=WarmJobs(manifests, blobs, settings.warm_platforms),
        quota=quota,
        metrics=metrics,
    )


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]
    await asyncio.to_thread(_prepare_cache_dir, services.paths)
    await services.index.open()
    await services.janitor.start()
    await services.upstreams.start()
    for client in services.upstreams.all():
        client.observers.append(log_upstream_event)
    log.info("cache at %s; upstreams: %s", services.paths.root, _describe_upstreams(services.settings))
    try:
        yield
    finally:
        await services.warm.close()
        # Graceful stop: downloads whose clients left still finish, within what is left
        # of the one shutdown_grace_s budget the in-flight responses already used part of
        # (the server sets the deadline when shutdown begins; else the whole grace).
        grace_s = services.settings.shutdown_grace_s
        if services.shutdown_deadline is not None:
            grace_s = min(grace_s, services.shutdown_deadline - asyncio.get_running_loop().time())
        await services.blobs.fills.drain(grace_s)
        await services.blobs.fills.close()
        await services.janitor.close()
        await services.upstreams.close()
        await services.index.close()


def _prepare_cache_dir(paths: CachePaths) -> None:
    """Create the tree and drop leftovers of fills a crash interrupted."""
    if paths.tmp_dir.exists():
        shutil.rmtree(paths.tmp_dir)
    paths.create_dirs()


def _describe_upstreams(settings: Settings) -> str:
    parts = []
    for registry, upstream in settings.upstreams.items():
        who = f"as {upstream.credential.username}" if upstream.credential else "anonymous"
        parts.append(f"{registry}={upstream.url} ({who})")
    return ", ".join(parts)
