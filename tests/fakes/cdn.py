"""The fake blob CDN that Docker Hub's 307s point at.

URLs are ``<cdn>/blobs/<digest>?repo=<name>&expires=<unix>&sig=<hmac>``; the repository
rides along because Distribution only serves a blob through a repository that links it.
Like S3 or R2 behind Docker Hub: a request carrying ``Authorization`` gets 400, a bad or
expired signature 403; ``Range`` (``bytes=N-``, ``bytes=N-M``) gets 206. Bodies are
streamed chunk by chunk from the backend, which is where the CDN faults act.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import AsyncIterator
from urllib.parse import urlencode

from aiohttp import hdrs, web

from .backend import Backend
from .faults import Faults

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
_TRANSPORT_FLUSH_TIMEOUT_S = 2.0


class CdnSigner:
    """Makes and checks the CDN's expiring, HMAC-signed blob URLs."""

    def __init__(self, base_url: str, ttl_s: int = 600) -> None:
        self.base_url, self.ttl_s = base_url, ttl_s
        self._secret = secrets.token_bytes(32)

    def _sign(self, name: str, digest: str, expires: int) -> str:
        message = f"{name}\n{digest}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def url(self, name: str, digest: str) -> str:
        """A URL for the blob, valid for ``ttl_s`` seconds."""
        expires = int(time.time()) + self.ttl_s
        query = urlencode(
            {"repo": name, "expires": expires, "sig": self._sign(name, digest, expires)}
        )
        return f"{self.base_url}/blobs/{digest}?{query}"

    def valid(self, name: str, digest: str, expires: str, sig: str) -> bool:
        """Whether the signature matches and the URL has not expired."""
        if not expires.isdigit() or int(expires) < time.time():
            return False
        return hmac.compare_digest(sig, self._sign(name, digest, int(expires)))


def _xml_error(status: int, code: str, message: str) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return web.Response(status=status, text=body, content_type="application/xml")


def _byte_range(header: str | None, size: int) -> tuple[int, int, bool] | None:
    """``(start, end_exclusive, partial)`` to serve, or None if the range is unsatisfiable.

    Only ``bytes=N-`` and ``bytes=N-M`` are understood; any other Range value is ignored
    (full body, as S3 does with syntax it does not support).
    """
    match = _RANGE.match(header.strip()) if header else None
    if match is None:
        return 0, size, False
    start = int(match[1])
    end = min(int(match[2]) + 1, size) if match[2] else size
    return (start, end, True) if start < end else None


def _corrupt(chunk: bytes, sent: int, position: int | None) -> bytes:
    """Flip the bits of the byte at body offset ``position`` if it falls in ``chunk``."""
    if position is None or not sent <= position < sent + len(chunk):
        return chunk
    data = bytearray(chunk)
    data[position - sent] ^= 0xFF
    return bytes(data)


async def _abort_after_flush(request: web.Request) -> None:
    """Close the connection mid-body once what was written has left the process."""
    transport = request.transport
    if transport is None:
        return
    deadline = time.monotonic() + _TRANSPORT_FLUSH_TIMEOUT_S
    while transport.get_write_buffer_size() and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    transport.abort()


async def _stream(
    request: web.Request,
    response: web.StreamResponse,
    chunks: AsyncIterator[bytes],
    length: int,
    faults: Faults,
) -> bool:
    """Write the body with the CDN faults applied; False if the connection was cut."""
    drop_after = faults.take_cdn_drop()
    corrupt_at = length // 2 if faults.cdn_corrupt else None
    sent = 0
    async with contextlib.aclosing(chunks):  # type: ignore[type-var]
        async for chunk in chunks:
            chunk = _corrupt(chunk, sent, corrupt_at)
            if drop_after is not None and sent + len(chunk) >= drop_after:
                await response.write(chunk[: drop_after - sent])
                await _abort_after_flush(request)
                return False
            await response.write(chunk)
            sent += len(chunk)
            if faults.cdn_chunk_delay_s:
                await asyncio.sleep(faults.cdn_chunk_delay_s)
    return True


def cdn_app(signer: CdnSigner, backend: Backend, faults: Faults) -> web.Application:
    """The CDN as an aiohttp application (instrumented by the caller)."""

    async def serve(request: web.Request) -> web.StreamResponse:
        if hdrs.AUTHORIZATION in request.headers:
            return _xml_error(400, "InvalidArgument", "Only one auth mechanism allowed")
        digest, query = request.match_info["digest"], request.query
        name = query.get("repo", "")
        if not signer.valid(name, digest, query.get("expires", ""), query.get("sig", "")):
            return _xml_error(403, "AccessDenied", "Request has expired or signature is invalid")
        size = await backend.blob_size(name, digest)
        if size is None:
            return _xml_error(404, "NoSuchKey", "The specified key does not exist.")
        header = None if faults.cdn_ignore_range else request.headers.get(hdrs.RANGE)
        span = _byte_range(header, size)
        if span is None:
            return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
        start, end, partial = span
        response = web.StreamResponse(status=206 if partial else 200)
        response.content_type = "application/octet-stream"
        response.content_length = end - start
        response.headers.update({"Accept-Ranges": "bytes", "Etag": f'"{digest}"'})
        if partial:
            response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        await response.prepare(request)
        if request.method == hdrs.METH_HEAD:
            return response
        chunks = backend.blob_chunks(name, digest, start, end, faults.cdn_chunk_size)
        try:
            if await _stream(request, response, chunks, end - start, faults):
                await response.write_eof()
        except ConnectionError:
            pass  # the client went away mid-body: normal for a CDN, nothing to report
        return response

    app = web.Application()
    app.router.add_get("/blobs/{digest}", serve)  # add_get also routes HEAD
    return app
