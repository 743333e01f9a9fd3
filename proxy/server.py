"""Serving the app: listener options (TLS, limits, access log) and graceful shutdown.

`runner_options(settings)` is the one place the aiohttp server is tuned, so tests run
kura exactly as `kura serve` does. Limits against slow or abusive clients:
- a request head must be complete within `client_header_timeout_s` of connecting (or of
  the previous response): aiohttp's keep-alive timer is not reset by partial data, so
  a client trickling header bytes is disconnected when it fires;
- request line, header field and header count limits (`max_*`) answer 400;
- `client_max_size` (app) bounds request bodies; kura is pull-only and reads none.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from typing import Any

from aiohttp import web

from .api.keys import SERVICES
from .app import create_app
from .config import Settings
from .logs import ACCESS_LOGGER, AccessLogger, http_logger

log = logging.getLogger(__name__)


def runner_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `web.AppRunner` (and through it, each connection's handler)."""
    return {
        "shutdown_timeout": connection_shutdown_timeout(settings.shutdown_grace_s),
        "access_log_class": AccessLogger,
        "access_log": logging.getLogger(ACCESS_LOGGER),
        "logger": http_logger(),
        "keepalive_timeout": settings.client_header_timeout_s,
        "max_line_size": settings.max_request_line_bytes,
        "max_field_size": settings.max_header_bytes,
        "max_headers": settings.max_headers,
    }


def connection_shutdown_timeout(grace_s: float) -> float:
    """The runner's `shutdown_timeout` that keeps closing connections inside `grace_s`.

    aiohttp waits up to that long for in-flight handlers, then cancels their requests
    and waits up to that long again (a response being streamed keeps streaming through
    both waits, then is cut off), rounding each wait over 5 s up to a whole second; and
    a timeout of 0 would mean no limit. Half the grace, less that second, fits."""
    half = grace_s / 2
    return max(half - 1 if half > 5 else half, 0.001)


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The server TLS context when `tls_cert_file`/`tls_key_file` are set, else None."""
    if not settings.tls_cert_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    return context


def begin_shutdown(app: web.Application, grace_s: float) -> None:
    """Start the one `shutdown_grace_s` budget: in-flight responses get up to all of it
    (see connection_shutdown_timeout), the fill drain only what they leave
    (app._lifecycle), so the whole graceful stop fits in the grace, and so in the pod's
    terminationGracePeriodSeconds."""
    app[SERVICES].shutdown_deadline = asyncio.get_running_loop().time() + grace_s


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve until SIGTERM/SIGINT (or `stop`), then shut down gracefully: stop accepting,
    let in-flight responses and fills finish for up to `shutdown_grace_s`, close."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(create_app(settings), **runner_options(settings))
    await runner.setup()
    try:
        context = ssl_context(settings)
        site = web.TCPSite(runner, settings.listen_host, settings.listen_port, ssl_context=context)
        await site.start()
        scheme = "https" if context else "http"
        log.info("kura serving %s on %s", scheme, settings.listen)
        if settings.admin_listen:  # /admin answers only here (see api/admin_auth.py)
            host, _, port = settings.admin_listen.rpartition(":")
            await web.TCPSite(runner, host or "127.0.0.1", int(port), ssl_context=context).start()
            log.info("admin API on %s", settings.admin_listen)
        await stop.wait()
        log.info("shutting down: finishing in-flight requests for up to %ss", settings.shutdown_grace_s)
    finally:
        begin_shutdown(runner.app, settings.shutdown_grace_s)
        await runner.cleanup()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("kura stopped")
