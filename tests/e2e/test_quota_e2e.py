"""Quota tracking against the real Distribution registry behind a front that adds
Docker Hub's rate-limit headers: skopeo pulls through kura, kura spends and reports."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.conftest import require_binary
from tests.e2e.conftest import PASSWORD, USER
from tests.e2e.test_skopeo import skopeo_copy
from tests.fakes.hub import Hub
from tests.fakes.images import make_image, make_index
from tests.support.kura import KuraServer, kura_settings, running_kura
from tests.support.registry_client import fetch

pytestmark = pytest.mark.e2e

LIMIT, WINDOW_S = 40, 3600


@pytest.fixture(scope="module")
def limited_hub() -> Iterator[Hub]:
    require_binary("docker-registry")
    with Hub(backend="distribution", users={USER: PASSWORD}, rate_limit=(LIMIT, WINDOW_S)) as hub:
        yield hub


@pytest.fixture
async def kura(limited_hub: Hub, tmp_path: Path) -> AsyncIterator[KuraServer]:
    limited_hub.reset()
    settings = kura_settings(tmp_path / "cache", limited_hub.url, username=USER, password=PASSWORD,
                             tag_ttl_s=0.0, quota_reserve=2)
    async with running_kura(settings) as server:
        yield server


async def quota_of(kura: KuraServer, query: str = "") -> dict:
    async with aiohttp.ClientSession() as client:
        reply = await fetch(client, "GET", f"{kura.url}/quota{query}")
    assert reply.status == 200
    return reply.json()["upstreams"]["docker.io"]


async def test_skopeo_pulls_spend_one_get_per_manifest_and_quota_follows(
    limited_hub: Hub, kura: KuraServer, tmp_path: Path
) -> None:
    index = make_index([make_image(110, [200_000], arch="amd64"), make_image(111, [200_000], arch="arm64")])
    limited_hub.push_index(index, repo="library/e2e-quota", tag="1")
    limited_hub.reset()
    for attempt in range(3):
        await skopeo_copy(kura, "e2e-quota:1", tmp_path / f"all{attempt}", "--all")
    gets = limited_hub.counts("manifest", "GET")
    assert gets == 1 + len(index.images)  # index + each platform, once for three copies
    quota = await quota_of(kura)
    assert quota["limit"] == LIMIT and quota["window_s"] == WINDOW_S
    assert quota["remaining"] == LIMIT - gets and quota["pulls_spent"] == gets
    assert quota["pulls_saved"] >= 2 * (1 + len(index.images))
    assert quota["source"] == USER and quota["mode"] == "normal"


async def test_reserve_stops_gets_against_the_real_registry(
    limited_hub: Hub, kura: KuraServer, tmp_path: Path
) -> None:
    image = make_image(112, [100_000])
    limited_hub.push_image(image, repo="library/e2e-reserve", tag="1")
    limited_hub.push_image(make_image(113, [100], arch="amd64"), repo="ratelimitpreview/test", tag="latest")
    limited_hub.reset()
    limited_hub.set_remaining(2)
    quota = await quota_of(kura, "?probe=1")
    assert quota["remaining"] == 2 and quota["mode"] == "reserve"
    async with aiohttp.ClientSession() as client:
        reply = await fetch(client, "GET", f"{kura.url}/v2/e2e-reserve/manifests/1")
    assert reply.status == 429 and "kura's reserve" in reply.json()["errors"][0]["message"]
    assert int(reply.headers["Retry-After"]) >= 1
    assert limited_hub.counts("manifest", "GET") == 0
