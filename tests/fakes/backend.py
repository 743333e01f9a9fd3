"""What the hub's front and CDN need from a registry backend (memory or Distribution).

Registry calls take the client's ``Authorization`` header as is and return a complete,
unprepared ``web.Response``: the backend decides on 401s exactly as the registry behind
Docker Hub would, and the front may still add headers (rate limits) before sending.
Bodies are small there (manifests, tag lists, HEADs); only the CDN streams, through
``blob_size``/``blob_chunks``, which need no client credentials (the URL was signed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from aiohttp import web

from .images import Image, Index


class Backend(Protocol):
    async def start(self) -> None:
        """Bring the backend up (for Distribution: the subprocess)."""

    async def stop(self) -> None:
        """Release everything; must be safe after a failed or partial start."""

    async def base(self, auth: str | None) -> web.Response:
        """``GET /v2/``."""

    async def manifest(
        self, method: str, name: str, ref: str, accept: list[str], auth: str | None
    ) -> web.Response:
        """``GET|HEAD /v2/<name>/manifests/<ref>`` honouring the Accept headers."""

    async def blob_head(self, name: str, digest: str, auth: str | None) -> web.Response:
        """``HEAD /v2/<name>/blobs/<digest>``: 200 with length and digest, 401 or 404."""

    async def tags(self, name: str, query: Mapping[str, str], auth: str | None) -> web.Response:
        """``GET /v2/<name>/tags/list`` with ``n``/``last`` pagination and ``Link``."""

    async def blob_size(self, name: str, digest: str) -> int | None:
        """Size of a blob of repository ``name``, or None if it has no such blob."""

    def blob_chunks(
        self, name: str, digest: str, start: int, end: int, chunk_size: int
    ) -> AsyncIterator[bytes]:
        """Bytes ``[start, end)`` of the blob, in chunks of at most ``chunk_size``."""

    async def put_image(self, repo: str, image: Image, tag: str | None) -> None:
        """Store an image's blobs and manifest, tagged ``tag`` unless None."""

    async def put_index(self, repo: str, index: Index, tag: str | None) -> None:
        """Store every child image by digest, then the index, tagged ``tag`` unless None."""

    async def set_tag(self, repo: str, tag: str, digest: str) -> None:
        """Point ``tag`` at a manifest already stored in ``repo``."""
