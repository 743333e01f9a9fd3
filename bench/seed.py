"""The upstream: the e2e tests' Docker Hub stand-in over the real Distribution registry
(token auth, 307 to a CDN that rejects Authorization), seeded with synthetic images."""

from __future__ import annotations

from dataclasses import dataclass

from tests.fakes import Hub, make_image, make_index

from .sizes import Workload

USER, PASSWORD = "bench", "bench-hub-password"
BIG_REPO, LAYERS_REPO, MULTI_REPO = "library/big", "library/layers", "library/multi"
TAG = "1"


@dataclass(frozen=True)
class Seeded:
    """What the clients need to know about the pushed images."""

    big_digest: str  # the one large layer
    big_size: int
    big_manifest_digest: str
    layers_manifest_digest: str
    layer_count: int
    multi_index_digest: str


def start_hub() -> Hub:
    """A started Distribution-backed hub; the caller stops it."""
    return Hub(backend="distribution", users={USER: PASSWORD}).start()


def seed(hub: Hub, workload: Workload) -> Seeded:
    """Push the big image, the many-layer image and a two-platform index."""
    big = make_image(1, [workload.big_layer_bytes])
    hub.push_image(big, tag=TAG, repo=BIG_REPO)
    big_digest = big.layer_digests[0]
    big_size = len(big.blobs[big_digest])
    layers = make_image(2, workload.layer_sizes)
    hub.push_image(layers, tag=TAG, repo=LAYERS_REPO)
    platforms = [make_image(3, [64 * 1024], arch=arch) for arch in ("amd64", "arm64")]
    index = make_index(platforms)
    hub.push_index(index, tag=TAG, repo=MULTI_REPO)
    return Seeded(
        big_digest=big_digest,
        big_size=big_size,
        big_manifest_digest=big.manifest_digest,
        layers_manifest_digest=layers.manifest_digest,
        layer_count=len(layers.layer_digests),
        multi_index_digest=index.manifest_digest,
    )
