"""A minimal registry v2 pull client for tests (what containerd does, in miniature)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

ALL_MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "*/*",
])


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def fetch(
    session: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str] | None = None
) -> Reply:
    async with session.request(method, url, headers=headers or {}, allow_redirects=False) as response:
        body = await response.read()
        return Reply(response.status, dict(response.headers), body)


async def pull_image(session: aiohttp.ClientSession, base: str, name: str, tag: str, query: str = "") -> dict[str, bytes]:
    """Pull a tag like a client: manifest (and children for an index), then every blob.
    Returns digest -> bytes for everything fetched, each checked against its digest."""
    fetched: dict[str, bytes] = {}
    await _pull_manifest(session, base, name, tag, query, fetched)
    return fetched


async def _pull_manifest(session: aiohttp.ClientSession, base: str, name: str, ref: str,
                         query: str, fetched: dict[str, bytes]) -> None:
    reply = await fetch(session, "GET", f"{base}/v2/{name}/manifests/{ref}{query}", {"Accept": ALL_MANIFEST_TYPES})
    assert reply.status == 200, (reply.status, reply.body[:300])
    digest = reply.headers["Docker-Content-Digest"]
    assert digest == "sha256:" + hashlib.sha256(reply.body).hexdigest()
    fetched[digest] = reply.body
    document = reply.json()
    for child in document.get("manifests", []):
        await _pull_manifest(session, base, name, child["digest"], query, fetched)
    for blob in [document.get("config")] + document.get("layers", []):
        if blob:
            fetched[blob["digest"]] = await get_blob(session, base, name, blob["digest"], query)


async def get_blob(session: aiohttp.ClientSession, base: str, name: str, digest: str, query: str = "") -> bytes:
    reply = await fetch(session, "GET", f"{base}/v2/{name}/blobs/{digest}{query}")
    assert reply.status == 200, (reply.status, reply.body[:300])
    assert "sha256:" + hashlib.sha256(reply.body).hexdigest() == digest
    return reply.body
