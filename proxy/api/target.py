"""Parse a `/v2/...` path and query into what the client asked for."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ..errors import NameInvalid, NotFound, Unsupported
from ..reference import normalize_name
from ..upstream.pool import Upstreams

KINDS = ("manifests", "blobs", "tags")


@dataclass(frozen=True, slots=True)
class Target:
    registry: str  # the upstream, from ?ns=, a path prefix, or the default
    name: str  # as the client spelled it (for Link rewriting)
    repo: str  # normalized: library/ added on Docker Hub
    kind: str  # "manifests", "blobs" or "tags"
    reference: str  # tag, digest, or "list"
    ns: str | None  # the ?ns= value to echo as OCI-Namespace


def parse_target(request: web.Request, upstreams: Upstreams) -> Target:
    """`/v2/<name>/<kind>/<reference>`; names contain slashes, references do not."""
    if request.method not in ("GET", "HEAD"):
        raise Unsupported(f"{request.method} is not supported: kura is a pull-only mirror")
    tail = request.match_info["tail"]
    segments = tail.split("/")
    if "uploads" in segments or tail == "_catalog":
        raise Unsupported("push and catalog are not supported: kura is a pull-only mirror")
    if len(segments) < 3 or segments[-2] not in KINDS:
        raise NotFound(f"no registry endpoint at /v2/{tail[:200]}")
    ns = request.query.get("ns") or None
    name_segments = segments[:-2]
    registry = ns or upstreams.default_registry
    # podman/CRI-O mirrors may carry the registry as a path prefix: /v2/docker.io/...
    prefix = name_segments[0]
    if len(name_segments) > 1 and prefix in upstreams and ns in (None, prefix):
        registry = name_segments[0]
        name_segments = name_segments[1:]
    name = "/".join(name_segments)
    upstreams.get(registry)  # NAME_UNKNOWN for an unconfigured registry
    if not name:
        raise NameInvalid("empty repository name")
    kind, reference = segments[-2], segments[-1]
    if kind == "tags" and reference != "list":
        raise NotFound(f"no registry endpoint at /v2/{tail[:200]}")
    return Target(registry, name, normalize_name(registry, name), kind, reference, ns)
