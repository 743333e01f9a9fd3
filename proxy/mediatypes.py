"""Manifest media types, Accept negotiation and manifest references."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .cache.index import ManifestChild

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
# Schema 1 is deprecated; passed through untouched, never converted.
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MODERN_TYPES = (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX)
KNOWN_TYPES = frozenset(MODERN_TYPES + (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED))
ANY = "*"


@dataclass(frozen=True, slots=True)
class AcceptSet:
    """The manifest types a client accepts. `key` names the set in the tag index:
    one tag may resolve differently for clients that accept different types."""

    types: tuple[str, ...]  # sorted; empty means anything

    @property
    def accepts_anything(self) -> bool:
        return not self.types

    @property
    def key(self) -> str:
        return ANY if self.accepts_anything else ",".join(self.types)

    def allows(self, media_type: str) -> bool:
        return self.accepts_anything or media_type in self.types

    def upstream_header(self) -> str:
        """What kura asks the upstream for on this client's behalf."""
        types = self.types or MODERN_TYPES
        return ", ".join(types)


def parse_accept(values: list[str]) -> AcceptSet:
    """Parse one or more Accept headers. No Accept, `*/*` or only unknown types
    means "anything": kura then asks for every modern manifest type."""
    accepted: set[str] = set()
    for value in values:
        for item in value.split(","):
            media_type = item.split(";", 1)[0].strip().lower()
            if media_type in ("*/*", "application/*"):
                return AcceptSet(())
            if media_type in KNOWN_TYPES:
                accepted.add(media_type)
    return AcceptSet(tuple(sorted(accepted)))


def media_type_from_body(body: bytes) -> str:
    """The `mediaType` field, for an upstream that sent no usable Content-Type."""
    try:
        document = json.loads(body)
    except ValueError:
        return ""
    value = document.get("mediaType") if isinstance(document, dict) else None
    if isinstance(value, str):
        return value
    if isinstance(document, dict) and "manifests" in document:
        return OCI_INDEX
    if isinstance(document, dict) and "layers" in document:
        return OCI_MANIFEST
    return ""


def manifest_children(body: bytes) -> list[ManifestChild]:
    """The blobs and child manifests a manifest references (empty if unparsable)."""
    try:
        document = json.loads(body)
    except ValueError:
        return []
    if not isinstance(document, dict):
        return []
    children: list[ManifestChild] = []
    for entry in document.get("manifests") or []:
        if isinstance(entry, dict) and isinstance(entry.get("digest"), str):
            children.append(ManifestChild(entry["digest"], "manifest"))
    config = document.get("config")
    if isinstance(config, dict) and isinstance(config.get("digest"), str):
        children.append(ManifestChild(config["digest"], "blob"))
    for entry in document.get("layers") or []:
        if isinstance(entry, dict) and isinstance(entry.get("digest"), str):
            children.append(ManifestChild(entry["digest"], "blob"))
    for entry in document.get("fsLayers") or []:  # schema 1
        if isinstance(entry, dict) and isinstance(entry.get("blobSum"), str):
            children.append(ManifestChild(entry["blobSum"], "blob"))
    return list({child.digest: child for child in children}.values())
