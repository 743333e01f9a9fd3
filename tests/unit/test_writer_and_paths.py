import hashlib
from pathlib import Path

import pytest

from proxy.cache.paths import CachePaths
from proxy.cache.writer import VerificationFailed, VerifyingWriter, write_verified
from proxy.reference import parse_digest

DATA = b"kura" * 1000
DIGEST = parse_digest("sha256:" + hashlib.sha256(DATA).hexdigest())


def test_paths_are_content_addressed_and_fanned_out(tmp_path: Path) -> None:
    paths = CachePaths(tmp_path)
    blob = paths.blob(DIGEST)
    assert blob == tmp_path / "blobs" / "sha256" / DIGEST.encoded[:2] / DIGEST.encoded
    assert paths.manifest(DIGEST).parent.parent.parent == tmp_path / "manifests"
    assert paths.temp_for(DIGEST) != paths.temp_for(DIGEST)
    assert paths.temp_for(DIGEST).parent == tmp_path / "tmp"


async def test_verified_bytes_are_published(tmp_path: Path) -> None:
    paths = CachePaths(tmp_path)
    paths.create_dirs()
    writer = VerifyingWriter(paths.temp_for(DIGEST), paths.blob(DIGEST), DIGEST)
    await writer.open()
    for start in range(0, len(DATA), 333):
        await writer.write(DATA[start:start + 333])
    assert await writer.commit(len(DATA)) == len(DATA)
    assert paths.blob(DIGEST).read_bytes() == DATA
    assert list(paths.tmp_dir.iterdir()) == []


@pytest.mark.parametrize("payload,size", [(DATA[:-1] + b"X", len(DATA)), (DATA, len(DATA) + 1), (DATA[:10], None)])
async def test_wrong_bytes_or_size_never_become_an_entry(tmp_path: Path, payload: bytes, size: int | None) -> None:
    paths = CachePaths(tmp_path)
    paths.create_dirs()
    writer = VerifyingWriter(paths.temp_for(DIGEST), paths.blob(DIGEST), DIGEST)
    await writer.open()
    await writer.write(payload)
    with pytest.raises(VerificationFailed):
        await writer.commit(size)
    assert not paths.blob(DIGEST).exists()
    assert list(paths.tmp_dir.iterdir()) == []


async def test_write_verified_for_small_content(tmp_path: Path) -> None:
    paths = CachePaths(tmp_path)
    paths.create_dirs()
    await write_verified(paths.temp_for(DIGEST), paths.manifest(DIGEST), DIGEST, DATA)
    assert paths.manifest(DIGEST).read_bytes() == DATA
