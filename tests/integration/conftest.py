"""Integration fixtures: an in-process Docker Hub stand-in and kura, over real sockets."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.fakes.hub import Hub
from tests.support.kura import KuraServer, kura_settings, running_kura

USER, PASSWORD = "alice", "s3cret-hub-password"


@pytest.fixture
def hub() -> Iterator[Hub]:
    with Hub(backend="memory", users={USER: PASSWORD}) as hub:
        yield hub


@pytest.fixture
async def kura(hub: Hub, cache_dir: Path) -> AsyncIterator[KuraServer]:
    settings = kura_settings(cache_dir, hub.url, username=USER, password=PASSWORD)
    async with running_kura(settings) as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session
