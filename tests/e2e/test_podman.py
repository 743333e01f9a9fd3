"""podman (root, vfs storage) pulls through kura with the registries.conf that
`kura mirror-config podman` prints; the `docker.io` location itself is a dead port."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from proxy.__main__ import main as kura_main
from tests.conftest import IN_CI, require_binary
from tests.e2e.conftest import run
from tests.fakes.hub import Hub
from tests.fakes.images import make_image
from tests.support.kura import KuraServer, free_port

pytestmark = pytest.mark.e2e


def registries_conf(kura: KuraServer, tmp_path: Path) -> Path:
    """The generated fragment, with the upstream's own location pointed at a dead port."""
    config = tmp_path / "kura.toml"
    config.write_text(f'[upstreams."docker.io"]\nurl = "http://127.0.0.1:{free_port()}"\n')
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert kura_main(["mirror-config", "podman", "--url", kura.url, "--config", str(config)]) == 0
    path = tmp_path / "registries.conf"
    path.write_text(out.getvalue())
    return path


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """podman refuses a runroot longer than 50 characters; pytest's tmp_path is longer."""
    path = Path(tempfile.mkdtemp(prefix="kura-podman-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def podman(tmp_path: Path, run_dir: Path, conf: Path, *argv: str) -> str:
    binary = require_binary("podman")
    env_prefix = ["env", f"CONTAINERS_REGISTRIES_CONF={conf}", "CONTAINERS_CONF=/dev/null",
                  f"CONTAINERS_POLICY_JSON={tmp_path / 'policy.json'}"]
    return await run(*env_prefix, binary, "--root", str(tmp_path / "root"), "--runroot", str(run_dir),
                     "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none",
                     "--tmpdir", str(tmp_path / "tmp"), *argv, timeout_s=180)


async def test_podman_pulls_through_kura_with_generated_registries_conf(
    hub: Hub, kura: KuraServer, tmp_path: Path, short_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if os.geteuid() != 0:
        reason = "podman with vfs storage needs root here"
        pytest.fail(reason) if IN_CI else pytest.skip(reason)
    caplog.set_level(logging.INFO, logger="kura.access")
    image = make_image(310, [400_000, 60_000])
    hub.push_image(image, repo="library/podpull", tag="1")
    conf = registries_conf(kura, tmp_path)
    (tmp_path / "policy.json").write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    hub.reset()
    await podman(tmp_path, short_dir, conf, "pull", "docker.io/library/podpull:1")
    listed = await podman(tmp_path, short_dir, conf, "images", "--digests", "--format", "{{.Digest}}")
    assert image.manifest_digest in listed
    assert hub.counts("cdn") == len(image.blobs)
    blobs = {r.path.rsplit("/", 1)[1] for r in caplog.records
             if r.name == "kura.access" and "/blobs/" in r.path and r.status == 200}
    assert blobs == set(image.blobs)
