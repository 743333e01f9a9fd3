"""make_image/make_index: deterministic, well-formed images."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

from tests.fakes import (
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    make_image,
    make_index,
    sha256_digest,
)


def test_same_seed_gives_same_digests_and_other_seed_does_not() -> None:
    assert make_image(1, [100, 200]).manifest_digest == make_image(1, [100, 200]).manifest_digest
    assert make_image(1, [100]).layer_digests != make_image(2, [100]).layer_digests


def test_every_blob_is_stored_under_its_own_digest() -> None:
    image = make_image(3, [10, 5000])
    assert set(image.blobs) == {image.config_digest, *image.layer_digests}
    assert all(sha256_digest(blob) == digest for digest, blob in image.blobs.items())
    assert sha256_digest(image.manifest_bytes) == image.manifest_digest


def _tar_members(layer: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        return tar.getmembers()


def test_layers_are_gzipped_tars_matching_the_config_diff_ids() -> None:
    image = make_image(4, [1234, 0])
    config = json.loads(image.blobs[image.config_digest])
    for digest, diff_id in zip(image.layer_digests, config["rootfs"]["diff_ids"], strict=True):
        tar_bytes = gzip.decompress(image.blobs[digest])
        assert "sha256:" + hashlib.sha256(tar_bytes).hexdigest() == diff_id
    sizes = [
        [m.size for m in _tar_members(image.blobs[d]) if m.isfile()] for d in image.layer_digests
    ]
    assert sizes == [[1234], [0]]


def test_manifest_describes_config_and_layers() -> None:
    image = make_image(5, [100], arch="arm64", variant="v8", media_type=OCI_MANIFEST)
    manifest = json.loads(image.manifest_bytes)
    assert manifest["mediaType"] == OCI_MANIFEST == image.manifest_media_type
    assert manifest["config"]["digest"] == image.config_digest
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert [layer["size"] for layer in manifest["layers"]] == [
        len(image.blobs[d]) for d in image.layer_digests
    ]
    assert json.loads(image.config_bytes)["architecture"] == "arm64"


def test_index_lists_each_image_with_its_platform() -> None:
    amd, arm = make_image(6, [10]), make_image(6, [10], arch="arm64", variant="v8")
    for media_type in (DOCKER_MANIFEST_LIST, OCI_INDEX):
        index = make_index([amd, arm], media_type=media_type)
        entries = json.loads(index.manifest_bytes)["manifests"]
        assert index.manifest_media_type == media_type
        assert [e["digest"] for e in entries] == [amd.manifest_digest, arm.manifest_digest]
        assert entries[1]["platform"] == {"architecture": "arm64", "os": "linux", "variant": "v8"}
    assert set(index.blobs) == set(amd.blobs) | set(arm.blobs)
