"""A private ``docker-registry`` (Distribution 2.8) subprocess with token auth.

The registry trusts the hub's token CA, names the hub's token server as its realm, keeps
its storage in the hub's work dir and listens on a free 127.0.0.1 port.
"""

from __future__ import annotations

import asyncio
import atexit
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from ..support.processes import stop_process
from .wire import SERVICE

BINARY = "docker-registry"
_START_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 5.0
_START_ATTEMPTS = 3  # the free port we pick may be taken before the registry binds it


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def registry_config(
    root: Path, port: int, realm: str, issuer: str, cert_pem: Path
) -> dict[str, Any]:
    """The registry's YAML configuration as a dict."""
    return {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
        "auth": {
            "token": {
                "realm": realm,
                "service": SERVICE,
                "issuer": issuer,
                "rootcertbundle": str(cert_pem),
            }
        },
        "health": {"storagedriver": {"enabled": False}},
    }


class RegistryProcess:
    """Owns one ``docker-registry serve`` process; ``url`` is set once it answers."""

    def __init__(self, workdir: Path, realm: str, issuer: str, cert_pem: Path) -> None:
        self._workdir, self._realm, self._issuer, self._cert_pem = workdir, realm, issuer, cert_pem
        self._process: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def log_path(self) -> Path:
        return self._workdir / "registry.log"

    async def start(self, session: aiohttp.ClientSession) -> None:
        """Start the registry and wait until ``/v2/`` answers (401 counts as up)."""
        binary = shutil.which(BINARY)
        if binary is None:
            raise RuntimeError("docker-registry not installed: apt-get install -y docker-registry")
        for _ in range(_START_ATTEMPTS):
            port = _free_port()
            config_path = self._workdir / "registry.yml"
            config = registry_config(
                self._workdir / "storage", port, self._realm, self._issuer, self._cert_pem
            )
            config_path.write_text(yaml.safe_dump(config))
            with self.log_path.open("ab") as log:
                self._process = subprocess.Popen(
                    [binary, "serve", str(config_path)], stdout=log, stderr=subprocess.STDOUT
                )
            # Should the test process end without stop() (Ctrl-C), do not leave it running.
            atexit.register(self.stop)
            self.url = f"http://127.0.0.1:{port}"
            if await self._wait_up(session):
                return
            self.stop()
        raise RuntimeError(
            f"docker-registry did not start; log:\n{self.log_path.read_text()[-2000:]}"
        )

    async def _wait_up(self, session: aiohttp.ClientSession) -> bool:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                async with session.get(f"{self.url}/v2/") as response:
                    if response.status in (200, 401):
                        return True
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
        return False

    def stop(self) -> None:
        """Terminate the process, killing it if it does not exit promptly."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        stop_process(process, _STOP_TIMEOUT_S)
