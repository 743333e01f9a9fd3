"""A real kura process killed with SIGKILL mid-fill leaves a consistent cache."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import aiohttp

from tests.fakes.hub import Hub
from tests.fakes.images import make_image
from tests.integration.conftest import PASSWORD, USER
from tests.support.kura import start_kura_process, wait_until_up
from tests.support.registry_client import get_blob, pull_image


async def test_index_consistent_after_kill_during_fill(hub: Hub, tmp_path: Path, client: aiohttp.ClientSession) -> None:
    image = make_image(30, [4 * 1024 * 1024])
    hub.push_image(image, repo="library/crash", tag="1")
    layer = image.layer_digests[0]
    cache = tmp_path / "cache"
    env = {
        "KURA_CACHE_DIR": str(cache),
        "KURA_UPSTREAMS_DOCKER_IO_URL": hub.url,
        "KURA_UPSTREAM_USERNAME": USER,
        "KURA_UPSTREAM_PASSWORD": PASSWORD,
    }
    process, url = start_kura_process(env, tmp_path / "kura.log")
    try:
        await wait_until_up(url)
        hub.faults.cdn_chunk_delay_s = 0.05
        async with client.get(f"{url}/v2/crash/blobs/{layer}") as response:
            assert response.status == 200
            await response.content.readexactly(256 * 1024)
            assert any((cache / "tmp").iterdir()), "no fill in progress"
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    hub.faults.clear()

    process, url = start_kura_process(env, tmp_path / "kura.log")
    try:
        await wait_until_up(url)
        assert list((cache / "tmp").iterdir()) == [], "leftover temp file survived restart"
        assert not any((cache / "blobs").rglob(layer.split(":")[1])), "partial blob was published"
        fetched = await pull_image(client, url, "crash", "1")
        assert fetched[layer] == image.blobs[layer]
        assert await get_blob(client, url, "crash", layer) == image.blobs[layer]
    finally:
        process.terminate()
        process.wait(timeout=10)
    with sqlite3.connect(cache / "index.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        size = db.execute("SELECT size FROM blobs WHERE digest=?", (layer,)).fetchone()
    assert size == (len(image.blobs[layer]),)
