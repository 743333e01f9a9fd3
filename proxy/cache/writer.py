"""Never publish unverified bytes: write to a temp file, hash while writing,
check digest and size, fsync, rename, fsync the directory.

A writer that fails at any step removes its temp file, so a failed or corrupt
download can never become a cache entry.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

import aiofiles

from ..reference import Digest


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
        self._file: Any = None

    async def open(self) -> None:
        self._file = await aiofiles.open(self.temp_path, "wb")

    async def write(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        await self._file.write(chunk)
        await self._file.flush()  # followers read the temp file as it grows
        self.position += len(chunk)

    async def commit(self, expected_size: int | None) -> int:
        """Verify, fsync and rename into place; return the size. Discards on failure."""
        try:
            self._verify(expected_size)
            await asyncio.to_thread(_fsync_file, self._file.fileno())
            await self._file.close()
            self._file = None
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
        if self._file is not None:
            await self._file.close()
            self._file = None
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


def _fsync_file(fd: int) -> None:
    os.fsync(fd)


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
