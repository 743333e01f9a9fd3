"""Response helpers shared by the registry handlers."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from aiohttp import hdrs, web

from ..errors import RangeNotSatisfiable

API_VERSION_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}


def base_headers() -> dict[str, str]:
    return dict(API_VERSION_HEADER)


def resolve_range(request: web.Request, size: int) -> tuple[int, int] | None:
    """The requested byte span [start, end) of a `size`-byte blob, None for no Range.

    Malformed or unsatisfiable ranges are a JSON 416 carrying `Content-Range: bytes */size`.
    """
    if hdrs.RANGE not in request.headers:
        return None
    unsatisfiable = RangeNotSatisfiable(
        f"range {request.headers[hdrs.RANGE][:100]!r} not satisfiable for {size} bytes",
        headers={hdrs.CONTENT_RANGE: f"bytes */{size}"},
    )
    try:
        span = request.http_range
    except ValueError:
        raise unsatisfiable from None
    start, stop = span.start, span.stop
    if start is None and stop is None:
        return None
    if start is not None and start < 0:  # suffix: the last -start bytes
        start, stop = max(size + start, 0), size
    start = start or 0
    stop = size if stop is None else min(stop, size)
    if start >= size or start >= stop:
        raise unsatisfiable
    return start, stop


class DigestFileResponse(web.FileResponse):
    """sendfile() of a cached blob whose ETag is its digest, not aiohttp's mtime tag."""

    def __init__(self, path: Path, digest: str, on_sent: Callable[[], None] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(path, chunk_size=1024 * 1024, **kwargs)
        self._digest_etag = f'"{digest}"'
        self._on_sent = on_sent  # releases the reader's lease once the file is sent

    async def prepare(self, request: web.BaseRequest) -> Any:
        try:
            return await super().prepare(request)
        finally:
            if self._on_sent is not None:
                self._on_sent()

    @property  # type: ignore[override]
    def etag(self) -> Any:
        return super().etag

    @etag.setter
    def etag(self, _value: Any) -> None:
        # FileResponse sets its own ETag while preparing; keep the digest instead.
        self.headers[hdrs.ETAG] = self._digest_etag
