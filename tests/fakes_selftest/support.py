"""Shared data and helpers for the fake hub's self-tests."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable

import aiohttp

from tests.fakes import OCI_MANIFEST, Hub, make_image, make_index

USERS = {"alice": "s3cret"}
RATE_LIMIT = (100, 3600)
REPO = "library/x"

# Pushed into every hub the self-tests start: an image under "1", an index under
# "multi", an OCI image under "oci".
IMAGE = make_image(7, [4096, 300_000])
INDEX = make_index(
    [make_image(8, [2048], arch="amd64"), make_image(8, [2048], arch="arm64", variant="v8")]
)
OCI_IMAGE = make_image(9, [1024], media_type=OCI_MANIFEST)
LAYER = IMAGE.layer_digests[1]  # the 300 kB one

TokenGetter = Callable[..., Awaitable[str]]


def push_fixtures(hub: Hub) -> None:
    hub.push_image(IMAGE, tag="1", repo=REPO)
    hub.push_index(INDEX, tag="multi", repo=REPO)
    hub.push_image(OCI_IMAGE, tag="oci", repo=REPO)


def claims_of(token: str) -> dict:
    """The JWT payload, decoded independently of the code under test."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def cdn_location(
    hub: Hub, http: aiohttp.ClientSession, token: TokenGetter, digest: str = LAYER, repo: str = REPO
) -> str:
    """The CDN URL the front redirects a blob GET to."""
    url = f"{hub.url}/v2/{repo}/blobs/{digest}"
    auth = bearer(await token(hub, repo=repo))
    async with http.get(url, headers=auth, allow_redirects=False) as response:
        assert response.status == 307
        return response.headers["Location"]
