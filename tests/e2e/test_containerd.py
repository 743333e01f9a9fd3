"""A real containerd pulls through kura using the hosts.toml `kura mirror-config` wrote.

containerd's fallback `server` is a dead local port, never Docker Hub: every byte must
come through kura from the Distribution-backed Hub stand-in.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from proxy.__main__ import main as kura_main
from tests.conftest import IN_CI, require_binary
from tests.e2e.conftest import run
from tests.fakes.hub import Hub
from tests.fakes.images import make_image, make_index
from tests.support.containerd import can_run_containerd, private_containerd
from tests.support.kura import KuraServer, free_port

pytestmark = pytest.mark.e2e


def write_hosts_dir(kura: KuraServer, out: Path, config: Path) -> Path:
    """Run `kura mirror-config containerd` as an operator would, with kura's own config."""
    config.write_text(f'[upstreams."docker.io"]\nurl = "{kura.services.settings.default_upstream.url}"\n')
    dead = f"http://127.0.0.1:{free_port()}"
    code = kura_main(["mirror-config", "containerd", "--url", kura.url, "--out", str(out),
                      "--config", str(config), "--server", f"docker.io={dead}"])
    assert code == 0
    return out


async def ctr_pull(ctr: str, socket: Path, hosts: Path, reference: str, platform: str) -> str:
    return await run(ctr, "-a", str(socket), "-n", "test", "images", "pull", "--hosts-dir", str(hosts),
                     "--platform", platform, "--snapshotter", "native", reference, timeout_s=180)


async def image_digest(ctr: str, socket: Path, reference: str) -> str:
    listing = await run(ctr, "-a", str(socket), "-n", "test", "images", "ls")
    for line in listing.splitlines():
        if line.startswith(reference + " "):
            return re.search(r"sha256:[0-9a-f]{64}", line).group(0)
    raise AssertionError(f"{reference} not in:\n{listing}")


async def test_containerd_pulls_through_kura_with_generated_hosts_toml(
    hub: Hub, kura: KuraServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    containerd, ctr = require_binary("containerd"), require_binary("ctr")
    if reason := can_run_containerd():
        pytest.fail(reason) if IN_CI else pytest.skip(reason)
    caplog.set_level(logging.INFO, logger="kura.access")
    index = make_index([make_image(300, [700_000, 90_000], arch="amd64"),
                        make_image(301, [650_000, 80_000], arch="arm64")])
    hub.push_index(index, repo="library/ctrpull", tag="1")
    hosts = write_hosts_dir(kura, tmp_path / "certs.d", tmp_path / "kura.toml")
    assert 'capabilities = ["pull", "resolve"]' in (hosts / "docker.io" / "hosts.toml").read_text()
    reference = "docker.io/library/ctrpull:1"
    hub.reset()

    async with private_containerd(containerd, ctr, tmp_path / "ctr1", hosts) as socket:
        await ctr_pull(ctr, socket, hosts, reference, "linux/arm64")
        assert await image_digest(ctr, socket, reference) == index.manifest_digest
    arm = index.images[1]
    assert hub.counts("cdn") == len(arm.blobs)  # the arm64 config and layers, once each
    access = [r for r in caplog.records if r.name == "kura.access"]
    assert access and all(r.ns == "docker.io" for r in access if r.path.startswith("/v2/library/"))
    pulled = {r.path.rsplit("/", 1)[1] for r in access if "/blobs/" in r.path and r.status == 200}
    assert pulled == set(arm.blobs)

    hub.reset()
    async with private_containerd(containerd, ctr, tmp_path / "ctr2", hosts) as socket:
        await ctr_pull(ctr, socket, hosts, reference, "linux/arm64")
        assert await image_digest(ctr, socket, reference) == index.manifest_digest
    assert hub.counts("blob") == 0 and hub.counts("cdn") == 0
    assert hub.counts("manifest", "GET") == 0
