"""The fill's deliverable spans: what the blob handler sendfile()s to followers."""

from __future__ import annotations

import hashlib
from pathlib import Path

from proxy.cache.inflight import Fill
from proxy.cache.writer import VerifyingWriter
from proxy.reference import parse_digest


async def test_fill_spans_hold_the_last_byte_until_the_fill_is_verified(tmp_path: Path) -> None:
    data = b"x" * 1000
    digest = parse_digest("sha256:" + hashlib.sha256(data).hexdigest())
    writer = VerifyingWriter(tmp_path / "tmp", tmp_path / "blob", digest)
    fill = Fill(digest, writer)
    await writer.open()
    fill.size = None  # unknown size: the last byte written so far is held back
    fill.started.set()
    await writer.write(data)
    fill._advance(len(data))
    spans = fill.spans()
    assert await spans.__anext__() == (0, 999)
    await writer.commit(len(data))
    fill._finish(None)
    assert await spans.__anext__() == (999, 1000)
    assert (tmp_path / "blob").read_bytes() == data
