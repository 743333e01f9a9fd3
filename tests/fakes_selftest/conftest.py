"""Fixtures for the fake hub's self-tests: one shared memory hub, reset for every test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.fakes import Hub
from tests.fakes_selftest.support import RATE_LIMIT, REPO, USERS, TokenGetter, push_fixtures


@pytest.fixture(scope="session")
def shared_hub() -> Iterator[Hub]:
    with Hub(backend="memory", users=USERS, rate_limit=RATE_LIMIT) as hub:
        push_fixtures(hub)
        yield hub


@pytest.fixture
def hub(shared_hub: Hub) -> Iterator[Hub]:
    """The shared memory hub with no faults, no records and full quotas."""
    shared_hub.faults.clear()
    shared_hub.reset()
    yield shared_hub
    shared_hub.faults.clear()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain client: no redirects followed unless asked, no decompression."""
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


@pytest.fixture
def token(http: aiohttp.ClientSession) -> TokenGetter:
    """``await token(hub, repo=..., user=..., password=..., actions=...)`` from the token server."""

    async def get(
        hub: Hub,
        repo: str = REPO,
        user: str | None = None,
        password: str | None = None,
        actions: str = "pull",
    ) -> str:
        headers = (
            {"Authorization": aiohttp.encode_basic_auth(user, password or USERS[user])}
            if user
            else {}
        )
        params = {"service": "registry.docker.io", "scope": f"repository:{repo}:{actions}"}
        async with http.get(hub.realm_url, params=params, headers=headers) as response:
            assert response.status == 200, await response.text()
            return (await response.json())["token"]

    return get
