"""The memory backend: a registry held in dicts, checking the hub's tokens itself.

Every method runs on the hub's event-loop thread (tests reach it through ``Hub``), so
the dicts need no lock. Where Distribution and this backend differ, the difference is
deliberate and small: a manifest whose media type the client did not accept is a 404
here (Distribution rewrites a manifest list to its linux/amd64 entry), and tokens get no
clock leeway (Distribution allows 60 s).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from .images import Image, Index
from .signing import InvalidToken
from .tokens import TokenIssuer
from .wire import API_VERSION_HEADER, accepted_types, challenge, error_response, tags_page


@dataclass
class _Repo:
    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # digest -> (type, bytes)
    tags: dict[str, str] = field(default_factory=dict)  # tag -> digest
    blobs: set[str] = field(default_factory=set)  # digests linked into this repo


class MemoryBackend:
    """In-memory registry answering like Distribution behind Docker Hub's front."""

    def __init__(self, issuer: TokenIssuer, realm: str, require_auth: bool = True) -> None:
        self._issuer, self._realm, self._require_auth = issuer, realm, require_auth
        self._repos: dict[str, _Repo] = {}
        self._blobs: dict[str, bytes] = {}  # content-addressed, shared by all repos

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def _deny(self, auth: str | None, name: str) -> web.Response | None:
        """The 401 to answer when ``auth`` does not allow pulling ``name``, else None."""
        if not self._require_auth:
            return None
        try:
            claims = self._issuer.claims(auth)
        except InvalidToken:
            error = None  # no usable token: a plain challenge
        else:
            if not name or self._issuer.allows(claims, name, "pull"):
                return None
            error = "insufficient_scope"
        header = challenge(self._realm, f"repository:{name}:pull" if name else None, error)
        return error_response(
            401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": header}
        )

    async def base(self, auth: str | None) -> web.Response:
        return self._deny(auth, "") or web.json_response({}, headers=API_VERSION_HEADER)

    def _lookup(self, name: str, ref: str) -> tuple[str, str, bytes] | web.Response:
        repo = self._repos.get(name)
        if repo is None:
            return error_response(404, "NAME_UNKNOWN", "repository name not known to registry")
        digest = ref if ":" in ref else repo.tags.get(ref)
        if digest is None or digest not in repo.manifests:
            return error_response(404, "MANIFEST_UNKNOWN", "manifest unknown")
        media_type, body = repo.manifests[digest]
        return digest, media_type, body

    async def manifest(
        self, method: str, name: str, ref: str, accept: list[str], auth: str | None
    ) -> web.Response:
        if denied := self._deny(auth, name):
            return denied
        found = self._lookup(name, ref)
        if isinstance(found, web.Response):
            return found
        digest, media_type, body = found
        accepted = accepted_types(accept)
        if accepted is not None and media_type not in accepted:
            return error_response(404, "MANIFEST_UNKNOWN", f"{media_type} not in Accept")
        headers = {**API_VERSION_HEADER, "Docker-Content-Digest": digest, "Etag": f'"{digest}"'}
        # aiohttp keeps Content-Length and drops the body itself for HEAD.
        return web.Response(body=body, headers={**headers, "Content-Type": media_type})

    async def blob_head(self, name: str, digest: str, auth: str | None) -> web.Response:
        if denied := self._deny(auth, name):
            return denied
        size = await self.blob_size(name, digest)
        if size is None:
            return error_response(404, "BLOB_UNKNOWN", "blob unknown to registry")
        headers = {
            **API_VERSION_HEADER,
            "Content-Length": str(size),
            "Content-Type": "application/octet-stream",
            "Docker-Content-Digest": digest,
            "Etag": f'"{digest}"',
            "Accept-Ranges": "bytes",
        }
        return web.Response(headers=headers)

    async def tags(self, name: str, query: Mapping[str, str], auth: str | None) -> web.Response:
        if denied := self._deny(auth, name):
            return denied
        repo = self._repos.get(name)
        if repo is None:
            return error_response(404, "NAME_UNKNOWN", "repository name not known to registry")
        return tags_page(name, list(repo.tags), query)

    async def blob_size(self, name: str, digest: str) -> int | None:
        repo = self._repos.get(name)
        if repo is None or digest not in repo.blobs:
            return None
        return len(self._blobs[digest])

    async def blob_chunks(
        self, name: str, digest: str, start: int, end: int, chunk_size: int
    ) -> AsyncIterator[bytes]:
        view = memoryview(self._blobs[digest])
        for offset in range(start, end, chunk_size):
            yield bytes(view[offset : min(offset + chunk_size, end)])

    def _put_manifest(
        self, repo: str, digest: str, media_type: str, body: bytes, tag: str | None
    ) -> None:
        entry = self._repos.setdefault(repo, _Repo())
        entry.manifests[digest] = (media_type, body)
        if tag is not None:
            entry.tags[tag] = digest

    async def put_image(self, repo: str, image: Image, tag: str | None) -> None:
        self._blobs.update(image.blobs)
        self._repos.setdefault(repo, _Repo()).blobs.update(image.blobs)
        self._put_manifest(
            repo, image.manifest_digest, image.manifest_media_type, image.manifest_bytes, tag
        )

    async def put_index(self, repo: str, index: Index, tag: str | None) -> None:
        for image in index.images:
            await self.put_image(repo, image, None)
        self._put_manifest(
            repo, index.manifest_digest, index.manifest_media_type, index.manifest_bytes, tag
        )

    async def set_tag(self, repo: str, tag: str, digest: str) -> None:
        entry = self._repos.get(repo)
        if entry is None or digest not in entry.manifests:
            raise KeyError(f"{repo}@{digest} was never pushed")
        entry.tags[tag] = digest
