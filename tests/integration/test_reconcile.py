"""Start-up reconcile: files without rows, rows without files, corrupt files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import aiohttp

from proxy.config import Secret
from proxy.reference import parse_digest
from tests.fakes.hub import Hub
from tests.fakes.images import make_image
from tests.integration.conftest import PASSWORD, USER
from tests.support.admin import TOKEN, admin
from tests.support.kura import kura_settings, running_kura
from tests.support.registry_client import pull_image


async def test_startup_reconciles_orphans(hub: Hub, cache_dir: Path, client: aiohttp.ClientSession) -> None:
    image = make_image(90, [30_000, 20_000])
    hub.push_image(image, repo="library/r", tag="1")
    settings = kura_settings(cache_dir, hub.url, username=USER, password=PASSWORD, admin_token=Secret(TOKEN))
    async with running_kura(settings) as kura:
        await pull_image(client, kura.url, "r", "1")
        paths = kura.services.paths
    lost = image.layer_digests[0]
    paths.blob(parse_digest(lost)).unlink()  # a row without its file
    orphan = b"a verified file the index never heard of"
    orphan_digest = parse_digest("sha256:" + hashlib.sha256(orphan).hexdigest())
    paths.blob(orphan_digest).parent.mkdir(parents=True, exist_ok=True)
    paths.blob(orphan_digest).write_bytes(orphan)
    corrupt = parse_digest("sha256:" + "ab" * 32)
    paths.blob(corrupt).parent.mkdir(parents=True, exist_ok=True)
    paths.blob(corrupt).write_bytes(b"not what the digest says")
    (paths.blobs_dir / "stray.txt").write_text("junk")

    async with running_kura(settings) as kura:
        status, stats = await admin(client, kura.url, "GET", "/admin/cache")
        assert stats["reconciled"] == {"indexed": 1, "removed_files": 2, "dropped_rows": 1}
        assert stats["blobs"] == len(image.blobs)  # one lost, one orphan adopted
        assert not paths.blob(corrupt).exists() and paths.blob(orphan_digest).exists()
        hub.reset()
        await pull_image(client, kura.url, "r", "1")
        assert hub.counts("cdn") == 1  # only the lost layer is fetched again
    async with running_kura(settings) as kura:
        assert kura.services.janitor.reconciled == {"indexed": 0, "removed_files": 0, "dropped_rows": 0}
