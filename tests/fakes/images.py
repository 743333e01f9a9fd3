"""Deterministic container images built in memory.

``make_image(seed, sizes)`` always yields the same bytes and digests for the same
arguments, so digests are stable across runs and processes. Layers are real
gzip'd tars (containerd unpacks them and checks ``diff_ids``), each holding one file of
seeded random bytes; layer bytes depend only on ``seed`` and ``layer_sizes``, so images
for several platforms made from one seed share their layers, as real indexes often do.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from dataclasses import dataclass, field

from .wire import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
)

# Config and layer media types that go with each manifest media type.
_PARTS = {
    DOCKER_MANIFEST: (DOCKER_CONFIG, DOCKER_LAYER),
    OCI_MANIFEST: (OCI_CONFIG, OCI_LAYER),
}


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Image:
    """One platform image: manifest, config and layers, all as bytes."""

    manifest_bytes: bytes
    manifest_digest: str
    manifest_media_type: str
    config_digest: str
    layer_digests: list[str]
    blobs: dict[str, bytes]  # config and layers, by digest
    arch: str
    os: str
    variant: str | None = None

    @property
    def config_bytes(self) -> bytes:
        return self.blobs[self.config_digest]


@dataclass(frozen=True)
class Index:
    """A multi-platform index (Docker manifest list or OCI index) over ``images``."""

    manifest_bytes: bytes
    manifest_digest: str
    manifest_media_type: str
    images: list[Image] = field(default_factory=list)

    @property
    def blobs(self) -> dict[str, bytes]:
        """Every blob of every child image, by digest."""
        return {d: b for image in self.images for d, b in image.blobs.items()}


def _layer_tar(name: str, payload: bytes) -> bytes:
    """A tar holding one regular file; every header field fixed for reproducibility."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(payload), 0o644, 0
    info.uname = info.gname = "root"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def _dumps(obj: object) -> bytes:
    # Docker writes manifests with three-space indentation; any fixed format would do.
    return json.dumps(obj, indent=3).encode()


def make_image(
    seed: int,
    layer_sizes: list[int],
    arch: str = "amd64",
    os: str = "linux",
    media_type: str = DOCKER_MANIFEST,
    variant: str | None = None,
) -> Image:
    """Build an image whose layer ``i`` holds one file of ``layer_sizes[i]`` random bytes.

    Fast enough for layers of tens of MB: ``randbytes`` plus gzip level 0 (stored deflate
    blocks: valid gzip, 15x faster than level 1, and random data is incompressible
    anyway). ``mtime=0`` keeps the gzip header stable.
    """
    config_type, layer_type = _PARTS[media_type]
    rng = random.Random(seed)
    blobs: dict[str, bytes] = {}
    layers, diff_ids = [], []
    for i, size in enumerate(layer_sizes):
        tar = _layer_tar(f"layer-{seed}-{i}.bin", rng.randbytes(size))
        blob = gzip.compress(tar, compresslevel=0, mtime=0)
        digest = sha256_digest(blob)
        blobs[digest] = blob
        diff_ids.append(sha256_digest(tar))
        layers.append({"mediaType": layer_type, "size": len(blob), "digest": digest})
    platform = {"architecture": arch, "os": os, **({"variant": variant} if variant else {})}
    config = _dumps(
        {
            **platform,
            "created": "1970-01-01T00:00:00Z",
            "config": {"Env": [f"KURA_TEST_SEED={seed}"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    )
    config_digest = sha256_digest(config)
    blobs[config_digest] = config
    manifest = _dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {"mediaType": config_type, "size": len(config), "digest": config_digest},
            "layers": layers,
        }
    )
    return Image(
        manifest_bytes=manifest,
        manifest_digest=sha256_digest(manifest),
        manifest_media_type=media_type,
        config_digest=config_digest,
        layer_digests=[str(layer["digest"]) for layer in layers],
        blobs=blobs,
        arch=arch,
        os=os,
        variant=variant,
    )


def make_index(images: list[Image], media_type: str = DOCKER_MANIFEST_LIST) -> Index:
    """Build an index referencing ``images`` with their platforms, in the given order."""
    if media_type not in (DOCKER_MANIFEST_LIST, OCI_INDEX):
        raise ValueError(f"not an index media type: {media_type}")
    entries = []
    for image in images:
        platform = {"architecture": image.arch, "os": image.os}
        if image.variant:
            platform["variant"] = image.variant
        entries.append(
            {
                "mediaType": image.manifest_media_type,
                "size": len(image.manifest_bytes),
                "digest": image.manifest_digest,
                "platform": platform,
            }
        )
    manifest = _dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": entries})
    return Index(
        manifest_bytes=manifest,
        manifest_digest=sha256_digest(manifest),
        manifest_media_type=media_type,
        images=list(images),
    )
