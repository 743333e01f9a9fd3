"""Admin API handlers (/admin/...): JSON in and out; auth is in admin_auth.py.

Thin like the registry handlers: parse, call the janitor, catalog or warm jobs,
shape the JSON. The document describing them is openapi.py.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..cache.catalog import Pin
from ..cache.purge import Blob, Everything, Filter, Removal, Repository, Selection, Tag
from ..errors import NameUnknown, NotFound, RegistryError
from ..reference import normalize_name, parse_digest, parse_image, validate_tag
from .keys import SERVICES
from .openapi import document

TRUE = ("1", "true", "yes")


class BadRequest(RegistryError):
    code, status, default_message = "BAD_REQUEST", 400, "bad request"


def add_admin_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/admin/openapi.json", openapi)
    r.add_get("/admin/cache", cache_stats)
    r.add_delete("/admin/cache", delete_everything)
    r.add_get("/admin/repositories", list_repositories)
    r.add_delete("/admin/repositories/{name:.+}/tags/{tag}", delete_tag)
    r.add_delete("/admin/repositories/{name:.+}", delete_repository)
    r.add_delete("/admin/blobs/{digest}", delete_blob)
    r.add_post("/admin/purge", purge)
    r.add_post("/admin/warm", warm)
    r.add_get("/admin/warm/{id}", warm_status)
    r.add_get("/admin/pins", list_pins)
    r.add_post("/admin/pins", add_pin)
    r.add_delete("/admin/pins/{name:.+}", delete_pin)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document())


async def cache_stats(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    janitor = services.janitor
    stats = await janitor.catalog.stats()
    answered, lookups = services.metrics.lookups()
    ratio = round(answered / lookups, 4) if lookups else None
    return web.json_response({**stats, **janitor.stats(), "hit_ratio": ratio, "hits": answered,
                              "misses": lookups - answered, "reconciled": janitor.reconciled})


async def list_repositories(request: web.Request) -> web.Response:
    limit = _int(request.query.get("limit", "100"), "limit", 1, 1000)
    repositories = await request.app[SERVICES].janitor.catalog.repositories(
        request.query.get("registry", ""), request.query.get("prefix", ""), limit,
        request.query.get("cursor", ""))
    last = repositories[-1] if len(repositories) == limit else None
    cursor = f"{last['registry']}/{last['name']}" if last else None
    return web.json_response({"repositories": repositories, "next_cursor": cursor})


async def delete_repository(request: web.Request) -> web.Response:
    registry, name = _repository(request)
    return await _remove(request, Repository(registry, name), f"repository {registry}/{name}")


async def delete_tag(request: web.Request) -> web.Response:
    registry, name = _repository(request)
    tag = validate_tag(request.match_info["tag"])
    return await _remove(request, Tag(registry, name, tag), f"tag {registry}/{name}:{tag}")


async def delete_blob(request: web.Request) -> web.Response:
    digest = str(parse_digest(request.match_info["digest"]))
    return await _remove(request, Blob(digest), f"blob {digest}")


async def delete_everything(request: web.Request) -> web.Response:
    if request.query.get("confirm") != "yes" and not _dry_run(request):
        raise BadRequest("deleting the whole cache needs ?confirm=yes")
    return await _remove(request, Everything(), "cache")


async def purge(request: web.Request) -> web.Response:
    body = await _json_object(request)
    known = {"older_than_s", "unused_for_s", "registry", "prefix", "dry_run"}
    unknown = set(body) - known
    if unknown:
        raise BadRequest(f"unknown purge filters: {', '.join(sorted(unknown))}")
    selection = Filter(
        registry=_str(body, "registry"), prefix=_str(body, "prefix"),
        older_than_s=_seconds(body, "older_than_s"), unused_for_s=_seconds(body, "unused_for_s"),
    )
    if not any((selection.registry, selection.prefix)) and selection.older_than_s is None \
            and selection.unused_for_s is None:
        raise BadRequest("purge needs at least one filter (use DELETE /admin/cache for everything)")
    dry_run = _dry_run(request) or body.get("dry_run") is True
    removal = await request.app[SERVICES].janitor.purge(selection, dry_run)
    return web.json_response(removal.to_json())


async def _remove(request: web.Request, selection: Selection, what: str) -> web.Response:
    removal: Removal = await request.app[SERVICES].janitor.purge(selection, _dry_run(request))
    if not removal.matched:
        raise NameUnknown(f"{what} is not in the cache")
    return web.json_response(removal.to_json())


async def warm(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await _json_object(request)
    image = body.get("image")
    platforms = body.get("platforms")
    if not isinstance(image, str) or not image:
        raise BadRequest("warm needs {\"image\": \"name:tag\"}")
    if platforms is not None and (not isinstance(platforms, list)
                                  or not all(isinstance(p, str) and p.count("/") in (1, 2) for p in platforms)):
        raise BadRequest("platforms must be a list like [\"linux/amd64\", \"linux/arm/v7\"]")
    ref = parse_image(image, list(services.settings.upstreams), services.settings.default_registry)
    job = services.warm.start(ref, platforms or None)
    return web.json_response(job.to_json(), status=202)


async def warm_status(request: web.Request) -> web.Response:
    job = request.app[SERVICES].warm.get(request.match_info["id"])
    if job is None:
        raise NotFound("no such warm-up job")
    return web.json_response(job.to_json())


async def list_pins(request: web.Request) -> web.Response:
    pins = await request.app[SERVICES].janitor.catalog.pins()
    return web.json_response({"pins": [pin.to_json() for pin in pins]})


async def add_pin(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await _json_object(request)
    repository = body.get("repository")
    if not isinstance(repository, str) or not repository:
        raise BadRequest("pin needs {\"repository\": \"name\"} and optionally \"tag\", \"registry\"")
    registry = _registry(request, _str(body, "registry"))
    tag = _str(body, "tag")
    pin = Pin(registry, normalize_name(registry, repository), validate_tag(tag) if tag else "")
    await services.janitor.catalog.add_pin(pin)
    return web.json_response(pin.to_json(), status=201)


async def delete_pin(request: web.Request) -> web.Response:
    registry, name = _repository(request)
    tag = request.query.get("tag", "")
    pin = Pin(registry, name, validate_tag(tag) if tag else "")
    if not await request.app[SERVICES].janitor.catalog.remove_pin(pin):
        raise NotFound("no such pin")
    return web.json_response(pin.to_json())


# -- parsing ------------------------------------------------------------------------------


def _repository(request: web.Request) -> tuple[str, str]:
    registry = _registry(request, request.query.get("registry", ""))
    return registry, normalize_name(registry, request.match_info["name"])


def _registry(request: web.Request, registry: str) -> str:
    services = request.app[SERVICES]
    registry = registry or services.settings.default_registry
    if registry not in services.settings.upstreams:
        raise BadRequest(f"registry {registry[:100]!r} is not a configured upstream")
    return registry


def _dry_run(request: web.Request) -> bool:
    return request.query.get("dry_run", "").lower() in TRUE


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.can_read_body else {}
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def _str(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return value


def _seconds(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e12:
        raise BadRequest(f"{key} must be a non-negative number of seconds")
    return float(value)


def _int(text: str, name: str, low: int, high: int) -> int:
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}")
    return int(text)
