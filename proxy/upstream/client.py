"""One upstream registry: authenticated requests, manifests, blobs.

Every upstream HTTP status becomes a RegistryError here (`_raise_for_status`), the
single boundary where upstream failures are translated. Observers see every
registry response (for rate-limit tracking and metrics) before translation.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Mapping

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from ..config import UpstreamSettings
from ..errors import (
    ManifestInvalid,
    RegistryError,
    UpstreamFailed,
    UpstreamUnavailable,
    translate_upstream_status,
)
from .auth import Challenge, TokenCache, parse_challenge

log = logging.getLogger(__name__)

MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # Distribution's own limit
MAX_REDIRECTS = 5
ERROR_BODY_BYTES = 64 * 1024  # enough to tell a pull-limit 429 from an abuse 429
UNREACHABLE_BACKOFF_S = 5.0
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, ConnectionError)


@dataclass(frozen=True, slots=True)
class UpstreamEvent:
    """What an observer learns of one upstream registry response."""

    registry: str
    kind: str  # "manifest", "blob", "tags", "base"
    method: str
    status: int  # 0 when no response arrived
    headers: Mapping[str, str]
    body: bytes | None = None  # error bodies only, to tell 429 kinds apart
    at: float = 0.0


Observer = Callable[[UpstreamEvent], None]


@dataclass(frozen=True, slots=True)
class ManifestHead:
    digest: str | None
    media_type: str
    size: int | None


@dataclass(frozen=True, slots=True)
class FetchedManifest:
    body: bytes
    media_type: str
    digest_header: str | None


class UpstreamClient:
    """Requests to one upstream, authenticated with its one credential."""

    def __init__(
        self, settings: UpstreamSettings, session: aiohttp.ClientSession, tokens: TokenCache
    ) -> None:
        self.settings = settings
        self.registry = settings.registry
        self.session = session
        self.tokens = tokens
        self.observers: list[Observer] = []
        self._challenge: Challenge | None = None  # learned from the first 401
        self.last_ok: bool | None = None  # None: never asked
        self._unreachable_until = 0.0  # monotonic; see recently_unreachable()

    # -- manifests --------------------------------------------------------------------

    async def head_manifest(self, repo: str, reference: str, accept: str) -> ManifestHead:
        path = f"/v2/{repo}/manifests/{reference}"
        async with await self.request("HEAD", path, repo, "manifest", {"Accept": accept}) as resp:
            length = resp.headers.get("Content-Length")
            return ManifestHead(
                digest=resp.headers.get("Docker-Content-Digest"),
                media_type=media_type_of(resp.headers),
                size=int(length) if length and length.isdigit() else None,
            )

    async def get_manifest(self, repo: str, reference: str, accept: str) -> FetchedManifest:
        path = f"/v2/{repo}/manifests/{reference}"
        async with await self.request("GET", path, repo, "manifest", {"Accept": accept}) as resp:
            body = await self._read_limited(resp, MAX_MANIFEST_BYTES)
            return FetchedManifest(
                body, media_type_of(resp.headers), resp.headers.get("Docker-Content-Digest")
            )

    async def _read_limited(self, resp: aiohttp.ClientResponse, limit: int) -> bytes:
        """The whole body, refusing one over `limit` bytes."""
        try:
            body = await read_body(resp, limit)
        except NETWORK_ERRORS as exc:
            raise self._unavailable(exc) from None
        if body is None:
            raise ManifestInvalid(f"upstream {self.registry} sent a document over {limit} bytes")
        return body

    # -- tags -------------------------------------------------------------------------

    async def get_tags(self, repo: str, query: Mapping[str, str]) -> tuple[bytes, str | None]:
        path = f"/v2/{repo}/tags/list"
        resp = await self.request("GET", path, repo, "tags", {}, params=dict(query))
        async with resp:
            return await self._read_limited(resp, MAX_MANIFEST_BYTES), resp.headers.get("Link")

    # -- blobs ------------------------------------------------------------------------

    async def head_blob(self, repo: str, digest: str) -> int | None:
        path = f"/v2/{repo}/blobs/{digest}"
        resp = await self.request("HEAD", path, repo, "blob", {"Accept-Encoding": "identity"})
        resp = await self._follow_redirects(resp, "HEAD", {"Accept-Encoding": "identity"})
        async with resp:
            self._raise_for_status(resp, "blob")
            length = resp.headers.get("Content-Length")
            return int(length) if length and length.isdigit() else None

    async def open_blob(self, repo: str, digest: str, start: int) -> aiohttp.ClientResponse:
        """GET a blob from byte `start`; redirects are followed by hand, without
        `Authorization` (a CDN rejects it), keeping `Range`."""
        headers = {"Accept-Encoding": "identity"}
        if start:
            headers["Range"] = f"bytes={start}-"
        resp = await self.request("GET", f"/v2/{repo}/blobs/{digest}", repo, "blob", headers)
        resp = await self._follow_redirects(resp, "GET", headers)
        self._raise_for_status(resp, "blob")
        return resp

    async def _follow_redirects(
        self, resp: aiohttp.ClientResponse, method: str, headers: dict[str, str]
    ) -> aiohttp.ClientResponse:
        for _ in range(MAX_REDIRECTS):
            if resp.status not in REDIRECT_STATUSES or "Location" not in resp.headers:
                return resp
            # encoded=True: a signed query string must reach the CDN byte for byte.
            target = resp.url.join(URL(resp.headers["Location"], encoded=True))
            resp.release()
            try:
                resp = await self.session.request(
                    method, target, headers=headers, allow_redirects=False
                )
            except NETWORK_ERRORS as exc:
                raise self._unavailable(exc) from None
        resp.release()
        raise UpstreamFailed(f"upstream {self.registry} redirected too many times")

    # -- the authenticated request ----------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        repo: str,
        kind: str,
        headers: dict[str, str],
        params: dict[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        """Send with a Bearer token when the upstream wants one; on a 401, fetch a
        fresh token and retry once. Raises RegistryError for 4xx/5xx (not 3xx)."""
        scope = f"repository:{repo}:pull"
        resp = await self._send(method, path, kind, headers, params, scope)
        if resp.status == 401:
            challenge = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
            if challenge is not None and challenge.scheme == "bearer" and challenge.realm:
                resp.release()
                if self._challenge is not None:
                    self.tokens.invalidate(self._challenge, scope)
                self._challenge = challenge
                resp = await self._send(method, path, kind, headers, params, scope)
        if resp.status >= 400:
            await self._raise_for_status_reading(resp, kind)
        return resp

    async def _send(
        self,
        method: str,
        path: str,
        kind: str,
        headers: dict[str, str],
        params: dict[str, str] | None,
        scope: str,
    ) -> aiohttp.ClientResponse:
        headers = dict(headers)
        if self._challenge is not None:
            token = await self.tokens.get(self._challenge, scope)
            headers["Authorization"] = f"Bearer {token.value}"
        try:
            resp = await self.session.request(
                method, self.settings.url + path, headers=headers, params=params,
                allow_redirects=False,
            )
        except NETWORK_ERRORS as exc:
            self._notify(UpstreamEvent(self.registry, kind, method, 0, {}, at=time.time()))
            raise self._unavailable(exc) from None
        self.last_ok = resp.status < 500
        if resp.status < 400:
            self._notify(UpstreamEvent(self.registry, kind, method, resp.status, resp.headers, at=time.time()))
        return resp

    async def _raise_for_status_reading(self, resp: aiohttp.ClientResponse, kind: str) -> None:
        async with resp:
            try:
                body = await read_body(resp, ERROR_BODY_BYTES) or b""
            except NETWORK_ERRORS:
                body = b""
        event = UpstreamEvent(
            self.registry, kind, resp.method, resp.status, resp.headers, body, at=time.time()
        )
        self._notify(event)
        self._raise_for_status(resp, kind)

    def _raise_for_status(self, resp: aiohttp.ClientResponse, kind: str) -> None:
        if resp.status < 400 and resp.status not in REDIRECT_STATUSES:
            return
        resp.release()
        if resp.status in REDIRECT_STATUSES:
            raise UpstreamFailed(f"upstream {self.registry} redirected without a Location")
        raise translate_upstream_status(
            resp.status, kind=kind, registry=self.registry,
            retry_after=resp.headers.get("Retry-After"),
        )

    async def ping(self, timeout_s: float) -> bool:
        """`GET <url>/v2/` without credentials, for readiness: any answer below 500
        (401 included) means the upstream answers. Sets `last_ok`; never raises
        for a network failure or a timeout of `timeout_s` seconds."""
        try:
            async with self.session.get(
                self.settings.url + "/v2/",
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as resp:
                ok = resp.status < 500
        except NETWORK_ERRORS:
            ok = False
        self.last_ok = ok
        return ok

    def recently_unreachable(self) -> bool:
        """True for a few seconds after a connection failure or timeout. Tag
        revalidation then serves the cached copy at once instead of making every
        client wait out another connect timeout during an outage."""
        return time.monotonic() < self._unreachable_until

    def _unavailable(self, exc: BaseException) -> RegistryError:
        self.last_ok = False
        self._unreachable_until = time.monotonic() + UNREACHABLE_BACKOFF_S
        # The exception text may hold a signed URL: name only its type.
        reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        return UpstreamUnavailable(f"upstream {self.registry} unreachable: {reason}")

    def _notify(self, event: UpstreamEvent) -> None:
        for observer in self.observers:
            try:
                observer(event)
            except Exception:  # an observer bug must never break a pull
                log.exception("upstream observer failed")


async def read_body(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """Read to the end of the body (a single read() returns only what is buffered);
    None if it is longer than `limit`."""
    parts: list[bytes] = []
    total = 0
    async for chunk in resp.content.iter_any():
        total += len(chunk)
        if total > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


def media_type_of(headers: CIMultiDictProxy[str] | Mapping[str, str]) -> str:
    """The media type without parameters (`; charset=utf-8`)."""
    return headers.get("Content-Type", "").split(";", 1)[0].strip()
