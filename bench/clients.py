"""Cold-path clients (pull, TTFB, fan-out), run in a separate process so that neither
the upstream's thread in the bench process nor the GIL skews the proxies' figures.

Every function here is a plain, picklable entry point returning a dict of floats.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, Callable

import aiohttp

from .rawget import raw_get
from .wrk import MANIFEST_ACCEPT

_TIMEOUT = aiohttp.ClientTimeout(total=600)
_INDEX_TYPES = (
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
)


class ClientProcess:
    """One spawned worker process; ``call(fn, *args)`` runs ``fn`` there and waits."""

    def __init__(self) -> None:
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))

    def call(self, fn: Callable[..., dict[str, float]], *args: Any) -> dict[str, float]:
        return self._pool.submit(fn, *args).result()

    def close(self) -> None:
        self._pool.shutdown()


async def _drain(response: aiohttp.ClientResponse) -> tuple[float, int]:
    """Read the whole body: (seconds to the first body byte from now, bytes)."""
    started, first, received = time.perf_counter(), None, 0
    async for chunk in response.content.iter_any():
        if first is None:
            first = time.perf_counter()
        received += len(chunk)
    return (first or time.perf_counter()) - started, received


async def _get_blob(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    started = time.perf_counter()
    async with session.get(url) as response:
        response.raise_for_status()
        headers_at = time.perf_counter()
        first_after, received = await _drain(response)
    return {
        "ttfb_s": headers_at - started + first_after,
        "wall_s": time.perf_counter() - started,
        "bytes": received,
    }


def cold_blob(base_url: str, repo: str, digest: str) -> dict[str, float]:
    """One client, one blob: time to first body byte and total wall time."""
    return asyncio.run(raw_get(f"{base_url}/v2/{repo}/blobs/{digest}"))


def fanout(base_url: str, repo: str, digest: str, clients: int) -> dict[str, float]:
    """``clients`` concurrent clients (own connections) of one blob; total wall time."""

    async def go() -> dict[str, float]:
        url = f"{base_url}/v2/{repo}/blobs/{digest}"
        started = time.perf_counter()
        results = await asyncio.gather(*(raw_get(url) for _ in range(clients)))
        wall = time.perf_counter() - started
        return {
            "wall_s": wall,
            "bytes": sum(r["bytes"] for r in results),
            "max_ttfb_s": max(r["ttfb_s"] for r in results),
        }

    return asyncio.run(go())


async def _manifest(session: aiohttp.ClientSession, base_url: str, repo: str, ref: str) -> dict[str, Any]:
    url = f"{base_url}/v2/{repo}/manifests/{ref}"
    async with session.get(url, headers={"Accept": MANIFEST_ACCEPT}) as response:
        response.raise_for_status()
        return await response.json(content_type=None)  # type: ignore[no-any-return]


def cold_pull(base_url: str, repo: str, tag: str, concurrency: int) -> dict[str, float]:
    """Resolve ``repo:tag`` (an index picks linux/amd64) and fetch every blob,
    ``concurrency`` at a time, as Docker does; total wall time."""

    async def go() -> dict[str, float]:
        async with aiohttp.ClientSession(timeout=_TIMEOUT, auto_decompress=False) as session:
            started = time.perf_counter()
            manifest = await _manifest(session, base_url, repo, tag)
            if manifest.get("mediaType") in _INDEX_TYPES:
                amd64 = next(m for m in manifest["manifests"] if m["platform"]["architecture"] == "amd64")
                manifest = await _manifest(session, base_url, repo, amd64["digest"])
            digests = [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]
            gate = asyncio.Semaphore(concurrency)

            async def one(digest: str) -> float:
                async with gate:
                    return (await _get_blob(session, f"{base_url}/v2/{repo}/blobs/{digest}"))["bytes"]

            received = sum(await asyncio.gather(*(one(d) for d in digests)))
            return {"wall_s": time.perf_counter() - started, "bytes": received}

    return asyncio.run(go())


def upstream_blob(hub_url: str, repo: str, digest: str, user: str, password: str) -> dict[str, float]:
    """The upstream's own TTFB: with a token already in hand (as a proxy holds one),
    GET the registry, follow its 307 to the CDN without Authorization, first byte."""

    async def go() -> dict[str, float]:
        async with aiohttp.ClientSession(timeout=_TIMEOUT, auto_decompress=False) as session:
            url = f"{hub_url}/v2/{repo}/blobs/{digest}"
            token = await _token(session, url, user, password)
            started = time.perf_counter()
            headers = {"Authorization": f"Bearer {token}"}
            async with session.get(url, headers=headers, allow_redirects=False) as redirect:
                location = redirect.headers["Location"]
            redirected = time.perf_counter()
            result = await raw_get(location)  # the same client as for the proxies
            result["ttfb_s"] += redirected - started
            result["wall_s"] = time.perf_counter() - started
            return result

    return asyncio.run(go())


async def _token(session: aiohttp.ClientSession, url: str, user: str, password: str) -> str:
    async with session.get(url, allow_redirects=False) as challenge:
        header = challenge.headers["WWW-Authenticate"]
    params = dict(part.split("=", 1) for part in header.removeprefix("Bearer ").split(","))
    params = {key: value.strip('"') for key, value in params.items()}
    query = {"service": params["service"], "scope": params["scope"]}
    auth = aiohttp.BasicAuth(user, password)
    async with session.get(params["realm"], params=query, auth=auth) as response:
        body = await response.json()
    return str(body.get("token") or body["access_token"])


def cold_pull_manifest(base_url: str, repo: str, tag: str) -> dict[str, float]:
    """Resolve ``repo:tag`` only, as a client does before fetching blobs."""

    async def go() -> dict[str, float]:
        async with aiohttp.ClientSession(timeout=_TIMEOUT) as session:
            started = time.perf_counter()
            await _manifest(session, base_url, repo, tag)
            return {"wall_s": time.perf_counter() - started}

    return asyncio.run(go())


def warm_throughput(url: str, clients: int, duration_s: float) -> dict[str, float]:
    """``clients`` connections each downloading ``url`` back to back until
    ``duration_s`` has passed (the last download finishes): bytes / elapsed.
    wrk reads 8 KiB per syscall, which caps it near 2 GB/s; this client reads 1 MiB."""

    async def go() -> dict[str, float]:
        started = time.perf_counter()
        deadline = started + duration_s

        async def client() -> tuple[int, int]:
            done = received = 0
            while time.perf_counter() < deadline:
                received += int((await raw_get(url))["bytes"])
                done += 1
            return done, received

        results = await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
        received = sum(r[1] for r in results)
        return {
            "requests": sum(r[0] for r in results),
            "bytes": received,
            "duration_s": elapsed,
            "mb_per_s": received / elapsed / 1e6,
        }

    return asyncio.run(go())
