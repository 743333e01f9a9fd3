"""The Distribution backend: the real registry behind the hub's front.

Registry requests are forwarded with the client's own ``Authorization`` header, so the
401s, scopes and token checks are Distribution's. The backend's own requests (CDN reads,
pushes, anonymous access when auth is off) use tokens it mints in-process rather than
asking the token server, so they never show up in the hub's request counters.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp
from aiohttp import hdrs, web
from yarl import URL

from .images import Image, Index
from .registry_process import RegistryProcess
from .tokens import ANONYMOUS, TokenIssuer
from .wire import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    accepted_types,
    tags_page,
)

PUSHER = "pusher"  # the subject of the hub's own push tokens
_ALL_MANIFEST_TYPES = ", ".join([DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX])
# Hop-by-hop and recomputed headers are not copied from the registry's answers.
_DROPPED = {"connection", "keep-alive", "transfer-encoding", "date", "content-length"}


class DistributionBackend:
    """Forwards registry calls to a private ``docker-registry`` process."""

    def __init__(
        self, issuer: TokenIssuer, realm: str, workdir: Path, require_auth: bool = True
    ) -> None:
        self._issuer, self._require_auth = issuer, require_auth
        self._process = RegistryProcess(workdir, realm, issuer.issuer, issuer.key.cert_pem_path)
        self._session: aiohttp.ClientSession | None = None

    @property
    def registry_url(self) -> str:
        """The registry's own address (bypassing the front), for debugging."""
        return self._process.url

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        await self._process.start(self._session)

    async def stop(self) -> None:
        self._process.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def _http(self) -> aiohttp.ClientSession:
        assert self._session is not None, "backend not started"
        return self._session

    def _bearer(self, subject: str, name: str, actions: list[str]) -> str:
        return f"Bearer {self._issuer.mint_for(subject, name, actions)}"

    def _client_auth(self, auth: str | None, name: str) -> str | None:
        """The client's header, or an anonymous pull token when auth is switched off."""
        if auth is None and not self._require_auth:
            return self._bearer(ANONYMOUS, name, ["pull"])
        return auth

    async def _forward(
        self, method: str, path: str, auth: str | None, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        """Send one request to the registry and copy its (small) answer."""
        sent = dict(headers or {})
        if auth is not None:
            sent[hdrs.AUTHORIZATION] = auth
        url = URL(self._process.url + path, encoded=True)
        async with self._http.request(method, url, headers=sent) as upstream:
            body = await upstream.read()
            copied = {k: v for k, v in upstream.headers.items() if k.lower() not in _DROPPED}
            if method == hdrs.METH_HEAD and hdrs.CONTENT_LENGTH in upstream.headers:
                copied[hdrs.CONTENT_LENGTH] = upstream.headers[hdrs.CONTENT_LENGTH]
            return web.Response(status=upstream.status, body=body or None, headers=copied)

    async def base(self, auth: str | None) -> web.Response:
        return await self._forward(hdrs.METH_GET, "/v2/", self._client_auth(auth, ""))

    async def manifest(
        self, method: str, name: str, ref: str, accept: list[str], auth: str | None
    ) -> web.Response:
        # No Accept or */* means "anything", as in the memory backend. Distribution 2.8
        # would instead try a schema 1 conversion and fail with 400 MANIFEST_INVALID.
        wanted = _ALL_MANIFEST_TYPES if accepted_types(accept) is None else ", ".join(accept)
        headers = {"Accept": wanted}
        return await self._forward(
            method, f"/v2/{name}/manifests/{ref}", self._client_auth(auth, name), headers
        )

    async def blob_head(self, name: str, digest: str, auth: str | None) -> web.Response:
        path, auth = f"/v2/{name}/blobs/{digest}", self._client_auth(auth, name)
        head = await self._forward(hdrs.METH_HEAD, path, auth)
        if head.status == 200:
            return head
        # A HEAD error has no body; the front may be answering a GET, which needs one.
        return await self._forward(hdrs.METH_GET, path, auth)

    async def tags(self, name: str, query: Mapping[str, str], auth: str | None) -> web.Response:
        """The full list from the registry, paginated here: Distribution 2.8 ignores ``n``."""
        path = f"/v2/{name}/tags/list"
        listed = await self._forward(hdrs.METH_GET, path, self._client_auth(auth, name))
        if listed.status != 200:
            return listed
        assert isinstance(listed.body, bytes)
        return tags_page(name, json.loads(listed.body).get("tags") or [], query)

    async def blob_size(self, name: str, digest: str) -> int | None:
        head = await self._forward(
            hdrs.METH_HEAD, f"/v2/{name}/blobs/{digest}", self._bearer(PUSHER, name, ["pull"])
        )
        return int(head.headers[hdrs.CONTENT_LENGTH]) if head.status == 200 else None

    async def blob_chunks(
        self, name: str, digest: str, start: int, end: int, chunk_size: int
    ) -> AsyncIterator[bytes]:
        """Stream a byte range straight from the registry: never the whole blob at once."""
        headers = {
            hdrs.AUTHORIZATION: self._bearer(PUSHER, name, ["pull"]),
            hdrs.RANGE: f"bytes={start}-{end - 1}",
            hdrs.ACCEPT_ENCODING: "identity",
        }
        url = f"{self._process.url}/v2/{name}/blobs/{digest}"
        async with self._http.get(url, headers=headers) as upstream:
            if upstream.status not in (200, 206) or (upstream.status == 200 and start):
                raise RuntimeError(
                    f"registry answered {upstream.status} for {name}@{digest} {start}-{end}"
                )
            async for chunk in upstream.content.iter_chunked(chunk_size):
                yield chunk

    async def _expect(self, response: aiohttp.ClientResponse, *statuses: int) -> None:
        if response.status not in statuses:
            text = (await response.text())[:500]
            raise RuntimeError(
                f"{response.method} {response.url.path} -> {response.status}: {text}"
            )

    async def _push_blob(self, repo: str, digest: str, data: bytes, auth: str) -> None:
        """Monolithic upload (POST, then PUT with ``?digest=``) unless the blob exists."""
        headers = {hdrs.AUTHORIZATION: auth}
        base = URL(self._process.url)
        async with self._http.head(base / f"v2/{repo}/blobs/{digest}", headers=headers) as head:
            if head.status == 200:
                return
        async with self._http.post(f"{base}/v2/{repo}/blobs/uploads/", headers=headers) as started:
            await self._expect(started, 202)
            location = base.join(URL(started.headers[hdrs.LOCATION], encoded=True))
        put_headers = {**headers, hdrs.CONTENT_TYPE: "application/octet-stream"}
        async with self._http.put(
            location.update_query(digest=digest), data=io.BytesIO(data), headers=put_headers
        ) as done:
            await self._expect(done, 201)

    async def _put_manifest(
        self, repo: str, ref: str, media_type: str, body: bytes, auth: str
    ) -> None:
        headers = {hdrs.AUTHORIZATION: auth, hdrs.CONTENT_TYPE: media_type}
        url = f"{self._process.url}/v2/{repo}/manifests/{ref}"
        async with self._http.put(url, data=body, headers=headers) as response:
            await self._expect(response, 201)

    async def put_image(self, repo: str, image: Image, tag: str | None) -> None:
        auth = self._bearer(PUSHER, repo, ["pull", "push"])
        for digest, data in image.blobs.items():
            await self._push_blob(repo, digest, data, auth)
        ref = image.manifest_digest if tag is None else tag
        await self._put_manifest(repo, ref, image.manifest_media_type, image.manifest_bytes, auth)

    async def put_index(self, repo: str, index: Index, tag: str | None) -> None:
        for image in index.images:
            await self.put_image(repo, image, None)
        auth = self._bearer(PUSHER, repo, ["pull", "push"])
        ref = index.manifest_digest if tag is None else tag
        await self._put_manifest(repo, ref, index.manifest_media_type, index.manifest_bytes, auth)

    async def set_tag(self, repo: str, tag: str, digest: str) -> None:
        """Re-push the manifest stored under ``digest`` with the tag as its reference."""
        auth = self._bearer(PUSHER, repo, ["pull", "push"])
        headers = {hdrs.AUTHORIZATION: auth, hdrs.ACCEPT: _ALL_MANIFEST_TYPES}
        async with self._http.get(
            f"{self._process.url}/v2/{repo}/manifests/{digest}", headers=headers
        ) as response:
            await self._expect(response, 200)
            media_type, body = response.headers[hdrs.CONTENT_TYPE], await response.read()
        await self._put_manifest(repo, tag, media_type, body, auth)
