"""One download, many readers.

A `Fill` is the single upstream download of one blob into a temp file. It is a task
owned by `Fills`, not by any request: a client that disconnects does not abort it,
and it is bounded by `fill_timeout_s`. Every request for that blob, the first one
included, is a reader of the growing temp file, woken each time bytes land, so no
client waits for the whole blob before its first byte.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator, Awaitable, BinaryIO, Callable, Protocol

import aiofiles

from ..errors import RegistryError, UpstreamFailed, UpstreamUnavailable
from ..reference import Digest
from .writer import VerifyingWriter

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 256 * 1024


class BlobSource(Protocol):
    """An upstream blob body; `size` is known once `open()` returns."""

    size: int | None

    async def open(self) -> None: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


class FillFailed(Exception):
    """The fill a reader was following failed; the cause is logged by the fill."""


class Fill:
    """Progress of one blob download, shared by all its readers."""

    def __init__(self, digest: Digest, writer: VerifyingWriter) -> None:
        self.digest = digest
        self.writer = writer
        self.size: int | None = None
        self.written = 0
        self.started = asyncio.Event()  # set once size is known, or the fill failed
        self.finished = False
        self.error: BaseException | None = None
        self._progress = asyncio.Event()

    @property
    def succeeded(self) -> bool:
        return self.finished and self.error is None

    def _advance(self, written: int) -> None:
        self.written = written
        self._progress.set()
        self._progress = asyncio.Event()

    def _finish(self, error: BaseException | None) -> None:
        self.error = error
        self.finished = True
        self.started.set()
        self._progress.set()

    async def wait_started(self) -> None:
        """Wait until the size is known; re-raise an upstream error as the client's."""
        await self.started.wait()
        if isinstance(self.error, RegistryError):
            raise self.error.copy()
        if self.error is not None:  # failed before a byte was sent: a clean 502/504
            unavailable = isinstance(self.error, TimeoutError)
            error_class = UpstreamUnavailable if unavailable else UpstreamFailed
            raise error_class(f"download of {self.digest} failed: {_describe(self.error)}")

    async def wait_finished(self) -> None:
        """Wait until the blob is verified and published; raise as wait_started if it failed."""
        await self.wait_started()
        while not self.finished:
            await self._progress.wait()
        await self.wait_started()

    def _deliverable(self) -> int:
        """Bytes a reader may have. The blob's last byte waits until the fill is
        verified, so a client never receives a complete blob that fails its digest."""
        if self.finished or (self.size is not None and self.written < self.size):
            return self.written
        return max(self.written - 1, 0)

    async def spans(self, start: int = 0, end: int | None = None) -> AsyncIterator[tuple[int, int]]:
        """Yield consecutive spans [position, stop) of the temp file covering [start, end),
        each as soon as its bytes are deliverable; raise FillFailed if the fill fails."""
        await self.wait_started()
        limit = end if end is not None else self.size
        position = start
        while limit is None or position < limit:
            if self.error is not None:
                raise FillFailed(_describe(self.error))
            available = self._deliverable() if limit is None else min(self._deliverable(), limit)
            if position < available:
                yield position, available
                position = available
            elif self.finished:
                return
            else:
                await self._progress.wait()

    async def read(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Yield bytes [start, end) as they arrive; raise FillFailed if the fill fails."""
        await self.wait_started()
        file = await self._open_for_reading()
        try:
            async for position, stop in self.spans(start, end):
                await file.seek(position)
                while position < stop:
                    chunk = await file.read(min(stop - position, READ_CHUNK_BYTES))
                    if not chunk:
                        raise FillFailed("temp file shorter than reported progress")
                    position += len(chunk)
                    yield chunk
        finally:
            await file.close()

    async def open_file(self) -> BinaryIO:
        """A plain file object on the blob's bytes, for sendfile() of ``spans()``."""
        await self.wait_started()
        return await self._open_for_reading(_open_plain)  # type: ignore[no-any-return]

    async def _open_for_reading(self, opener: Callable[..., Awaitable[Any]] = aiofiles.open) -> Any:
        # The fill may rename the temp file between our lookup and open; an open fd
        # keeps working across the rename, so only the open itself needs the retry.
        try:
            return await opener(self.writer.temp_path, "rb")
        except FileNotFoundError:
            # Renamed into place but not yet marked finished (the index write is still
            # running): wait for the verdict instead of calling the fill discarded.
            while not self.finished:
                await self._progress.wait()
            if self.succeeded:
                return await opener(self.writer.final_path, "rb")
            raise FillFailed("fill was discarded") from None


async def _open_plain(path: Any, mode: str) -> BinaryIO:
    return await asyncio.to_thread(_open_binary, path)


def _open_binary(path: Any) -> BinaryIO:
    return open(path, "rb")


OnComplete = Callable[[Digest, int], Awaitable[None]]


class Fills:
    """The registry of fills in flight, keyed by digest: at most one per blob."""

    def __init__(self, fill_timeout_s: float) -> None:
        self._fill_timeout_s = fill_timeout_s
        self._active: dict[Digest, Fill] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._active)

    def get(self, digest: Digest) -> Fill | None:
        return self._active.get(digest)

    def start(
        self,
        digest: Digest,
        writer: VerifyingWriter,
        source: BlobSource,
        on_complete: OnComplete,
    ) -> Fill:
        """Return the fill for `digest`, starting one if none is in flight."""
        existing = self._active.get(digest)
        if existing is not None:
            return existing
        fill = Fill(digest, writer)
        self._active[digest] = fill
        task = asyncio.create_task(self._run(fill, source, on_complete), name=f"fill {digest}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return fill

    async def _run(self, fill: Fill, source: BlobSource, on_complete: OnComplete) -> None:
        error: BaseException | None = None
        try:
            async with asyncio.timeout(self._fill_timeout_s):
                await self._download(fill, source)
            size = await fill.writer.commit(fill.size)
            await on_complete(fill.digest, size)
        except asyncio.CancelledError as exc:
            error = exc
            await fill.writer.discard()
            raise
        except Exception as exc:  # noqa: BLE001 - any failure must discard, then be reported
            error = exc
            await fill.writer.discard()
            level = logging.INFO if isinstance(exc, RegistryError) and exc.status < 500 else logging.WARNING
            log.log(level, "fill of %s failed: %s", fill.digest, _describe(exc))
        finally:
            del self._active[fill.digest]
            fill._finish(error)
            await source.close()

    @staticmethod
    async def _download(fill: Fill, source: BlobSource) -> None:
        await fill.writer.open()
        await source.open()
        fill.size = source.size
        fill.started.set()
        fill.writer.on_written = fill._advance  # the writer batches and writes in a thread
        async for chunk in source.chunks():
            await fill.writer.write(chunk)
        await fill.writer.flush()  # followers must see the tail before the fill finishes

    async def drain(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for the fills in flight to finish (graceful shutdown)."""
        if self._tasks and timeout_s > 0:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
