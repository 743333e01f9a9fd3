"""The URL map."""

from __future__ import annotations

from aiohttp import web

from . import registry
from .admin import add_admin_routes


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2/", registry.api_version)
    app.router.add_get("/v2", registry.api_version)
    app.router.add_route("*", "/v2/{tail:.+}", registry.dispatch)
    add_admin_routes(app)
