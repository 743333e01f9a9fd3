"""The status page in a real browser: headless Chromium renders it and shows the quota."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.conftest import require_binary
from tests.e2e.conftest import run
from tests.fakes.hub import Hub
from tests.fakes.images import make_image
from tests.support.kura import KuraServer, kura_settings, running_kura
from tests.support.registry_client import pull_image

pytestmark = pytest.mark.e2e

USER, PASSWORD = "carol", "page-hub-password"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def limited_hub() -> Iterator[Hub]:
    with Hub(backend="memory", users={USER: PASSWORD}, rate_limit=(200, 21600)) as hub:
        yield hub


@pytest.fixture
async def page_kura(limited_hub: Hub, tmp_path: Path) -> AsyncIterator[KuraServer]:
    settings = kura_settings(tmp_path / "cache", limited_hub.url, username=USER, password=PASSWORD, tag_ttl_s=0.0)
    async with running_kura(settings) as server:
        yield server


async def chromium(url: str, *args: str) -> str:
    binary = require_binary("chromium")
    with tempfile.TemporaryDirectory(prefix="kura-chromium-") as profile:
        return await run(
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--window-size=1280,900", *args, url, timeout_s=90,
        )


async def test_status_page_renders_in_headless_chromium(
    limited_hub: Hub, page_kura: KuraServer, tmp_path: Path
) -> None:
    limited_hub.push_image(make_image(40, [300_000, 20_000]), repo="library/nginx", tag="1.27")
    limited_hub.push_image(make_image(41, [100_000]), repo="library/redis", tag="7")
    async with aiohttp.ClientSession() as client:
        for _ in range(3):
            await pull_image(client, page_kura.url, "nginx", "1.27")
        await pull_image(client, page_kura.url, "redis", "7")
    limited_hub.set_remaining(37)
    async with aiohttp.ClientSession() as client:
        await pull_image(client, page_kura.url, "redis", "7")  # a HEAD brings the new figure

    shot = tmp_path / "status.png"
    await chromium(page_kura.url + "/", f"--screenshot={shot}")
    assert shot.read_bytes().startswith(PNG_MAGIC) and shot.stat().st_size > 10_000
    dom = await chromium(page_kura.url + "/", "--dump-dom")
    assert "37 <span" in dom and "of 200 pulls left" in dom
    assert "docker.io/library/nginx" in dom and "hit ratio" in dom
    keep = Path(__file__).resolve().parents[2] / ".artifacts"
    keep.mkdir(exist_ok=True)
    (keep / "status-page.png").write_bytes(shot.read_bytes())
