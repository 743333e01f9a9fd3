"""The OpenAPI 3 document of the admin API, served at /admin/openapi.json.

Kept honest by tests/integration/test_admin_openapi.py, which fuzzes every operation
with schemathesis and checks each response against this document.
"""

from __future__ import annotations

from typing import Any

NUMBER_OR_NULL = {"type": ["number", "null"]}
STRINGS = {"type": "array", "items": {"type": "string"}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    names = {400: "invalid request", 401: "missing or wrong admin token",
             404: "not found (or the admin API is disabled)"}
    return {str(status): _json(_ref("Errors"), names[status]) for status in statuses}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}


DRY_RUN = _query("dry_run", {"type": "string", "enum": ["0", "1", "true", "false", "yes", "no"]},
                 "1: report what would be removed, change nothing")
REGISTRY = _query("registry", {"type": "string"}, "upstream registry (default: the default upstream)")


def _removal(summary: str, parameters: list[dict[str, Any]], *errors: int) -> dict[str, Any]:
    return {"summary": summary, "parameters": parameters,
            "responses": {"200": _json(_ref("Removal"), "what was (or would be) removed"),
                          **_errors(*errors)}}


SCHEMAS: dict[str, Any] = {
    "Errors": {"type": "object", "required": ["errors"], "properties": {"errors": {
        "type": "array", "items": {"type": "object", "required": ["code", "message"],
                                   "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}},
    "Removal": {"type": "object", "required": ["dry_run", "bytes", "blobs", "manifests", "tags", "digests"],
                "properties": {"dry_run": {"type": "boolean"}, "bytes": {"type": "integer"},
                               "blobs": {"type": "integer"}, "manifests": {"type": "integer"},
                               "tags": {"type": "integer"}, "digests": STRINGS, "tag_names": STRINGS}},
    "CacheStats": {"type": "object", "required": ["bytes", "blobs", "manifests", "tags", "repositories"],
                   "properties": {
                       "bytes": {"type": "integer"}, "blobs": {"type": "integer"},
                       "manifests": {"type": "integer"}, "tags": {"type": "integer"},
                       "repositories": {"type": "integer"}, "max_cache_bytes": {"type": ["integer", "null"]},
                       "hit_ratio": NUMBER_OR_NULL, "oldest_access": NUMBER_OR_NULL,
                       "newest_access": NUMBER_OR_NULL, "uncached_serves": {"type": "integer"}}},
    "Repository": {"type": "object", "required": ["registry", "name", "tags", "digests", "bytes"],
                   "properties": {"registry": {"type": "string"}, "name": {"type": "string"}, "tags": STRINGS,
                                  "digests": STRINGS, "bytes": {"type": "integer"}, "last_pull": NUMBER_OR_NULL}},
    "Repositories": {"type": "object", "required": ["repositories", "next_cursor"],
                     "properties": {"repositories": {"type": "array", "items": _ref("Repository")},
                                    "next_cursor": {"type": ["string", "null"]}}},
    "PurgeFilter": {"type": "object", "additionalProperties": False, "properties": {
        "older_than_s": {"type": "number", "minimum": 0}, "unused_for_s": {"type": "number", "minimum": 0},
        "registry": {"type": "string"}, "prefix": {"type": "string"}, "dry_run": {"type": "boolean"}}},
    "WarmRequest": {"type": "object", "required": ["image"], "properties": {
        "image": {"type": "string", "example": "nginx:1.27"},
        "platforms": {"type": "array", "items": {"type": "string", "example": "linux/arm64"}}}},
    "WarmJob": {"type": "object", "required": ["id", "image", "state", "layers_total", "layers_done",
                                               "bytes_total", "bytes_done", "errors"],
                "properties": {
                    "id": {"type": "string"}, "image": {"type": "string"}, "platforms": STRINGS,
                    "state": {"type": "string", "enum": ["running", "done", "failed"]},
                    "manifests_fetched": {"type": "integer"}, "layers_total": {"type": "integer"},
                    "layers_done": {"type": "integer"}, "bytes_total": {"type": "integer"},
                    "bytes_done": {"type": "integer"}, "errors": STRINGS,
                    "started_at": {"type": "number"}, "finished_at": NUMBER_OR_NULL}},
    "Pin": {"type": "object", "required": ["registry", "repository"], "properties": {
        "registry": {"type": "string"}, "repository": {"type": "string"}, "tag": {"type": ["string", "null"]}}},
    "PinRequest": {"type": "object", "required": ["repository"], "properties": {
        "repository": {"type": "string"}, "tag": {"type": "string"}, "registry": {"type": "string"}}},
}


def _paths() -> dict[str, Any]:
    body = lambda name: {"required": True, "content": {"application/json": {"schema": _ref(name)}}}  # noqa: E731
    return {
        "/admin/cache": {
            "get": {"summary": "cache totals, size limit, hit ratio, access range",
                    "responses": {"200": _json(_ref("CacheStats"), "cache statistics"), **_errors(401, 404)}},
            "delete": _removal("remove everything (needs ?confirm=yes)",
                               [_query("confirm", {"type": "string"}, "must be yes"), DRY_RUN], 400, 401, 404)},
        "/admin/repositories": {"get": {
            "summary": "cached repositories",
            "parameters": [REGISTRY, _query("prefix", {"type": "string"}, "name prefix"),
                           _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size"),
                           _query("cursor", {"type": "string"}, "next_cursor of the previous page")],
            "responses": {"200": _json(_ref("Repositories"), "one page"), **_errors(400, 401, 404)}}},
        "/admin/repositories/{name}": {"delete": _removal(
            "purge a repository (blobs shared with other cached images stay)",
            [_path("name", "repository, e.g. nginx or library/nginx"), REGISTRY, DRY_RUN], 400, 401, 404)},
        "/admin/repositories/{name}/tags/{tag}": {"delete": _removal(
            "purge a tag and what only it references",
            [_path("name", "repository"), _path("tag", "tag"), REGISTRY, DRY_RUN], 400, 401, 404)},
        "/admin/blobs/{digest}": {"delete": _removal(
            "remove one blob (a reader in progress finishes first)",
            [_path("digest", "sha256:..."), DRY_RUN], 400, 401, 404)},
        "/admin/purge": {"post": {
            "summary": "purge by registry, name prefix and age", "parameters": [DRY_RUN],
            "requestBody": body("PurgeFilter"),
            "responses": {"200": _json(_ref("Removal"), "what was removed"), **_errors(400, 401, 404)}}},
        "/admin/warm": {"post": {
            "summary": "pull an image into the cache in the background", "requestBody": body("WarmRequest"),
            "responses": {"202": _json(_ref("WarmJob"), "the job, running"), **_errors(400, 401, 404)}}},
        "/admin/warm/{id}": {"get": {
            "summary": "progress of a warm-up job", "parameters": [_path("id", "job id")],
            "responses": {"200": _json(_ref("WarmJob"), "the job"), **_errors(401, 404)}}},
        **_pin_paths(body),
    }


def _pin_paths(body: Any) -> dict[str, Any]:
    return {
        "/admin/pins": {
            "get": {"summary": "pinned repositories and tags (never evicted)",
                    "responses": {"200": _json({"type": "object", "required": ["pins"], "properties": {
                        "pins": {"type": "array", "items": _ref("Pin")}}}, "pins"), **_errors(401, 404)}},
            "post": {"summary": "pin a repository or a tag", "requestBody": body("PinRequest"),
                     "responses": {"201": _json(_ref("Pin"), "pinned"), **_errors(400, 401, 404)}}},
        "/admin/pins/{name}": {"delete": {
            "summary": "unpin", "parameters": [_path("name", "repository"), REGISTRY,
                                               _query("tag", {"type": "string"}, "the pinned tag, if any")],
            "responses": {"200": _json(_ref("Pin"), "unpinned"), **_errors(400, 401, 404)}}},
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "kura admin API", "version": "1"},
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
        "security": [{"token": []}],
        "paths": _paths(),
    }
