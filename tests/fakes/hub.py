"""``Hub``: a Docker Hub stand-in on 127.0.0.1, usable from sync and async tests.

Three servers (registry front, CDN, token endpoint) and, for the "distribution"
backend, a ``docker-registry`` subprocess, all run on one event loop in a background
thread. That keeps the hub independent of each test's own loop, so one hub can serve a
whole pytest session. Test-facing methods are synchronous; reads of counters, records
and faults never touch the loop.

    with Hub(backend="memory", users={"alice": "s3cret"}) as hub:
        hub.push_image(make_image(1, [1024]), repo="library/alpine", tag="3")
        ...  # point the code under test at hub.url
        assert hub.counts("blob") == 1

Backends: "memory" (fast, default) answers from dicts and checks tokens itself;
"distribution" puts the real registry behind the same front (for e2e tests with real
clients). Where they differ: a manifest of a media type the client did not accept is
404 MANIFEST_UNKNOWN in memory, but 400 MANIFEST_INVALID (schema 2 image) or the
linux/amd64 entry (manifest list) from Distribution; Distribution accepts tokens up to
60 s past ``exp``, memory not at all.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Literal, TypeVar

from aiohttp import web

from .backend import Backend
from .cdn import CdnSigner, cdn_app
from .distribution import DistributionBackend
from .faults import Faults, instrument
from .front import Front
from .images import Image, Index
from .ratelimit import RateLimiter
from .records import Recorder, RequestRecord
from .store import MemoryBackend
from .tokens import TokenIssuer, token_app
from .wire import CDN, TOKEN, classify

DEFAULT_REPO = "library/x"
_CALL_TIMEOUT_S = 120.0  # generous: pushing tens of MB into Distribution takes a while
_SHUTDOWN_TIMEOUT_S = 0.5  # do not wait for slow CDN streams when stopping

T = TypeVar("T")


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def _url(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


class Hub:
    """Docker Hub stand-in; see the module docstring. ``start()`` before use, or ``with``."""

    def __init__(
        self,
        backend: Literal["memory", "distribution"] = "memory",
        users: dict[str, str] | None = None,
        rate_limit: tuple[int, int] | None = None,
        token_expires_in: int = 300,
        require_auth: bool = True,
        allow_anonymous: bool = True,
        cdn_url_ttl_s: int = 600,
    ) -> None:
        if backend not in ("memory", "distribution"):
            raise ValueError(f"unknown backend {backend!r}")
        self.backend_name = backend
        self.users = dict(users or {})
        self.require_auth, self.allow_anonymous = require_auth, allow_anonymous
        self.cdn_url_ttl_s = cdn_url_ttl_s
        self._faults = Faults()
        self.issuer = TokenIssuer(expires_in_s=token_expires_in)
        self.rate_limiter = RateLimiter(*rate_limit) if rate_limit else None
        self.url = self.realm_url = self.cdn_url = ""
        self._recorder = Recorder()
        self._backend: Backend | None = None
        self._runners: list[web.AppRunner] = []
        self._sockets: list[socket.socket] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._workdir: Path | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Hub:
        """Start the loop thread and every server; on failure, clean up and re-raise."""
        if self._loop is not None:
            raise RuntimeError("hub already started")
        self._workdir = Path(tempfile.mkdtemp(prefix="kura-fake-hub-"))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-hub", daemon=True)
        self._thread.start()
        try:
            self._call(self._astart())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop servers, subprocess, loop and thread; remove temp files. Idempotent."""
        loop, thread, workdir = self._loop, self._thread, self._workdir
        try:
            if loop is not None and thread is not None:
                try:
                    self._call(self._astop())
                finally:
                    loop.call_soon_threadsafe(loop.stop)
                    thread.join(timeout=10)
                    loop.close()
        finally:
            self._loop = self._thread = self._workdir = None
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)

    def __enter__(self) -> Hub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = _CALL_TIMEOUT_S) -> T:
        """Run ``coro`` on the hub's loop and wait for its result (from a test thread)."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("hub not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _astart(self) -> None:
        # Bind first: the realm, CDN and front URLs are needed to configure the rest.
        self._sockets = [_listening_socket() for _ in range(3)]
        front_sock, cdn_sock, token_sock = self._sockets
        self.url, self.cdn_url = _url(front_sock), _url(cdn_sock)
        self.realm_url = f"{_url(token_sock)}/token"
        self._backend = self._make_backend()
        await self._backend.start()
        signer = CdnSigner(self.cdn_url, self.cdn_url_ttl_s)
        front = Front(self._backend, signer, self.issuer, self.rate_limiter).app()
        instrument(front, self._recorder, self._faults, lambda request: classify(request.path)[0])
        cdn = cdn_app(signer, self._backend, self._faults)
        instrument(cdn, self._recorder, self._faults, lambda request: CDN)
        tokens = token_app(self.issuer, self.users, self.allow_anonymous)
        instrument(tokens, self._recorder, self._faults, lambda request: TOKEN)
        for app, sock in ((tokens, token_sock), (cdn, cdn_sock), (front, front_sock)):
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
            await runner.setup()
            self._runners.append(runner)
            await web.SockSite(runner, sock).start()

    def _make_backend(self) -> Backend:
        if self.backend_name == "memory":
            return MemoryBackend(self.issuer, self.realm_url, self.require_auth)
        assert self._workdir is not None
        return DistributionBackend(self.issuer, self.realm_url, self._workdir, self.require_auth)

    async def _astop(self) -> None:
        runners, self._runners = self._runners, []
        try:
            for runner in reversed(runners):
                await runner.cleanup()
        finally:
            for sock in self._sockets:  # those a failed start never handed to a server
                sock.close()
            if self._backend is not None:
                await self._backend.stop()
                self._backend = None

    # -- content --------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT`` of the front, as image references want it."""
        return self.url.removeprefix("http://")

    def push_image(self, image: Image, tag: str | None = "1", repo: str = DEFAULT_REPO) -> None:
        """Store ``image`` in ``repo`` under ``tag`` (by digest only if ``tag`` is None)."""
        self._call(self._started_backend().put_image(repo, image, tag))

    def push_index(self, index: Index, tag: str | None = "1", repo: str = DEFAULT_REPO) -> None:
        """Store every child image by digest, then ``index`` under ``tag``."""
        self._call(self._started_backend().put_index(repo, index, tag))

    def set_tag(self, repo: str, tag: str, digest: str) -> None:
        """Point ``repo:tag`` at the already pushed manifest ``digest``."""
        self._call(self._started_backend().set_tag(repo, tag, digest))

    def _started_backend(self) -> Backend:
        if self._backend is None:
            raise RuntimeError("hub not started")
        return self._backend

    # -- observation and control (thread-safe, never blocks on the loop) -----------------

    @property
    def faults(self) -> Faults:
        """The live fault switches: set their fields, do not replace the object."""
        return self._faults

    def counts(self, kind: str | None = None, method: str | None = None) -> int:
        """Requests seen by the front, CDN and token server, optionally filtered."""
        return self._recorder.counts(kind, method)

    @property
    def requests(self) -> list[RequestRecord]:
        """Copies of every request record, oldest first."""
        return self._recorder.snapshot()

    def reset(self) -> None:
        """Forget requests and refill rate-limit quotas; content and faults stay."""
        self._recorder.clear()
        if self.rate_limiter is not None:
            self.rate_limiter.reset()

    def set_remaining(self, n: int, identity: str | None = None) -> None:
        """Set remaining pulls for ``identity`` (token user or client IP), or for everyone."""
        if self.rate_limiter is None:
            raise RuntimeError("hub has no rate limit; pass rate_limit=(limit, window_s)")
        self.rate_limiter.set_remaining(n, identity)
