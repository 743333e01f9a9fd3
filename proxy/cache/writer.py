"""Never publish unverified bytes: write to a temp file, hash while writing,
check digest and size, fsync, rename, fsync the directory.

A writer that fails at any step removes its temp file, so a failed or corrupt
download can never become a cache entry.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

from ..reference import Digest

_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)

# Chunks are batched up to this size per thread hop (an upstream chunk is <= 256 KiB).
BATCH_BYTES = 1024 * 1024
# A chunk smaller than this drained the source's buffer: write the batch without waiting.
CAUGHT_UP_BYTES = 64 * 1024


class VerificationFailed(Exception):
    """The bytes written do not match the expected digest or size."""


class VerifyingWriter:
    """Append-only temp file whose bytes become `final_path` only if they verify."""

    def __init__(self, temp_path: Path, final_path: Path, digest: Digest) -> None:
        self.temp_path = temp_path
        self.final_path = final_path
        self.digest = digest
        self.position = 0
        self._hash = hashlib.new(digest.algorithm)
        self._fd: int | None = None
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._in_thread: asyncio.Future[None] | None = None  # the batch being written
        self._submit_lock = asyncio.Lock()
        # Called on the loop with the new position each time a batch is in the file.
        self.on_written: Callable[[int], None] | None = None
        # Held by append and close: both run in threads, and a cancelled fill's append
        # may still be running when discard() closes the fd; an fd closed under a write
        # could be reused by a newly opened file and receive the bytes.
        self._fd_lock = threading.Lock()

    async def open(self) -> None:
        self._fd = await asyncio.to_thread(os.open, self.temp_path, _CREATE_FLAGS, 0o644)

    async def write(self, chunk: bytes) -> None:
        """Hash and append ``chunk`` in a thread, batched; bytes up to ``position`` are
        in the file, and ``on_written`` is called each time it advances.

        Never on the loop thread: a slow disk (a network volume, writeback throttling
        of a big layer) would stall every request of the server, not only this fill.
        A thread hop per upstream chunk costs more in GIL hand-offs than the write
        itself, so chunks are batched up to ``BATCH_BYTES`` and each batch is hashed
        and written in one hop, while the next batch is received. A chunk under
        ``CAUGHT_UP_BYTES`` means the source's buffer was drained: waiting for more
        would only delay the followers, so the batch goes out at once. One batch is in
        the thread at a time, so they land in order and at most two are in memory.
        ``flush()`` (and ``commit()``) write what is still held back.
        """
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        if self._pending_bytes >= BATCH_BYTES or len(chunk) < CAUGHT_UP_BYTES:
            await self._submit()

    async def flush(self) -> None:
        """Write every held-back chunk; return once all of them are in the file."""
        await self._submit()
        await self._wait_for_thread()

    async def _submit(self) -> None:
        async with self._submit_lock:  # FIFO: batches go to the thread in write order
            await self._wait_for_thread()  # re-raises the previous batch's failure
            if not self._pending:
                return
            batch, size = self._pending, self._pending_bytes
            self._pending, self._pending_bytes = [], 0
            future = asyncio.get_running_loop().run_in_executor(None, self._hash_and_append, batch)
            future.add_done_callback(functools.partial(self._written, size))
            self._in_thread = future

    async def _wait_for_thread(self) -> None:
        if self._in_thread is not None:
            await self._in_thread
            self._in_thread = None

    def _written(self, size: int, future: asyncio.Future[None]) -> None:
        if future.cancelled() or future.exception() is not None:
            return  # the failure is raised to the next write/flush
        self.position += size
        if self.on_written is not None:
            self.on_written(self.position)

    def _hash_and_append(self, chunks: list[bytes]) -> None:
        with self._fd_lock:
            if self._fd is None:
                raise ValueError("writer closed")
            for chunk in chunks:
                self._hash.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(self._fd, view):]

    def _close(self, fsync: bool) -> None:
        with self._fd_lock:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            try:
                if fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)

    async def commit(self, expected_size: int | None) -> int:
        """Verify, fsync and rename into place; return the size. Discards on failure."""
        try:
            await self.flush()
            self._verify(expected_size)
            await asyncio.to_thread(self._close, True)
            await asyncio.to_thread(_publish, self.temp_path, self.final_path)
        except BaseException:
            await self.discard()
            raise
        return self.position

    def _verify(self, expected_size: int | None) -> None:
        if expected_size is not None and self.position != expected_size:
            raise VerificationFailed(
                f"size mismatch for {self.digest}: got {self.position}, expected {expected_size}"
            )
        if self._hash.hexdigest() != self.digest.encoded:
            raise VerificationFailed(f"digest mismatch for {self.digest}")

    async def discard(self) -> None:
        self._pending, self._pending_bytes = [], 0
        await asyncio.to_thread(self._close, False)
        await asyncio.to_thread(_unlink_quietly, self.temp_path)


async def write_verified(temp_path: Path, final_path: Path, digest: Digest, data: bytes) -> None:
    """Write small content (a manifest) through the same verify-then-rename path."""
    writer = VerifyingWriter(temp_path, final_path, digest)
    await writer.open()
    try:
        await writer.write(data)
    except BaseException:
        await writer.discard()
        raise
    await writer.commit(len(data))


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def _publish(temp_path: Path, final_path: Path) -> None:
    final_path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temp_path, final_path)
    # The rename itself must survive a crash, not only the file's bytes.
    dir_fd = os.open(final_path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
