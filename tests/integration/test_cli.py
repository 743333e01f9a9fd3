"""The `kura cache|warm|quota` commands, run as a shell user would, against a real
kura process (and, for quota, a stub serving /quota)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import AsyncIterator

import pytest
from aiohttp import web

from tests.fakes.hub import Hub
from tests.fakes.images import make_image, make_index
from tests.integration.conftest import PASSWORD, USER
from tests.support.admin import TOKEN
from tests.support.kura import REPO_ROOT, start_kura_process, wait_until_up


async def kura_cli(*args: str, token: str | None = TOKEN) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KURA_")}
    if token:
        env["KURA_ADMIN_TOKEN"] = token
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", *args, cwd=REPO_ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


@pytest.fixture
async def kura_process(hub: Hub, tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    cache = tmp_path / "cache"
    env = {
        "KURA_CACHE_DIR": str(cache), "KURA_UPSTREAMS_DOCKER_IO_URL": hub.url,
        "KURA_UPSTREAM_USERNAME": USER, "KURA_UPSTREAM_PASSWORD": PASSWORD,
        "KURA_ADMIN_TOKEN": TOKEN, "KURA_CACHE_ACCESS_FLUSH_S": "0.2",
    }
    process, url = start_kura_process(env, tmp_path / "kura.log")
    try:
        await wait_until_up(url)
        yield url, cache
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_cli_warm_stats_ls_purge(hub: Hub, kura_process: tuple[str, Path]) -> None:
    url, cache = kura_process
    index = make_index([make_image(101, [40_000], arch="amd64"), make_image(102, [30_000], arch="arm64")])
    hub.push_index(index, repo="library/cli", tag="1.0")
    code, out, err = await kura_cli("warm", "cli:1.0", "--platform", "linux/amd64", "--platform", "linux/arm64",
                                    "--url", url)
    assert code == 0, err
    assert "done, 4/4 blobs" in out and "3 manifest pulls" in out
    code, out, err = await kura_cli("cache", "stats", "--url", url)
    assert code == 0 and "blobs            4" in out and "repositories     1" in out, out + err
    code, out, _ = await kura_cli("cache", "ls", "library/", "--url", url)
    assert code == 0 and "docker.io/library/cli" in out and "1.0" in out
    code, out, _ = await kura_cli("cache", "purge", "cli:1.0", "--dry-run", "--url", url)
    assert code == 0 and out.startswith("would remove 1 tags, 3 manifests, 4 blobs")
    code, out, _ = await kura_cli("cache", "purge", "cli:1.0", "--url", url, "--json")
    assert code == 0 and json.loads(out)["blobs"] == 4
    code, _, err = await kura_cli("cache", "purge", "cli:1.0", "--url", url)
    assert code == 1 and "not in the cache" in err
    hub.reset()
    code, _, err = await kura_cli("warm", "cli:1.0", "--url", url)  # default platform: linux/amd64
    assert code == 0, err
    assert hub.counts("cdn") == 2


async def test_cli_purge_unused_for(hub: Hub, kura_process: tuple[str, Path]) -> None:
    url, _ = kura_process
    hub.push_image(make_image(103, [10_000]), repo="library/old", tag="1")
    assert (await kura_cli("warm", "old:1", "--url", url))[0] == 0
    code, out, _ = await kura_cli("cache", "purge", "--unused-for", "7d", "--url", url)
    assert code == 0 and out.startswith("removed 0 tags, 0 manifests, 0 blobs")
    code, out, _ = await kura_cli("cache", "purge", "--unused-for", "0s", "--url", url)
    assert code == 0 and "2 blobs" in out


async def test_cli_reports_failures_like_a_shell_tool(kura_process: tuple[str, Path]) -> None:
    url, _ = kura_process
    code, _, err = await kura_cli("cache", "stats", "--url", url, token="wrong")
    assert code == 1 and "unauthorized: wrong admin token" in err and "wrong" not in err.split(":", 1)[0]
    code, _, err = await kura_cli("cache", "stats", "--url", url, token=None)
    assert code == 1 and "no admin token" in err
    code, _, err = await kura_cli("cache", "stats", "--url", "http://127.0.0.1:9")
    assert code == 1 and "cannot reach kura" in err
    code, _, err = await kura_cli("cache", "purge", "--unused-for", "soon", "--url", url)
    assert code == 2 and "not a duration" in err
    code, _, err = await kura_cli("warm", "missing:1", "--url", url)
    assert code == 1 and "failed" in err
    code, out, err = await kura_cli("quota", "--url", url)  # the real /quota of a real kura
    assert code == 0 and out.startswith("docker.io: "), err


async def test_cli_offline_reads_and_purges_the_cache_directory(hub: Hub, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {"KURA_CACHE_DIR": str(cache), "KURA_UPSTREAMS_DOCKER_IO_URL": hub.url,
           "KURA_UPSTREAM_USERNAME": USER, "KURA_UPSTREAM_PASSWORD": PASSWORD, "KURA_ADMIN_TOKEN": TOKEN}
    image = make_image(104, [20_000])
    hub.push_image(image, repo="library/off", tag="2")
    process, url = start_kura_process(env, tmp_path / "kura.log")
    try:
        await wait_until_up(url)
        assert (await kura_cli("warm", "off:2", "--url", url))[0] == 0
    finally:
        process.terminate()
        process.wait(timeout=10)
    code, out, err = await kura_cli("cache", "stats", "--offline", "--cache-dir", str(cache), "--json", token=None)
    assert code == 0, err
    assert json.loads(out)["blobs"] == 2
    code, out, _ = await kura_cli("cache", "ls", "--offline", "--cache-dir", str(cache), token=None)
    assert "docker.io/library/off" in out
    code, out, _ = await kura_cli("cache", "purge", "off", "--offline", "--cache-dir", str(cache), token=None)
    assert code == 0 and "removed 1 tags, 1 manifests, 2 blobs" in out
    assert not any(p.is_file() for p in (cache / "blobs").rglob("*"))
    code, _, err = await kura_cli("cache", "stats", "--offline", "--cache-dir", str(tmp_path / "none"), token=None)
    assert code == 1 and "no cache" in err


async def test_cli_quota_pretty_prints(tmp_path: Path) -> None:
    quota = {"upstreams": {
        "docker.io": {"limit": 100, "remaining": 76, "window_s": 21600, "source": "203.0.113.9",
                      "observed_at": "2026-11-28T08:00:00Z", "pulls_spent": 24, "pulls_saved": 310,
                      "mode": "normal", "unlimited": False, "spend_rate_per_hour": 2.5, "future_field": {"x": 1},
                      "last_429": {"kind": "pull_limit", "at": 1_700_000_000, "retry_after_s": 60}},
        "ghcr.io": {"unlimited": True},
        "quay.io": {},
    }}
    async def serve_quota(request: web.Request) -> web.Response:
        return web.json_response(quota)

    app = web.Application()
    app.router.add_get("/quota", serve_quota)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        code, out, err = await kura_cli("quota", "--url", url)
        assert code == 0, err
        assert "docker.io: 76 of 100 pulls left per 6h" in out
        assert "pulls saved         310" in out and "ghcr.io: unlimited" in out
        assert "2.5 pulls/hour" in out and "kind=pull_limit" in out and "2026-11-28T08:00:00Z" in out
        assert "quay.io: not observed yet" in out
    finally:
        await runner.cleanup()


async def test_admin_api_on_its_own_listener_only(hub: Hub, tmp_path: Path) -> None:
    from tests.support.kura import free_port

    admin_port = free_port()
    env = {"KURA_CACHE_DIR": str(tmp_path / "cache"), "KURA_UPSTREAMS_DOCKER_IO_URL": hub.url,
           "KURA_ADMIN_TOKEN": TOKEN, "KURA_ADMIN_LISTEN": f"127.0.0.1:{admin_port}"}
    process, url = start_kura_process(env, tmp_path / "kura.log")
    try:
        await wait_until_up(url)
        code, _, err = await kura_cli("cache", "stats", "--url", url)
        assert code == 1 and "disabled" in err  # 404 on the registry listener
        code, out, err = await kura_cli("cache", "stats", "--url", f"http://127.0.0.1:{admin_port}")
        assert code == 0 and "blobs" in out, err
    finally:
        process.terminate()
        process.wait(timeout=10)
