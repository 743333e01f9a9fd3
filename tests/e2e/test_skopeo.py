"""skopeo pulls through kura from the real Distribution registry (token auth, CDN redirects)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.e2e.conftest import run
from tests.fakes.hub import Hub
from tests.fakes.images import make_image, make_index
from tests.support.kura import KuraServer

pytestmark = pytest.mark.e2e


def _host(url: str) -> str:
    return url.removeprefix("http://")


async def skopeo_copy(kura: KuraServer, reference: str, out: Path, *extra: str) -> None:
    skopeo = require_binary("skopeo")
    await run(skopeo, "--insecure-policy", "copy", "--src-tls-verify=false", "--preserve-digests", *extra,
              f"docker://{_host(kura.url)}/{reference}", f"dir:{out}")


def _verify_dir(out: Path) -> dict[str, bytes]:
    """Every file skopeo wrote hashes to its name; return digest -> bytes."""
    blobs = {}
    for path in out.iterdir():
        if len(path.name) == 64:
            data = path.read_bytes()
            assert hashlib.sha256(data).hexdigest() == path.name
            blobs["sha256:" + path.name] = data
    return blobs


async def test_skopeo_copy_through_kura(hub: Hub, kura: KuraServer, tmp_path: Path) -> None:
    image = make_image(100, [3 * 1024 * 1024, 200_000])
    hub.push_image(image, repo="library/e2e-single", tag="1")
    hub.reset()
    await skopeo_copy(kura, "e2e-single:1", tmp_path / "one")
    manifest = (tmp_path / "one" / "manifest.json").read_bytes()
    assert "sha256:" + hashlib.sha256(manifest).hexdigest() == image.manifest_digest
    assert set(_verify_dir(tmp_path / "one")) == set(image.blobs)
    assert hub.counts("cdn") == len(image.blobs)
    assert all("authorization" not in r.headers for r in hub.requests if r.kind == "cdn")

    hub.reset()
    await skopeo_copy(kura, "library/e2e-single:1", tmp_path / "two")
    assert hub.counts("blob") == 0 and hub.counts("cdn") == 0
    assert hub.counts("manifest", "GET") == 0


async def test_skopeo_copy_all_platforms_of_an_index(hub: Hub, kura: KuraServer, tmp_path: Path) -> None:
    index = make_index([make_image(101, [500_000], arch="amd64"), make_image(102, [500_000], arch="arm64")])
    hub.push_index(index, repo="library/e2e-multi", tag="1")
    out = tmp_path / "all"
    await skopeo_copy(kura, "e2e-multi:1", out, "--all")
    top = (out / "manifest.json").read_bytes()
    assert "sha256:" + hashlib.sha256(top).hexdigest() == index.manifest_digest
    written = _verify_dir(out)
    for image in index.images:
        assert set(image.blobs) <= set(written)

    arm = tmp_path / "arm"
    await skopeo_copy(kura, "e2e-multi:1", arm, "--override-arch", "arm64")
    chosen = json.loads((arm / "manifest.json").read_bytes())
    assert chosen["config"]["digest"] == index.images[1].config_digest


async def test_kura_serve_process_with_env_config_serves_skopeo(hub: Hub, tmp_path: Path) -> None:
    """The product as an operator runs it: `python -m proxy serve`, configured by KURA_* only."""
    from tests.e2e.conftest import PASSWORD, USER
    from tests.support.kura import start_kura_process, wait_until_up

    image = make_image(103, [300_000])
    hub.push_image(image, repo="library/e2e-process", tag="1")
    env = {"KURA_CACHE_DIR": str(tmp_path / "cache"), "KURA_UPSTREAMS_DOCKER_IO_URL": hub.url,
           "KURA_UPSTREAM_USERNAME": USER, "KURA_UPSTREAM_PASSWORD": PASSWORD}
    process, url = start_kura_process(env, tmp_path / "kura.log")
    try:
        await wait_until_up(url)
        out = tmp_path / "out"
        await run(require_binary("skopeo"), "--insecure-policy", "copy", "--src-tls-verify=false",
                  f"docker://{_host(url)}/e2e-process:1", f"dir:{out}")
        assert set(_verify_dir(out)) == set(image.blobs)
    finally:
        process.terminate()
        process.wait(timeout=10)
    log = (tmp_path / "kura.log").read_text()
    assert PASSWORD not in log and "Traceback" not in log
