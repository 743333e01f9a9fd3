"""A minimal HEAD load generator: Debian's wrk cannot do HEAD (its parser waits for a
body of Content-Length bytes that never comes).

Raw asyncio protocols, one request in flight per connection (no pipelining), keep-alive,
spread over worker processes so the generator is not the bottleneck. Only status lines
and header ends are parsed: a HEAD response has no body.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from urllib.parse import urlsplit

from .wrk import WrkResult


class _Connection(asyncio.Protocol):
    def __init__(self, request: bytes, deadline: float, latencies: list[float], done: asyncio.Future[None]) -> None:
        self.request, self.deadline, self.latencies, self.done = request, deadline, latencies, done
        self.buffer, self.sent_at, self.errors, self.non_2xx = b"", 0.0, 0, 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            now = time.perf_counter()
            self.latencies.append(now - self.sent_at)
            if not head.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2")):
                self.non_2xx += 1
            if now >= self.deadline:
                assert self.transport is not None
                self.transport.close()
                return
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if time.perf_counter() < self.deadline:
            self.errors += 1
        if not self.done.done():
            self.done.set_result(None)


def _worker(url: str, accept: str, connections: int, duration_s: float) -> tuple[list[float], int, int, float]:
    async def go() -> tuple[list[float], int, int, float]:
        parts = urlsplit(url)
        request = (
            f"HEAD {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: {accept}\r\n\r\n"
        ).encode()
        loop = asyncio.get_running_loop()
        latencies: list[float] = []
        started = time.perf_counter()
        deadline = started + duration_s
        protocols = []
        for _ in range(connections):
            done: asyncio.Future[None] = loop.create_future()
            _, protocol = await loop.create_connection(
                lambda: _Connection(request, deadline, latencies, done), parts.hostname, parts.port
            )
            protocols.append(protocol)
        await asyncio.gather(*(p.done for p in protocols))
        elapsed = time.perf_counter() - started
        return latencies, sum(p.errors for p in protocols), sum(p.non_2xx for p in protocols), elapsed

    return asyncio.run(go())


def run_head_load(url: str, connections: int, duration_s: int, accept: str, workers: int = 2) -> WrkResult:
    """HEAD ``url`` over ``connections`` keep-alive connections for ``duration_s``."""
    per_worker = [connections // workers + (i < connections % workers) for i in range(workers)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_worker, url, accept, n, duration_s) for n in per_worker if n]
        parts = [f.result() for f in futures]
    latencies = sorted(l for p in parts for l in p[0])
    elapsed = max(p[3] for p in parts)

    def percentile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0

    return WrkResult(
        requests=len(latencies), bytes=0, duration_s=elapsed,
        errors=sum(p[1] for p in parts), non_2xx=sum(p[2] for p in parts),
        p50_ms=percentile(0.50), p99_ms=percentile(0.99),
    )
