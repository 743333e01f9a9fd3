"""The URL map."""

from __future__ import annotations

from aiohttp import web

from . import health, registry, status_page
from .admin import add_admin_routes


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2/", registry.api_version)
    app.router.add_get("/v2", registry.api_version)
    app.router.add_route("*", "/v2/{tail:.+}", registry.dispatch)
    add_admin_routes(app)
    app.router.add_get("/", status_page.status_page)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/quota", health.quota)
    app.router.add_get("/metrics", health.metrics)
