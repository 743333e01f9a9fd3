"""The cache writer hashes and writes in a thread, in batches, never on the event loop:
a slow disk must not stall the server's other requests."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import proxy.cache.writer as writer_module
from proxy.cache.inflight import Fills
from proxy.cache.writer import BATCH_BYTES, CAUGHT_UP_BYTES, VerifyingWriter
from proxy.reference import Digest, parse_digest

BIG = 256 * 1024  # an upstream chunk as asyncio reads it


def _digest(data: bytes) -> Digest:
    return parse_digest("sha256:" + hashlib.sha256(data).hexdigest())


def _writer(tmp_path: Path, data: bytes) -> VerifyingWriter:
    return VerifyingWriter(tmp_path / "tmp", tmp_path / "blob", _digest(data))


async def test_writes_run_off_the_loop_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(3 * BIG) + b"tail"
    threads: list[int] = []
    real_write = os.write

    def recording_write(fd: int, buf: memoryview) -> int:
        threads.append(threading.get_ident())
        return real_write(fd, buf)

    monkeypatch.setattr(writer_module.os, "write", recording_write)
    writer = _writer(tmp_path, data)
    await writer.open()
    for start in range(0, len(data), BIG):
        await writer.write(data[start:start + BIG])
    assert await writer.commit(len(data)) == len(data)
    assert threads and threading.get_ident() not in threads
    assert (tmp_path / "blob").read_bytes() == data


async def test_loop_keeps_running_while_a_write_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The patched write blocks until the loop has ticked 50 times: on the loop thread it
    could never see those ticks (it fails after its timeout instead of hanging)."""
    data = b"x" * 1000
    ticks = 0
    loop_alive = threading.Event()
    positions_during_write: list[int] = []
    real_write = os.write
    writer = _writer(tmp_path, data)

    def blocking_write(fd: int, buf: memoryview) -> int:
        positions_during_write.append(writer.position)
        assert loop_alive.wait(timeout=5), "the event loop did not run during the write"
        return real_write(fd, buf)

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            if ticks == 50:
                loop_alive.set()
            await asyncio.sleep(0)

    monkeypatch.setattr(writer_module.os, "write", blocking_write)
    await writer.open()
    task = asyncio.create_task(ticker())
    try:
        await writer.write(data)
        await writer.flush()
    finally:
        task.cancel()
    assert ticks >= 50
    assert positions_during_write == [0]  # readers are not told about bytes still being written
    assert writer.position == len(data) == (tmp_path / "tmp").stat().st_size
    await writer.commit(len(data))


async def test_chunks_are_batched_until_a_mebibyte_or_a_short_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(BATCH_BYTES + 2 * BIG + 100)
    hops: list[int] = []
    real_hash_and_append = VerifyingWriter._hash_and_append

    def counting(self: VerifyingWriter, chunks: list[bytes]) -> None:
        hops.append(sum(map(len, chunks)))
        real_hash_and_append(self, chunks)

    monkeypatch.setattr(VerifyingWriter, "_hash_and_append", counting)
    writer = _writer(tmp_path, data)
    temp = tmp_path / "tmp"
    reported: list[int] = []

    def on_written(position: int) -> None:
        assert temp.stat().st_size >= position  # position never runs ahead of the file
        reported.append(position)

    writer.on_written = on_written
    await writer.open()
    for start in range(0, len(data), BIG):
        await writer.write(data[start:start + BIG])
        assert temp.stat().st_size >= writer.position
    assert await writer.commit(len(data)) == len(data)
    # four big chunks make one batch; two more wait; the short last one sends them too
    assert hops == [BATCH_BYTES, 2 * BIG + 100]
    assert reported == [BATCH_BYTES, len(data)]
    assert (tmp_path / "blob").read_bytes() == data


async def test_short_first_chunk_is_written_at_once(tmp_path: Path) -> None:
    first = b"a" * (CAUGHT_UP_BYTES - 1)
    data = first + b"b" * BIG
    writer = _writer(tmp_path, data)
    written = asyncio.Event()
    writer.on_written = lambda _: written.set()
    await writer.open()
    await writer.write(first)
    await asyncio.wait_for(written.wait(), timeout=5)  # no flush(): a short chunk is not held
    assert writer.position == len(first)  # a follower's first byte does not wait for a batch
    await writer.write(data[len(first):])
    await asyncio.sleep(0.05)
    assert writer.position == len(first)  # a big chunk is held back...
    assert await writer.commit(len(data)) == len(data)  # ...and flushed before verifying
    assert (tmp_path / "blob").read_bytes() == data


async def test_a_failed_write_fails_the_next_write_or_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_write(fd: int, buf: memoryview) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer_module.os, "write", failing_write)
    data = b"z" * 10
    writer = _writer(tmp_path, data)
    await writer.open()
    await writer.write(data)  # submitted; fails in the thread
    with pytest.raises(OSError):
        await writer.commit(len(data))
    assert writer.position == 0
    assert not (tmp_path / "blob").exists()
    assert not (tmp_path / "tmp").exists()


async def test_commit_still_rejects_wrong_bytes_held_in_the_batch(tmp_path: Path) -> None:
    data = os.urandom(2 * BIG)
    writer = _writer(tmp_path, data)
    await writer.open()
    await writer.write(data[:BIG])
    await writer.write(bytes(BIG))  # corrupt, and still buffered
    with pytest.raises(writer_module.VerificationFailed):
        await writer.commit(len(data))
    assert not (tmp_path / "blob").exists()
    assert not (tmp_path / "tmp").exists()


class _Source:
    def __init__(self, data: bytes, chunk: int) -> None:
        self._data, self._chunk = data, chunk
        self.size: int | None = None

    async def open(self) -> None:
        self.size = len(self._data)

    async def chunks(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self._data), self._chunk):
            yield self._data[start:start + self._chunk]

    async def close(self) -> None:
        pass


async def test_fill_followers_get_the_held_back_tail(tmp_path: Path) -> None:
    data = os.urandom(3 * BIG)  # all big chunks, less than a batch: only the end flushes them
    digest = _digest(data)
    completed: list[int] = []

    async def on_complete(_: Digest, size: int) -> None:
        completed.append(size)

    fills = Fills(fill_timeout_s=30)
    fill = fills.start(digest, _writer(tmp_path, data), _Source(data, BIG), on_complete)
    received = b"".join([chunk async for chunk in fill.read()])
    await fill.wait_finished()
    assert received == data
    assert completed == [len(data)]
    assert (tmp_path / "blob").read_bytes() == data
    await fills.close()
