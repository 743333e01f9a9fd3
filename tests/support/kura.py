"""Run kura for tests: in-process on a free 127.0.0.1 port, or as a real process."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import AsyncIterator

import aiohttp
from aiohttp import web

from proxy.api.keys import SERVICES, Services
from proxy.app import create_app
from proxy.config import Credential, Secret, Settings, UpstreamSettings
from proxy.server import runner_options, ssl_context

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class KuraServer:
    url: str
    app: web.Application

    @property
    def services(self) -> Services:
        return self.app[SERVICES]


def kura_settings(
    cache_dir: Path,
    upstream_url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    extra_upstreams: dict[str, str] | None = None,
    **overrides: object,
) -> Settings:
    credential = Credential(username, Secret(password)) if username and password else None
    upstreams = {"docker.io": UpstreamSettings("docker.io", url=upstream_url, credential=credential)}
    for registry, url in (extra_upstreams or {}).items():
        upstreams[registry] = UpstreamSettings(registry, url=url)
    # A short grace: tests stop kura with fills still hanging on purpose.
    base = Settings(listen="127.0.0.1:0", cache_dir=cache_dir, upstreams=upstreams, shutdown_grace_s=1.0)
    return replace(base, **overrides)  # type: ignore[arg-type]


@asynccontextmanager
async def running_kura(settings: Settings) -> AsyncIterator[KuraServer]:
    """kura in this process, served with the same runner options as `kura serve`."""
    app = create_app(settings)
    runner = web.AppRunner(app, **runner_options(settings))
    await runner.setup()
    context = ssl_context(settings)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    scheme = "https" if context else "http"
    try:
        yield KuraServer(f"{scheme}://127.0.0.1:{port}", app)
    finally:
        await runner.cleanup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_kura_process(env_overrides: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m proxy serve` configured only through KURA_* variables."""
    port = free_port()
    env = {**os.environ, "KURA_SERVER_LISTEN": f"127.0.0.1:{port}", **env_overrides}
    log = open(log_path, "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "proxy", "serve"], cwd=REPO_ROOT, env=env, stdout=log, stderr=log
    )
    return process, f"http://127.0.0.1:{port}"


async def wait_until_up(url: str, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url + "/v2/") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"kura at {url} did not come up")
            await asyncio.sleep(0.05)
