"""The fake ``registry-1.docker.io``: Docker Hub's behaviour on top of a backend.

The backend answers registry questions (and 401s, like Distribution does); the front
adds what only Docker Hub does: pull-quota headers and 429s on manifests, and 307s from
blob GETs to the signed CDN. Only GET and HEAD exist here, as on a pull-only mirror's
upstream; anything else is 405.
"""

from __future__ import annotations

import json

from aiohttp import hdrs, web

from .backend import Backend
from .cdn import CdnSigner
from .ratelimit import RateLimiter
from .signing import InvalidToken
from .tokens import ANONYMOUS, TokenIssuer
from .wire import API_VERSION_HEADER, BASE, BLOB, MANIFEST, TAGS, classify, error_response

RATE_LIMIT_MESSAGE = (
    "You have reached your pull rate limit. You may increase the limit by authenticating "
    "and upgrading: https://www.docker.com/increase-rate-limit"
)


class Front:
    """Request handling of the registry front; ``app()`` builds the aiohttp app."""

    def __init__(
        self, backend: Backend, signer: CdnSigner, issuer: TokenIssuer, limiter: RateLimiter | None
    ) -> None:
        self._backend, self._signer, self._issuer, self._limiter = backend, signer, issuer, limiter

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        kind, name, ref = classify(request.path)
        auth = request.headers.get(hdrs.AUTHORIZATION)
        if request.method not in (hdrs.METH_GET, hdrs.METH_HEAD):
            return error_response(405, "UNSUPPORTED", "The operation is unsupported.")
        if kind == BASE:
            return await self._backend.base(auth)
        if kind == MANIFEST:
            return await self._manifest(request, name, ref, auth)
        if kind == BLOB:
            return await self._blob(request, name, ref, auth)
        if kind == TAGS:
            return await self._backend.tags(name, request.query, auth)
        return web.Response(status=404, text="404 page not found\n")

    def _identity(self, request: web.Request, auth: str | None) -> str:
        """Whom the quota is charged to: the token's user, else the client address."""
        try:
            subject = self._issuer.claims(auth).get("sub")
        except InvalidToken:
            subject = None
        if isinstance(subject, str) and subject != ANONYMOUS:
            return subject
        return request.remote or "unknown"

    async def _manifest(
        self, request: web.Request, name: str, ref: str, auth: str | None
    ) -> web.Response:
        accept = request.headers.getall(hdrs.ACCEPT, [])
        response = await self._backend.manifest(request.method, name, ref, accept, auth)
        # Authentication comes before the quota: a 401 carries no rate-limit headers.
        if self._limiter is None or response.status == 401:
            return response
        identity = self._identity(request, auth)
        if request.method == hdrs.METH_GET:
            within_quota = (
                self._limiter.try_spend(identity)
                if response.status == 200
                else self._limiter.remaining(identity) > 0
            )
            if not within_quota:
                response = self._too_many(identity)
        response.headers.update(self._limiter.headers(identity))
        return response

    def _too_many(self, identity: str) -> web.Response:
        assert self._limiter is not None
        body = {"errors": [{"code": "TOOMANYREQUESTS", "message": RATE_LIMIT_MESSAGE}]}
        return web.Response(
            status=429,
            body=json.dumps(body).encode(),
            content_type="application/json",
            headers={"Retry-After": str(self._limiter.retry_after_s(identity))},
        )

    async def _blob(
        self, request: web.Request, name: str, digest: str, auth: str | None
    ) -> web.Response:
        """HEAD answers directly; GET is checked like a HEAD, then redirected to the CDN."""
        head = await self._backend.blob_head(name, digest, auth)
        if request.method == hdrs.METH_HEAD or head.status != 200:
            return head
        location = self._signer.url(name, digest)
        return web.Response(
            status=307,
            text=f'<a href="{location}">Temporary Redirect</a>.\n',
            content_type="text/html",
            headers={**API_VERSION_HEADER, "Location": location},
        )
