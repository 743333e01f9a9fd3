"""kura serves HTTPS from tls_cert_file/tls_key_file; skopeo (--src-cert-dir) and
containerd (`ca` in the generated hosts.toml) trust it through a throwaway CA made with
trustme, with verification on."""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import replace
from pathlib import Path
from typing import AsyncIterator

import aiohttp
import pytest
import trustme

from proxy.__main__ import main as kura_main
from tests.conftest import IN_CI, require_binary
from tests.e2e.conftest import PASSWORD, USER, run
from tests.fakes.hub import Hub
from tests.fakes.images import make_image
from tests.support.containerd import can_run_containerd, private_containerd
from tests.support.kura import KuraServer, free_port, kura_settings, running_kura

pytestmark = pytest.mark.e2e


@pytest.fixture
def ca(tmp_path: Path) -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_kura(hub: Hub, tmp_path: Path, ca: trustme.CA) -> AsyncIterator[KuraServer]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "kura.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "kura.key"))
    settings = replace(kura_settings(tmp_path / "cache", hub.url, username=USER, password=PASSWORD),
                       tls_cert_file=str(tmp_path / "kura.pem"), tls_key_file=str(tmp_path / "kura.key"))
    async with running_kura(settings) as server:
        yield server


async def test_skopeo_pulls_over_https_trusting_only_the_test_ca(
    hub: Hub, tls_kura: KuraServer, ca: trustme.CA, tmp_path: Path
) -> None:
    skopeo = require_binary("skopeo")
    assert tls_kura.url.startswith("https://")
    image = make_image(320, [300_000])
    hub.push_image(image, repo="library/tlspull", tag="1")
    certs = tmp_path / "certs"
    certs.mkdir()
    ca.cert_pem.write_to_path(str(certs / "ca.crt"))
    host = tls_kura.url.removeprefix("https://")
    out = tmp_path / "out"
    await run(skopeo, "--insecure-policy", "copy", "--src-cert-dir", str(certs), "--preserve-digests",
              f"docker://{host}/library/tlspull:1", f"dir:{out}")
    manifest = (out / "manifest.json").read_bytes()
    assert "sha256:" + hashlib.sha256(manifest).hexdigest() == image.manifest_digest


async def test_https_refuses_plain_http_and_untrusting_clients(tls_kura: KuraServer, ca: trustme.CA) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(tls_kura.url + "/v2/")
        context = ssl.create_default_context()
        ca.configure_trust(context)
        async with session.get(tls_kura.url + "/v2/", ssl=context) as response:
            assert response.status == 200
        plain = tls_kura.url.replace("https://", "http://")
        with pytest.raises(aiohttp.ClientError):
            async with session.get(plain + "/v2/") as response:
                await response.read()


async def test_containerd_pulls_over_https_with_the_ca_named_in_generated_hosts_toml(
    hub: Hub, tls_kura: KuraServer, ca: trustme.CA, tmp_path: Path
) -> None:
    containerd, ctr = require_binary("containerd"), require_binary("ctr")
    if reason := can_run_containerd():
        pytest.fail(reason) if IN_CI else pytest.skip(reason)
    image = make_image(321, [200_000])
    hub.push_image(image, repo="library/tlsctr", tag="1")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.crt"))
    config = tmp_path / "kura.toml"
    config.write_text('[upstreams."docker.io"]\n')
    hosts = tmp_path / "certs.d"
    assert kura_main(["mirror-config", "containerd", "--url", tls_kura.url, "--out", str(hosts),
                      "--config", str(config), "--ca", str(tmp_path / "ca.crt"),
                      "--server", f"docker.io=http://127.0.0.1:{free_port()}"]) == 0
    reference = "docker.io/library/tlsctr:1"
    hub.reset()
    async with private_containerd(containerd, ctr, tmp_path / "ctr", hosts) as socket:
        await run(ctr, "-a", str(socket), "-n", "test", "images", "pull", "--hosts-dir", str(hosts),
                  "--platform", "linux/amd64", "--snapshotter", "native", reference, timeout_s=180)
        listing = await run(ctr, "-a", str(socket), "-n", "test", "images", "ls")
    assert image.manifest_digest in listing
    assert hub.counts("cdn") == len(image.blobs)
