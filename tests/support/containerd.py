"""A private containerd for tests: own root, state, sockets and config under a temp dir,
the CRI plugin and the snapshotters this machine lacks disabled (see TESTING.md)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import AsyncIterator

DISABLED_PLUGINS = [
    "io.containerd.grpc.v1.cri",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.aufs",
]


def containerd_config(base: Path, sockets: Path, hosts_dir: Path) -> str:
    disabled = ", ".join(f'"{name}"' for name in DISABLED_PLUGINS)
    return (
        "version = 2\n"
        f'root = "{base}/root"\nstate = "{base}/state"\n'
        f"disabled_plugins = [{disabled}]\n"
        f'[grpc]\n  address = "{sockets}/containerd.sock"\n'
        f'[ttrpc]\n  address = "{sockets}/containerd-ttrpc.sock"\n'
        f'[debug]\n  address = "{sockets}/containerd-debug.sock"\n'
        f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{base}/opt"\n'
        # Where a CRI-enabled containerd would read the mirror config; ctr gets --hosts-dir.
        f'# config_path = "{hosts_dir}"\n'
    )


@contextlib.asynccontextmanager
async def private_containerd(containerd: str, ctr: str, base: Path, hosts_dir: Path) -> AsyncIterator[Path]:
    """Start containerd under `base`; yield its socket once it answers; stop it."""
    base.mkdir(parents=True, exist_ok=True)
    # Unix socket paths are limited to ~108 bytes; pytest's tmp_path can be longer.
    sockets = Path(tempfile.mkdtemp(prefix="kura-ctr-", dir="/tmp"))
    config = base / "config.toml"
    config.write_text(containerd_config(base, sockets, hosts_dir))
    socket = sockets / "containerd.sock"
    log = open(base / "containerd.log", "wb")
    process = subprocess.Popen([containerd, "--config", str(config)], stdout=log, stderr=log,
                               start_new_session=True)
    try:
        await _wait_for(ctr, socket, process, base)
        yield socket
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(sockets, ignore_errors=True)


async def _wait_for(ctr: str, socket: Path, process: subprocess.Popen[bytes], base: Path) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"containerd exited: {(base / 'containerd.log').read_text()[-2000:]}")
        if socket.exists():
            probe = await asyncio.create_subprocess_exec(
                ctr, "-a", str(socket), "version",
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            if await probe.wait() == 0:
                return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"containerd did not answer: {(base / 'containerd.log').read_text()[-2000:]}")


def can_run_containerd() -> str | None:
    """Why a private containerd cannot run here, or None when it can (it needs root)."""
    if os.geteuid() != 0:
        return "containerd needs root (mounts for the native snapshotter)"
    return None
