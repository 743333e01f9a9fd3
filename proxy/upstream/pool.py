"""All configured upstreams, each with its own HTTP session, credential and tokens."""

from __future__ import annotations

import aiohttp

from ..config import Settings, UpstreamSettings
from ..errors import NameUnknown
from .auth import TokenCache
from .client import UpstreamClient

USER_AGENT = "kura/0.1 (+pull-through cache)"


class Upstreams:
    """Maps a registry name (`docker.io`, from `?ns=`) to its client."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients: dict[str, UpstreamClient] = {}
        self.default_registry = settings.default_registry

    async def start(self) -> None:
        for registry, upstream in self._settings.upstreams.items():
            self._clients[registry] = self._make_client(upstream)

    def _make_client(self, upstream: UpstreamSettings) -> UpstreamClient:
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=self._settings.connect_timeout_s,
            sock_read=self._settings.read_timeout_s,
        )
        session = aiohttp.ClientSession(
            timeout=timeout,
            auto_decompress=False,  # digests are over the raw bytes
            headers={"User-Agent": USER_AGENT},
            connector=aiohttp.TCPConnector(limit=64, ttl_dns_cache=300),
        )
        tokens = TokenCache(
            session,
            upstream.credential,
            allow_plain_http_credentials=upstream.is_plain_http,
            registry=upstream.registry,
        )
        return UpstreamClient(upstream, session, tokens)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.session.close()
        self._clients.clear()

    def get(self, registry: str | None) -> UpstreamClient:
        """The client for `registry` (None: the default); NAME_UNKNOWN if unconfigured."""
        client = self._clients.get(registry or self.default_registry)
        if client is None:
            raise NameUnknown(f"registry {registry!r} is not configured as an upstream in kura")
        return client

    def __contains__(self, registry: str) -> bool:
        return registry in self._clients

    def all(self) -> list[UpstreamClient]:
        return list(self._clients.values())
