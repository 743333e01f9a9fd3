"""Who may pull, and what: client authentication and per-upstream repository rules.

Client authentication is off unless `[clients]` lists tokens or users. When on, every
`/v2` request needs `Authorization: Bearer <token>` or Basic credentials of a listed
user; without them kura answers 401 UNAUTHORIZED with `WWW-Authenticate: Basic`, the
challenge a registry client answers by sending credentials. Health endpoints stay open.

Repository rules keep kura's shared upstream credential from becoming an open door to
private repositories: a repository denied, or not allowed, gets 403 DENIED.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
from fnmatch import fnmatchcase
from typing import Awaitable, Callable

from aiohttp import hdrs, web
from cachetools import LRUCache, TTLCache

from ..config import ClientSettings, UpstreamSettings
from ..errors import Denied, Unauthorized
from ..passwords import verify_password

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CHALLENGE = 'Basic realm="kura"'
VERIFY_CONCURRENCY = 4  # PBKDF2 runs at once, in threads; more wait their turn
REJECTED_TTL_S = 30.0  # a refused header is refused again without PBKDF2 for this long
REJECTED_MAX = 4096


class ClientAuthenticator:
    """Checks an `Authorization` header against the configured tokens and users.

    PBKDF2 is slow on purpose, so it never runs on the event loop: it runs in a thread
    (hashlib releases the GIL), at most VERIFY_CONCURRENCY at once. A digest of each
    accepted header is remembered so a client pulling hundreds of blobs pays for one
    verification, not hundreds; a refused one is remembered for REJECTED_TTL_S so a
    client retrying a wrong password costs nothing. Different headers (the right
    password) are never affected by a remembered refusal.
    """

    def __init__(self, clients: ClientSettings) -> None:
        self._tokens = [token.value.encode() for token in clients.tokens]
        self._users = dict(clients.users)
        self._accepted: LRUCache[bytes, bool] = LRUCache(maxsize=1024)
        self._rejected: TTLCache[bytes, bool] = TTLCache(maxsize=REJECTED_MAX, ttl=REJECTED_TTL_S)
        self._verifying = asyncio.Semaphore(VERIFY_CONCURRENCY)

    async def verify(self, authorization: str) -> bool:
        """Whether `authorization` is accepted, without blocking the event loop."""
        key = _digest(authorization)
        known = self._known(key)
        if known is not None:
            return known
        verdict = self._decide(authorization)
        if isinstance(verdict, tuple):
            # Shielded: a client that hangs up does not free the slot while its thread runs.
            return await asyncio.shield(self._verify_in_thread(key, *verdict))
        self._remember(key, verdict)
        return verdict

    def _decide(self, authorization: str) -> bool | tuple[str, str]:
        """The verdict when it is cheap; (password, hash) when PBKDF2 must decide."""
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            return self._token_ok(value.strip().encode())
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        hashed = self._users.get(user)
        if hashed is None:
            # A bearer token sent as a Basic password (docker login, podman --creds).
            return self._token_ok(password.encode())
        return password, hashed

    async def _verify_in_thread(self, key: bytes, password: str, hashed: str) -> bool:
        async with self._verifying:
            known = self._known(key)  # decided while this one waited its turn
            if known is not None:
                return known
            ok = await asyncio.to_thread(verify_password, password, hashed)
            self._remember(key, ok)
            return ok

    def _known(self, key: bytes) -> bool | None:
        """The remembered verdict on a header digest, if any."""
        if key in self._accepted:
            return True
        if key in self._rejected:
            return False
        return None

    def _remember(self, key: bytes, ok: bool) -> None:
        (self._accepted if ok else self._rejected)[key] = True

    def _token_ok(self, offered: bytes) -> bool:
        # Compare against every token so timing does not say which prefix matched.
        return any([hmac.compare_digest(offered, token) for token in self._tokens])


def _digest(authorization: str) -> bytes:
    return hashlib.sha256(authorization.encode()).digest()


def client_auth_middleware(clients: ClientSettings) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The middleware enforcing `clients`; install it only when `clients.enabled`."""
    authenticator = ClientAuthenticator(clients)

    @web.middleware
    async def client_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/v2"):
            authorization = request.headers.get(hdrs.AUTHORIZATION, "")
            if not authorization or not await authenticator.verify(authorization):
                raise Unauthorized(
                    "authentication required: send a kura client token or user credentials",
                    headers={hdrs.WWW_AUTHENTICATE: CHALLENGE},
                )
        return await handler(request)

    return client_auth


def check_repository(upstream: UpstreamSettings, repo: str) -> None:
    """DENIED unless `repo` (normalized, `library/nginx`) passes the upstream's rules."""
    if any(fnmatchcase(repo, pattern) for pattern in upstream.deny):
        raise Denied(f"pulling {repo} from {upstream.registry} through this mirror is denied by its deny list")
    if upstream.allow and not any(fnmatchcase(repo, pattern) for pattern in upstream.allow):
        raise Denied(
            f"pulling {repo} from {upstream.registry} through this mirror is not allowed; "
            f"allowed: {', '.join(upstream.allow)}"
        )
