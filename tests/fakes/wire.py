"""Wire-level vocabulary shared by the fake Docker Hub's servers.

Media types, request kinds, the registry JSON error body and the Bearer challenge: one
place, so the memory backend, the front and the CDN speak exactly alike.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping

from aiohttp import web

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
INDEX_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})

SERVICE = "registry.docker.io"
API_VERSION_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}

# Request kinds as recorded by the hub. The front classifies by path; the CDN and the
# token server label everything they see with their own kind.
BASE, MANIFEST, BLOB, TAGS, OTHER = "base", "manifest", "blob", "tags", "other"
CDN, TOKEN = "cdn", "token"
ALL_KINDS = frozenset({BASE, MANIFEST, BLOB, TAGS, OTHER, CDN, TOKEN})

_MANIFEST_PATH = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
_BLOB_PATH = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<ref>[a-z0-9]+:[a-zA-Z0-9=_-]+)$")
_TAGS_PATH = re.compile(r"^/v2/(?P<name>.+)/tags/list$")


def classify(path: str) -> tuple[str, str, str]:
    """Map a registry path to ``(kind, name, reference)``; unknown paths are OTHER.

    Blob uploads (``/blobs/uploads/...``) do not match the digest pattern and so are OTHER.
    """
    if path in ("/v2", "/v2/"):
        return BASE, "", ""
    for kind, pattern in ((MANIFEST, _MANIFEST_PATH), (BLOB, _BLOB_PATH)):
        if match := pattern.match(path):
            return kind, match["name"], match["ref"]
    if match := _TAGS_PATH.match(path):
        return TAGS, match["name"], ""
    return OTHER, "", ""


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """A Distribution-style JSON error: ``{"errors":[{"code","message","detail"}]}``."""
    body = {"errors": [{"code": code, "message": message, "detail": None}]}
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers={**API_VERSION_HEADER, **(headers or {})},
    )


def tags_page(name: str, tags: list[str], query: Mapping[str, str]) -> web.Response:
    """One page of a tag list: sorted, after ``last``, at most ``n``, ``Link`` to the next.

    Distribution 2.8 ignores ``n``/``last``; Docker Hub (and Distribution 3) honour them.
    """
    try:
        n = int(query["n"]) if "n" in query else None
    except ValueError:
        return error_response(400, "PAGINATION_NUMBER_INVALID", "invalid number of results")
    last = query.get("last", "")
    page = sorted(t for t in tags if t > last)
    headers = dict(API_VERSION_HEADER)
    if n is not None and len(page) > n:
        page = page[:n]
        headers["Link"] = f'</v2/{name}/tags/list?last={page[-1]}&n={n}>; rel="next"'
    return web.json_response({"name": name, "tags": page}, headers=headers)


def challenge(realm: str, scope: str | None, error: str | None = None) -> str:
    """The ``WWW-Authenticate`` value Docker Hub sends with a 401."""
    value = f'Bearer realm="{realm}",service="{SERVICE}"'
    if scope:
        value += f',scope="{scope}"'
    if error:
        value += f',error="{error}"'
    return value


def accepted_types(accept_headers: list[str]) -> set[str] | None:
    """Media types named by the client's Accept headers; None means "anything".

    A missing Accept header or a ``*/*`` entry accepts every type. Parameters (``;q=``)
    are dropped: the fake does not rank types.
    """
    types = {
        part.split(";", 1)[0].strip()
        for header in accept_headers
        for part in header.split(",")
        if part.strip()
    }
    if not types or "*/*" in types:
        return None
    return types


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """``(login, password)`` from a ``Basic`` Authorization value; None if not Basic or bad."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        login, sep, password = (
            base64.b64decode(value.strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (login, password) if sep else None
