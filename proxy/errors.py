"""Registry errors: one class per error code, rendered once by the error middleware.

Upstream failures are translated into these at a single boundary
(`translate_upstream_status`), so handlers and services never see raw HTTP statuses.
"""

from __future__ import annotations

from typing import Any


class RegistryError(Exception):
    """An error the client sees as `{"errors":[{"code","message","detail"}]}`."""

    code = "UNKNOWN"
    status = 500
    default_message = "unknown error"

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.detail = detail
        self.headers = headers or {}
        super().__init__(self.message)

    def copy(self) -> "RegistryError":
        """A fresh instance, so one upstream failure can be raised in many requests."""
        return type(self)(self.message, detail=self.detail, headers=dict(self.headers))

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            error["detail"] = self.detail
        return {"errors": [error]}


class BlobUnknown(RegistryError):
    code, status, default_message = "BLOB_UNKNOWN", 404, "blob unknown to registry"


class ManifestUnknown(RegistryError):
    code, status, default_message = "MANIFEST_UNKNOWN", 404, "manifest unknown"


class NameUnknown(RegistryError):
    code, status, default_message = "NAME_UNKNOWN", 404, "repository name not known to registry"


class NotFound(RegistryError):
    code, status, default_message = "NOT_FOUND", 404, "not found"


class NameInvalid(RegistryError):
    code, status, default_message = "NAME_INVALID", 400, "invalid repository name"


class TagInvalid(RegistryError):
    code, status, default_message = "TAG_INVALID", 400, "manifest tag did not match URI"


class DigestInvalid(RegistryError):
    code, status, default_message = "DIGEST_INVALID", 400, "provided digest did not match"


class ManifestInvalid(RegistryError):
    code, status, default_message = "MANIFEST_INVALID", 400, "manifest invalid"


class RangeNotSatisfiable(RegistryError):
    code, status, default_message = "RANGE_INVALID", 416, "requested range not satisfiable"


class Unauthorized(RegistryError):
    code, status, default_message = "UNAUTHORIZED", 401, "authentication required"


class Denied(RegistryError):
    code, status, default_message = "DENIED", 403, "requested access to the resource is denied"


class Unsupported(RegistryError):
    code, status, default_message = "UNSUPPORTED", 405, "kura is a pull-only mirror"


class TooManyRequests(RegistryError):
    code, status, default_message = "TOOMANYREQUESTS", 429, "too many requests"


class UpstreamUnavailable(RegistryError):
    """The upstream could not be reached or timed out."""

    code, status, default_message = "UNAVAILABLE", 504, "upstream registry unreachable"


class UpstreamFailed(RegistryError):
    """The upstream answered with something we cannot pass on."""

    code, status, default_message = "UNAVAILABLE", 502, "upstream registry failed"


class InternalError(RegistryError):
    code, status, default_message = "UNKNOWN", 500, "internal error"


def translate_upstream_status(
    status: int, *, kind: str, registry: str, retry_after: str | None = None
) -> RegistryError:
    """Map an upstream HTTP status to the error a client should see.

    `kind` is "manifest", "blob" or "tags"; it picks the *_UNKNOWN code for 404.
    401/403 mean kura's own upstream credential is wrong or lacks access, which the
    node cannot fix, so the message says so.
    """
    if status == 404:
        unknown = {"manifest": ManifestUnknown, "blob": BlobUnknown}.get(kind, NameUnknown)
        return unknown(f"{kind} unknown to upstream {registry}")
    if status == 401:
        return Unauthorized(f"upstream {registry} refused kura's credentials")
    if status == 403:
        return Denied(f"upstream {registry} denied access with kura's credentials")
    if status == 429:
        headers = {"Retry-After": retry_after} if retry_after else {}
        return TooManyRequests(f"upstream {registry} rate limit reached", headers=headers)
    return UpstreamFailed(f"upstream {registry} answered {status}")
