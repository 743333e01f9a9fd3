"""Helpers for admin API tests: authenticated calls and images that share layers."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import aiohttp

from tests.fakes.images import Image, make_image, sha256_digest

TOKEN = "test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def admin(session: aiohttp.ClientSession, base: str, method: str, path: str,
                body: Any = None, token: str | None = TOKEN) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, base + path, json=body, headers=headers) as response:
        text = await response.text()
        return response.status, json.loads(text) if text else None


async def wait_for_warm(session: aiohttp.ClientSession, base: str, job_id: str) -> dict[str, Any]:
    """Poll a warm-up job until it stops running (bounded by the test timeout, not by time)."""
    for _ in range(3000):
        status, job = await admin(session, base, "GET", f"/admin/warm/{job_id}")
        assert status == 200, job
        if job["state"] != "running":
            return job
        await asyncio.sleep(0.02)
    raise AssertionError(f"warm job {job_id} still running: {job}")


def image_sharing_layer(seed: int, layer_sizes: list[int], shared: Image) -> Image:
    """An image whose first layer is `shared`'s first layer, then its own layers."""
    own = make_image(seed, layer_sizes)
    document = json.loads(own.manifest_bytes)
    layer = shared.layer_digests[0]
    descriptor = next(d for d in json.loads(shared.manifest_bytes)["layers"] if d["digest"] == layer)
    document["layers"] = [descriptor] + document["layers"]
    body = json.dumps(document, indent=3).encode()
    return replace(own, manifest_bytes=body, manifest_digest=sha256_digest(body),
                   layer_digests=[layer] + own.layer_digests,
                   blobs={**own.blobs, layer: shared.blobs[layer]})
