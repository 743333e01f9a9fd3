"""Typed keys for what the application object holds."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ..cache.index import Index
from ..cache.janitor import Janitor
from ..cache.paths import CachePaths
from ..config import Settings
from ..metrics import Metrics
from ..pullthrough.blobs import BlobService
from ..pullthrough.manifests import ManifestService
from ..pullthrough.warm import WarmJobs
from ..ratelimit import QuotaTracker
from ..upstream.pool import Upstreams
from .target import Target


@dataclass(slots=True)
class Services:
    settings: Settings
    paths: CachePaths
    index: Index
    upstreams: Upstreams
    manifests: ManifestService
    blobs: BlobService
    janitor: Janitor
    warm: WarmJobs
    quota: QuotaTracker
    metrics: Metrics
    # Loop time (loop.time()) by which the whole graceful stop must be over: set by the
    # server when shutdown begins, so the fill drain gets only what the connections left.
    shutdown_deadline: float | None = None


SERVICES = web.AppKey("services", Services)
# How the cache answered a request ("hit", "miss", "stale", ...), for logs and metrics.
CACHE_RESULT = web.RequestKey("cache_result", str)
# The upstream and repository a /v2/ request is about, for metrics (set by dispatch).
TARGET = web.RequestKey("target", Target)
