"""An upstream blob body that survives dropped connections.

When the connection drops mid-body, the blob is requested again from the byte
already received (`Range: bytes=N-`), a bounded number of times. The signed CDN URL
may have expired by then, so each retry starts again at the registry.
"""

from __future__ import annotations

import logging
import re
from typing import AsyncIterator

import aiohttp

from ..errors import UpstreamFailed, UpstreamUnavailable
from .client import NETWORK_ERRORS, UpstreamClient

log = logging.getLogger(__name__)

STREAM_CHUNK_BYTES = 256 * 1024
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class UpstreamBlob:
    """Implements cache.inflight.BlobSource for one blob of one upstream."""

    def __init__(self, client: UpstreamClient, repo: str, digest: str, resume_attempts: int) -> None:
        self._client = client
        self._repo = repo
        self._digest = digest
        self._resume_attempts = resume_attempts
        self._response: aiohttp.ClientResponse | None = None
        self.size: int | None = None
        self.resumes = 0

    async def open(self) -> None:
        self._response = await self._client.open_blob(self._repo, self._digest, 0)
        self.size = _total_size(self._response)

    async def chunks(self) -> AsyncIterator[bytes]:
        received = 0
        while True:
            assert self._response is not None
            try:
                async for chunk in self._response.content.iter_any():
                    received += len(chunk)
                    yield chunk
                if self.size is None or received >= self.size:
                    return
                reason = "connection closed early"
            except NETWORK_ERRORS as exc:
                reason = type(exc).__name__
            await self._resume(received, reason)

    async def _resume(self, received: int, reason: str) -> None:
        if self.resumes >= self._resume_attempts:
            raise UpstreamUnavailable(
                f"upstream {self._client.registry} dropped blob {self._digest} "
                f"{self.resumes + 1} times ({reason})"
            )
        self.resumes += 1
        log.info(
            "resuming blob %s from byte %d after %s (attempt %d)",
            self._digest, received, reason, self.resumes,
        )
        await self.close()
        response = await self._client.open_blob(self._repo, self._digest, received)
        self._response = response
        if response.status == 200:  # the range was ignored: skip what we already have
            await _skip(response, received)
            return
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        if response.status != 206 or match is None or int(match.group(1)) != received:
            raise UpstreamFailed(f"upstream {self._client.registry} answered a resume badly")

    async def close(self) -> None:
        if self._response is not None:
            self._response.release()
            self._response = None


def _total_size(response: aiohttp.ClientResponse) -> int | None:
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isdigit() else None


async def _skip(response: aiohttp.ClientResponse, count: int) -> None:
    remaining = count
    while remaining > 0:
        chunk = await response.content.read(min(remaining, STREAM_CHUNK_BYTES))
        if not chunk:
            raise UpstreamFailed("upstream blob shorter on resume than before")
        remaining -= len(chunk)
