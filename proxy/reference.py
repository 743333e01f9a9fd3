"""Repository names, tags and digests: parse, validate, normalize.

Grammar from the OCI distribution spec and Distribution's `reference` package.
Everything that reaches the upstream or a cache key went through here first, and so do
image references an operator types (`nginx:1.27`, `ghcr.io/o/r@sha256:...`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import DigestInvalid, NameInvalid, TagInvalid

NAME_MAX_LENGTH = 255
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
# Only algorithms we can verify; sha256 is mandatory, sha512 optional (OCI image spec).
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha512": 128}
DIGEST_RE = re.compile(r"(sha256|sha512):([a-f0-9]+)")

# Docker Hub keeps official images under library/.
DOCKER_HUB = "docker.io"
OFFICIAL_NAMESPACE = "library"


@dataclass(frozen=True, slots=True)
class Digest:
    """A content digest such as `sha256:<64 hex>`."""

    algorithm: str
    encoded: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"


def parse_digest(text: str) -> Digest:
    """Parse `algorithm:hex`; raise DigestInvalid for anything we cannot verify."""
    match = DIGEST_RE.fullmatch(text)
    if match is None or len(match.group(2)) != DIGEST_HEX_LENGTHS[match.group(1)]:
        raise DigestInvalid(f"invalid digest {text[:200]!r}")
    return Digest(match.group(1), match.group(2))


def is_digest(reference: str) -> bool:
    return ":" in reference


def validate_tag(tag: str) -> str:
    if TAG_RE.fullmatch(tag) is None:
        raise TagInvalid(f"invalid tag {tag[:200]!r}")
    return tag


def validate_name(name: str) -> str:
    if len(name) > NAME_MAX_LENGTH or NAME_RE.fullmatch(name) is None:
        raise NameInvalid(f"invalid repository name {name[:300]!r}")
    return name


def normalize_name(registry: str, name: str) -> str:
    """Validate a repository name and apply Docker Hub's implicit `library/` prefix."""
    validate_name(name)
    if registry == DOCKER_HUB and "/" not in name:
        return f"{OFFICIAL_NAMESPACE}/{name}"
    return name


def validate_reference(reference: str) -> str | Digest:
    """A manifest reference is a digest or a tag."""
    if is_digest(reference):
        return parse_digest(reference)
    return validate_tag(reference)


@dataclass(frozen=True, slots=True)
class ImageRef:
    registry: str
    repository: str
    reference: str

    def __str__(self) -> str:
        separator = "@" if is_digest(self.reference) else ":"
        return f"{self.registry}/{self.repository}{separator}{self.reference}"


def parse_image(text: str, registries: list[str], default: str = DOCKER_HUB) -> ImageRef:
    """`nginx`, `nginx:1.27`, `docker.io/library/nginx@sha256:...`, `ghcr.io/o/r:t`."""
    name, at, digest = text.strip().partition("@")
    reference = digest if at else "latest"
    if not at and ":" in name.rpartition("/")[2]:
        name, _, reference = name.rpartition(":")
    registry, slash, rest = name.partition("/")
    if slash and ("." in registry or ":" in registry or registry == "localhost"):
        if registry not in registries:
            raise NameInvalid(f"registry {registry!r} is not a configured upstream")
        name = rest
    else:
        registry = default
    validate_reference(reference)
    return ImageRef(registry, normalize_name(registry, name), reference)
