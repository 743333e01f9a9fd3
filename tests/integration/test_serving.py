"""How kura serves: access lines and request ids, limits on slow or oversized clients,
graceful shutdown of a real process."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import signal
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from proxy.config import ClientSettings, Secret
from proxy.logs import make_formatter
from tests.fakes.hub import Hub
from tests.fakes.images import make_image
from tests.integration.conftest import PASSWORD, USER
from tests.support.kura import KuraServer, kura_settings, running_kura, start_kura_process, wait_until_up
from tests.support.registry_client import Reply, fetch, pull_image


def _request_id(reply: Reply) -> str:
    return {key.lower(): value for key, value in reply.headers.items()}.get("x-request-id", "")


async def _access_lines(caplog: pytest.LogCaptureFixture, count: int) -> list[logging.LogRecord]:
    """The access lines, once `count` are there: aiohttp writes each one after the
    response went out, so the client may see the body first."""
    for _ in range(1000):
        lines = [r for r in caplog.records if r.name == "kura.access"]
        if len(lines) >= count:
            return lines
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} access lines, got {len(lines)}")


async def test_one_access_line_per_request_with_cache_result_ns_and_request_id(
    hub: Hub, kura: KuraServer, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kura.access")
    image = make_image(500, [50_000])
    hub.push_image(image, repo="library/logged", tag="1")
    layer = image.layer_digests[0]
    url = f"{kura.url}/v2/logged/blobs/{layer}?ns=docker.io"
    size = len(image.blobs[layer])
    first = await fetch(client, "GET", url, {"X-Request-Id": "trace-abc.1"})
    second = await fetch(client, "GET", url, {"X-Request-Id": "bad id with spaces"})
    assert _request_id(first) == "trace-abc.1"
    assert _request_id(second) != "bad id with spaces" and len(_request_id(second)) == 32
    miss, hit = await _access_lines(caplog, 2)
    assert (miss.method, miss.path, miss.status, miss.bytes, miss.cache, miss.ns) == (
        "GET", f"/v2/logged/blobs/{layer}", 200, size, "miss", "docker.io")
    assert (hit.cache, hit.bytes, hit.request_id) == ("hit", size, _request_id(second))
    assert miss.request_id == "trace-abc.1" and miss.client == "127.0.0.1" and miss.duration_ms >= 0
    manifest = await fetch(client, "HEAD", f"{kura.url}/v2/logged/manifests/1")
    assert manifest.status == 200 and (await _access_lines(caplog, 3))[-1].cache == "miss"
    error = await fetch(client, "GET", f"{kura.url}/v2/logged/manifests/nope")
    assert error.status == 404 and _request_id(error) and (await _access_lines(caplog, 4))[-1].status == 404


async def test_logs_never_show_secrets_or_signed_urls(
    hub: Hub, cache_dir: Path, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "client-token-never-logged"
    settings = replace(kura_settings(cache_dir, hub.url, username=USER, password=PASSWORD),
                       clients=ClientSettings(tokens=(Secret(token),)))
    image = make_image(501, [20_000])
    hub.push_image(image, repo="library/quiet", tag="1")
    async with running_kura(settings) as kura:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
            await pull_image(session, kura.url, "quiet", "1", "?ns=docker.io")
    text = caplog.text + "".join(json.dumps(r.__dict__, default=str) for r in caplog.records)
    assert "spends a pull" in text  # upstream calls are logged at debug, with their cost
    for secret in (token, PASSWORD, "Bearer ", "sig=", "expires=", hub.cdn_url):
        assert secret not in text


def test_json_lines_when_not_a_tty_and_text_otherwise() -> None:
    record = logging.makeLogRecord({"name": "kura.access", "levelno": 20, "levelname": "INFO",
                                    "msg": "GET /v2/ 200", "status": 200, "ns": "docker.io"})
    line = make_formatter("auto", io.StringIO()).format(record)
    assert json.loads(line) | {"ts": "x"} == {"ts": "x", "level": "info", "logger": "kura.access",
                                              "msg": "GET /v2/ 200", "status": 200, "ns": "docker.io"}

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert "INFO kura.access: GET /v2/ 200" in make_formatter("auto", Tty()).format(record)


async def test_client_trickling_headers_is_disconnected_while_others_are_served(
    hub: Hub, cache_dir: Path, client: aiohttp.ClientSession
) -> None:
    settings = replace(kura_settings(cache_dir, hub.url), client_header_timeout_s=0.5)
    async with running_kura(settings) as kura:
        host, port = kura.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /v2/ HTTP/1.1\r\nHost: kura\r\n")
        closed = False
        for i in range(200):  # up to ~20 s of trickling; the timeout is 0.5 s
            try:
                writer.write(f"X-Slow-{i}: a\r\n".encode())
                await writer.drain()
                data = await asyncio.wait_for(reader.read(1024), 0.1)
            except TimeoutError:
                reply = await fetch(client, "GET", kura.url + "/v2/")
                assert reply.status == 200  # the server keeps serving everyone else
                continue
            except ConnectionError:
                data = b""
            assert data == b"", data
            closed = True
            break
        writer.close()
        assert closed, "a client trickling header lines was never disconnected"


async def test_oversized_request_line_and_headers_are_refused(
    kura: KuraServer, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    long_path = await fetch(client, "GET", kura.url + "/v2/" + "a" * 10_000 + "/manifests/1")
    assert long_path.status in (400, 414)
    big_header = await fetch(client, "GET", kura.url + "/v2/", {"X-Big": "b" * 10_000})
    assert big_header.status in (400, 431)
    many = await fetch(client, "GET", kura.url + "/v2/", {f"X-H{i}": "v" for i in range(100)})
    assert many.status in (400, 431)
    assert (await fetch(client, "GET", kura.url + "/v2/")).status == 200
    refused = [r for r in caplog.records if r.name == "kura.http"]
    assert len(refused) == 3 and all(r.levelname == "WARNING" and not r.exc_info for r in refused)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def _refuses_new_connections(url: str) -> bool:
    """Whether kura stops accepting connections (polled: the signal lands asynchronously)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as fresh:
        for _ in range(1000):
            try:
                async with fresh.get(url + "/v2/") as reply:
                    await reply.read()
            except aiohttp.ClientConnectorError:
                return True
            await asyncio.sleep(0.01)
    return False


async def test_sigterm_stops_accepting_but_lets_an_inflight_blob_response_finish(
    hub: Hub, tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    image = make_image(502, [2 * 1024 * 1024])
    hub.push_image(image, repo="library/graceful", tag="1")
    layer = image.layer_digests[0]
    env = {"KURA_CACHE_DIR": str(tmp_path / "cache"), "KURA_UPSTREAMS_DOCKER_IO_URL": hub.url,
           "KURA_UPSTREAM_USERNAME": USER, "KURA_UPSTREAM_PASSWORD": PASSWORD,
           "KURA_SERVER_SHUTDOWN_GRACE_S": "60", "KURA_SERVER_LOG_FORMAT": "json"}
    process, url = start_kura_process(env, tmp_path / "kura.log")
    try:
        await wait_until_up(url)
        hub.faults.cdn_chunk_delay_s, hub.faults.cdn_chunk_size = 0.02, 32 * 1024
        async with client.get(f"{url}/v2/graceful/blobs/{layer}") as response:
            assert response.status == 200
            head = await response.content.readexactly(64 * 1024)
            process.send_signal(signal.SIGTERM)
            assert await _refuses_new_connections(url)
            body = head + await response.read()
        assert "sha256:" + hashlib.sha256(body).hexdigest() == layer
        assert process.wait(timeout=60) == 0
    finally:
        hub.faults.clear()
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = [json.loads(line) for line in (tmp_path / "kura.log").read_text().splitlines() if line.startswith("{")]
    assert any(line.get("path") == f"/v2/graceful/blobs/{layer}" and line.get("status") == 200 for line in lines)
    assert any("shutting down" in line["msg"] for line in lines)
    assert (tmp_path / "cache" / "blobs").exists() and any((tmp_path / "cache" / "blobs").rglob(layer.split(":")[1]))


async def test_access_lines_say_coalesced_for_a_joined_download_and_stale_for_a_fallback(
    hub: Hub, cache_dir: Path, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kura.access")
    image = make_image(503, [1024 * 1024])
    hub.push_image(image, repo="library/joined", tag="1")
    layer = image.layer_digests[0]
    settings = replace(kura_settings(cache_dir, hub.url, username=USER, password=PASSWORD), tag_ttl_s=0)
    async with running_kura(settings) as kura:
        hub.faults.cdn_chunk_delay_s, hub.faults.cdn_chunk_size = 0.01, 32 * 1024
        url = f"{kura.url}/v2/joined/blobs/{layer}"
        async with client.get(url) as first:
            await first.content.readexactly(32 * 1024)  # the fill is running
            second = await fetch(client, "GET", url)
            assert second.status == 200 and second.body == image.blobs[layer]
            await first.read()
        hub.faults.clear()
        assert (await fetch(client, "GET", f"{kura.url}/v2/joined/manifests/1")).status == 200
        hub.faults.refuse = True
        stale = await fetch(client, "GET", f"{kura.url}/v2/joined/manifests/1")
        hub.faults.clear()
        assert stale.status == 200
        lines = await _access_lines(caplog, 4)
    caches = {(r.path.split("/")[3], r.cache) for r in lines}
    assert {("blobs", "miss"), ("blobs", "coalesced"), ("manifests", "miss"), ("manifests", "stale")} <= caches
