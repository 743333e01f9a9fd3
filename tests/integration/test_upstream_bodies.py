"""Upstream documents that arrive in several network reads are read whole."""

from __future__ import annotations

import asyncio
import hashlib
import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import aiohttp
from aiohttp import web

from tests.support.kura import kura_settings, running_kura

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
LAYERS = [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": 1,
           "digest": "sha256:%064x" % i} for i in range(60)]
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": LAYERS,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "size": 2, "digest": "sha256:" + "0" * 64}}).encode()
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
TAGS = json.dumps({"name": "library/x", "tags": [f"t{i}" for i in range(300)]}).encode()


async def _in_two_writes(request: web.Request, body: bytes, headers: dict[str, str]) -> web.StreamResponse:
    response = web.StreamResponse(headers={**headers, "Content-Length": str(len(body))})
    await response.prepare(request)
    if request.method != "HEAD":
        await response.write(body[:1000])
        await asyncio.sleep(0.05)  # the rest arrives in a later network read
        await response.write(body[1000:])
    await response.write_eof()
    return response


@asynccontextmanager
async def split_upstream() -> AsyncIterator[str]:
    """An anonymous upstream whose manifest and tag list arrive in two pieces."""

    async def manifest(request: web.Request) -> web.StreamResponse:
        headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": DIGEST}
        if request.match_info["ref"] == "nodigest":
            headers.pop("Docker-Content-Digest")
        return await _in_two_writes(request, MANIFEST, headers)

    async def tags(request: web.Request) -> web.StreamResponse:
        return await _in_two_writes(request, TAGS, {"Content-Type": "application/json"})

    app = web.Application()
    app.router.add_route("*", "/v2/library/x/manifests/{ref}", manifest)
    app.router.add_get("/v2/library/x/tags/list", tags)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_manifest_and_tags_arriving_in_pieces_are_read_whole(tmp_path: Path) -> None:
    async with split_upstream() as upstream, running_kura(kura_settings(tmp_path, upstream)) as kura:
        async with aiohttp.ClientSession() as client:
            for reference in ("latest", DIGEST, "nodigest"):
                url = f"{kura.url}/v2/x/manifests/{reference}"
                async with client.get(url, headers={"Accept": OCI_MANIFEST}) as response:
                    assert response.status == 200, await response.text()
                    assert await response.read() == MANIFEST
                    assert response.headers["Docker-Content-Digest"] == DIGEST
            async with client.get(f"{kura.url}/v2/x/tags/list") as response:
                assert response.status == 200
                assert await response.read() == TAGS
