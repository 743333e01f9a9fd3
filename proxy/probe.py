"""The free quota probe, and the app context that wires quota tracking and metrics
into the upstream clients.

Docker Hub's own check: a token for `repository:ratelimitpreview/test:pull`, then
`HEAD /v2/ratelimitpreview/test/manifests/latest`. A HEAD is not a pull, and its
response carries the rate-limit headers, which the tracker reads like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator

from aiohttp import web

from .api.keys import SERVICES, Services
from .errors import RegistryError
from .mediatypes import MODERN_TYPES

log = logging.getLogger(__name__)

PROBE_ACCEPT = ", ".join(MODERN_TYPES)


def probe_targets(services: Services) -> list[str]:
    """The default upstream, and any other that has sent rate-limit headers."""
    quota = services.quota
    return [
        registry for registry in quota.registries()
        if registry == services.settings.default_registry or quota.state(registry).ever_had_headers
    ]


async def probe(services: Services) -> dict[str, str]:
    """HEAD the probe repository on each target upstream; registry -> "ok" or why not.
    The answer's status does not matter: its headers do (the observer reads them)."""
    repo = services.settings.quota_probe_repository
    outcome: dict[str, str] = {}
    for registry in probe_targets(services):
        client = services.upstreams.get(registry)
        try:
            await client.head_manifest(repo, "latest", PROBE_ACCEPT)
            outcome[registry] = "ok"
        except RegistryError as error:
            outcome[registry] = error.message
    return outcome


async def _probe_every(services: Services, interval_s: float) -> None:
    while True:
        try:
            log.debug("quota probe: %s", await probe(services))
        except Exception:  # a probe bug must not end the probing for good
            log.exception("quota probe failed")
        await asyncio.sleep(interval_s)


async def monitoring(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: observers on every upstream client; the periodic probe if enabled."""
    services = app[SERVICES]
    for client in services.upstreams.all():
        client.observers.append(services.quota.observe)
        client.observers.append(services.metrics.observe_upstream)
    interval = services.settings.quota_probe_interval_s
    task = asyncio.create_task(_probe_every(services, interval)) if interval > 0 else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
