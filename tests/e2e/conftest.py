"""End-to-end fixtures: the real Distribution registry behind Docker Hub's behaviour,
and real clients pulling through kura."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest

from tests.conftest import require_binary
from tests.fakes.hub import Hub
from tests.support.kura import KuraServer, kura_settings, running_kura

USER, PASSWORD = "bob", "e2e-hub-password"


@pytest.fixture(scope="session")
def distribution_hub() -> Iterator[Hub]:
    require_binary("docker-registry")
    with Hub(backend="distribution", users={USER: PASSWORD}) as hub:
        yield hub


@pytest.fixture
def hub(distribution_hub: Hub) -> Hub:
    distribution_hub.reset()
    distribution_hub.faults.clear()
    return distribution_hub


@pytest.fixture
async def kura(hub: Hub, tmp_path: Path) -> AsyncIterator[KuraServer]:
    settings = kura_settings(tmp_path / "cache", hub.url, username=USER, password=PASSWORD)
    async with running_kura(settings) as server:
        yield server


async def run(*argv: str, timeout_s: float = 120) -> str:
    """Run a client binary without blocking kura's event loop; fail with its output."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    text = output.decode(errors="replace")
    assert process.returncode == 0, f"{argv[0]} failed ({process.returncode}):\n{text}"
    return text
