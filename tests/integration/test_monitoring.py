"""Operational endpoints: /healthz, /readyz, /metrics, / and what they must never show."""

from __future__ import annotations

import base64
import logging
import shutil
from pathlib import Path
from typing import AsyncIterator, Iterator

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.hub import Hub
from tests.fakes.images import make_image
from tests.integration.conftest import PASSWORD, USER
from tests.support.kura import KuraServer, kura_settings, running_kura
from tests.support.registry_client import fetch, pull_image

REQUIRED_FAMILIES = {
    "kura_upstream_ratelimit_limit": "gauge",
    "kura_upstream_ratelimit_remaining": "gauge",
    "kura_upstream_requests": "counter",
    "kura_cache_requests": "counter",
    "kura_cache_bytes_served": "counter",
    "kura_cache_size_bytes": "gauge",
    "kura_fills_in_flight": "gauge",
    "kura_request_duration_seconds": "histogram",
    "kura_pulls_saved": "counter",
}


@pytest.fixture
def hub() -> Iterator[Hub]:
    with Hub(backend="memory", users={USER: PASSWORD}, rate_limit=(100, 21600)) as hub:
        yield hub


@pytest.fixture
async def kura(hub: Hub, cache_dir: Path) -> AsyncIterator[KuraServer]:
    async with running_kura(kura_settings(cache_dir, hub.url, username=USER, password=PASSWORD)) as server:
        yield server


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_healthz_answers_while_the_loop_runs(kura: KuraServer, client: aiohttp.ClientSession) -> None:
    reply = await fetch(client, "GET", f"{kura.url}/healthz")
    assert reply.status == 200 and reply.json() == {"status": "ok"}


async def test_metrics_exposition_parses(hub: Hub, kura: KuraServer, client: aiohttp.ClientSession) -> None:
    image = make_image(30, [50_000, 7_000])
    hub.push_image(image, repo="library/alpine", tag="3")
    await pull_image(client, kura.url, "alpine", "3")
    await pull_image(client, kura.url, "alpine", "3")
    reply = await fetch(client, "GET", f"{kura.url}/metrics")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/plain")
    text = reply.body.decode()
    families = {family.name: family.type for family in text_string_to_metric_families(text)}
    for name, kind in REQUIRED_FAMILIES.items():
        assert families.get(name) == kind, name
    values = samples(text)
    assert values[("kura_upstream_ratelimit_remaining", (("upstream", "docker.io"),))] == 99
    assert values[("kura_upstream_ratelimit_limit", (("upstream", "docker.io"),))] == 100
    get_ok = (("kind", "manifest"), ("method", "GET"), ("status", "200"), ("upstream", "docker.io"))
    assert values[("kura_upstream_requests_total", get_ok)] == hub.counts("manifest", "GET") == 1
    assert values[("kura_pulls_saved_total", (("upstream", "docker.io"),))] == 1
    blobs = len(image.blobs)  # config and layers
    assert values[("kura_cache_requests_total", (("kind", "blob"), ("result", "hit")))] == blobs
    assert values[("kura_cache_requests_total", (("kind", "blob"), ("result", "miss")))] == blobs
    blob_bytes = sum(len(body) for body in image.blobs.values())
    assert values[("kura_cache_bytes_served_total", (("source", "cache"),))] >= blob_bytes
    assert values[("kura_cache_bytes_served_total", (("source", "upstream"),))] >= blob_bytes
    assert values[("kura_cache_size_bytes", ())] == blob_bytes
    assert values[("kura_fills_in_flight", ())] == 0
    # Bounded cardinality: no repository, tag or digest ever becomes a label value.
    for _, labels in values:
        for _, value in labels:
            assert "alpine" not in value and "sha256" not in value


async def test_readyz_fails_when_cache_dir_unwritable(kura: KuraServer, cache_dir: Path, client: aiohttp.ClientSession) -> None:
    assert (await fetch(client, "GET", f"{kura.url}/readyz")).status == 200
    # Root ignores permission bits, so make the directory impossible to write in instead.
    tmp = kura.services.paths.tmp_dir
    shutil.rmtree(tmp)
    tmp.write_text("not a directory")
    reply = await fetch(client, "GET", f"{kura.url}/readyz")
    assert reply.status == 503
    reasons = reply.json()["reasons"]
    assert len(reasons) == 1 and "cache directory is not writable" in reasons[0]
    tmp.unlink()
    tmp.mkdir()
    assert (await fetch(client, "GET", f"{kura.url}/readyz")).status == 200


async def test_readyz_fails_when_default_upstream_is_down(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession
) -> None:
    hub.faults.refuse = True
    assert (await fetch(client, "GET", f"{kura.url}/v2/alpine/manifests/3")).status == 504
    reply = await fetch(client, "GET", f"{kura.url}/readyz")
    assert reply.status == 503 and "default upstream docker.io" in reply.json()["reasons"][0]
    hub.faults.clear()
    hub.push_image(make_image(31, [100]), repo="library/alpine", tag="3")
    assert (await fetch(client, "GET", f"{kura.url}/v2/alpine/manifests/3")).status == 200
    assert (await fetch(client, "GET", f"{kura.url}/readyz")).status == 200


async def test_status_page_shows_quota_and_cache_figures(hub: Hub, kura: KuraServer, client: aiohttp.ClientSession) -> None:
    image = make_image(32, [10_000])
    hub.push_image(image, repo="library/nginx", tag="1")
    await pull_image(client, kura.url, "nginx", "1")
    reply = await fetch(client, "GET", f"{kura.url}/")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/html")
    page = reply.body.decode()
    assert "99 <span" in page and "of 100 pulls left" in page
    assert "docker.io/library/nginx" in page and "hit ratio" in page
    assert "<script" not in page and "http://" not in page.replace(kura.url, "")


async def test_no_secret_in_any_endpoint(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hub.push_image(make_image(33, [1000]), repo="library/alpine", tag="3")
    hub.push_image(make_image(34, [100]), repo="ratelimitpreview/test", tag="latest")
    await pull_image(client, kura.url, "alpine", "3")
    hub.faults.abuse_429, hub.faults.status_kinds = True, {"manifest"}
    await fetch(client, "GET", f"{kura.url}/v2/alpine/manifests/4")
    hub.faults.clear()
    tokens = [token.value for token in kura.services.upstreams.get("docker.io").tokens._tokens.values()]
    assert tokens, "kura should hold a token by now"
    secrets = [PASSWORD, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(), *tokens]
    pages = []
    for path in ("/quota?probe=1", "/quota", "/metrics", "/", "/readyz", "/healthz"):
        reply = await fetch(client, "GET", f"{kura.url}{path}")
        assert reply.status == 200, path
        pages.append(reply.body.decode())
    pages.append(caplog.text)
    for text in pages:
        for secret in secrets:
            assert secret not in text
        assert "eyJ" not in text  # no JWT at all
