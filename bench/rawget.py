"""A lean HTTP/1.1 GET for big blobs: body bytes land in one reused buffer
(``BufferedProtocol.get_buffer``) and are only counted, so twenty concurrent 256 MiB
downloads cost the client process little next to the proxy it measures."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

_BUFFER_BYTES = 1024 * 1024


class _Download(asyncio.BufferedProtocol):
    def __init__(self, started: float) -> None:
        self.started = started
        self.buffer = bytearray(_BUFFER_BYTES)
        self.head = b""
        self.status = 0
        self.remaining: int | None = None  # body bytes still expected, once headers are in
        self.received = 0
        self.first_byte_at: float | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        if self.remaining is None:
            self._header_bytes(bytes(self.buffer[:nbytes]))
        else:
            self._body_bytes(nbytes)

    def _header_bytes(self, data: bytes) -> None:
        self.head += data
        if b"\r\n\r\n" not in self.head:
            return
        head, _, body = self.head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        self.remaining = int(headers.get("content-length", "0"))
        self._body_bytes(len(body))

    def _body_bytes(self, nbytes: int) -> None:
        assert self.remaining is not None
        if nbytes and self.first_byte_at is None:
            self.first_byte_at = time.perf_counter()
        self.received += nbytes
        self.remaining -= nbytes
        if self.remaining <= 0 and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("connection closed before the body ended"))


async def raw_get(url: str) -> dict[str, float]:
    """GET ``url`` on a new connection: status check, TTFB, wall time, body bytes."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    transport, protocol = await loop.create_connection(
        lambda: _Download(started), parts.hostname, parts.port
    )
    try:
        transport.write(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
        await protocol.done
    finally:
        transport.close()
    if protocol.status != 200:
        raise RuntimeError(f"GET {url} answered {protocol.status}")
    first = protocol.first_byte_at or time.perf_counter()
    return {"ttfb_s": first - started, "wall_s": time.perf_counter() - started, "bytes": protocol.received}
