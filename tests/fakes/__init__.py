"""A Docker Hub stand-in for kura's tests: registry front, CDN, token server, images.

Public API: ``Hub``, ``Faults``, ``RequestRecord``, ``make_image``, ``make_index``,
``Image``, ``Index`` and the media-type constants.
"""

from .faults import Faults
from .hub import DEFAULT_REPO, Hub
from .images import Image, Index, make_image, make_index, sha256_digest
from .records import RequestRecord
from .wire import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST

__all__ = [
    "DEFAULT_REPO",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Faults",
    "Hub",
    "Image",
    "Index",
    "RequestRecord",
    "make_image",
    "make_index",
    "sha256_digest",
]
