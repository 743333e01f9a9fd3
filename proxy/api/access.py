"""Who may pull, and what: client authentication and per-upstream repository rules.

Client authentication is off unless `[clients]` lists tokens or users. When on, every
`/v2` request needs `Authorization: Bearer <token>` or Basic credentials of a listed
user; without them kura answers 401 UNAUTHORIZED with `WWW-Authenticate: Basic`, the
challenge a registry client answers by sending credentials. Health endpoints stay open.

Repository rules keep kura's shared upstream credential from becoming an open door to
private repositories: a repository denied, or not allowed, gets 403 DENIED.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from fnmatch import fnmatchcase
from typing import Awaitable, Callable

from aiohttp import hdrs, web
from cachetools import LRUCache

from ..config import ClientSettings, UpstreamSettings
from ..errors import Denied, Unauthorized
from ..passwords import verify_password

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CHALLENGE = 'Basic realm="kura"'


class ClientAuthenticator:
    """Checks an `Authorization` header against the configured tokens and users.

    PBKDF2 is slow on purpose; a digest of each accepted header is remembered so a
    client pulling hundreds of blobs pays for one verification, not hundreds.
    """

    def __init__(self, clients: ClientSettings) -> None:
        self._tokens = [token.value.encode() for token in clients.tokens]
        self._users = dict(clients.users)
        self._accepted: LRUCache[bytes, bool] = LRUCache(maxsize=1024)

    def accepts(self, authorization: str) -> bool:
        key = hashlib.sha256(authorization.encode()).digest()
        if key in self._accepted:
            return True
        scheme, _, value = authorization.strip().partition(" ")
        ok = False
        if scheme.lower() == "bearer":
            ok = self._token_ok(value.strip().encode())
        elif scheme.lower() == "basic":
            ok = self._basic_ok(value.strip())
        if ok:
            self._accepted[key] = True
        return ok

    def _token_ok(self, offered: bytes) -> bool:
        # Compare against every token so timing does not say which prefix matched.
        return any([hmac.compare_digest(offered, token) for token in self._tokens])

    def _basic_ok(self, value: str) -> bool:
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        hashed = self._users.get(user)
        if hashed is None:
            # A bearer token sent as a Basic password (docker login, podman --creds).
            return self._token_ok(password.encode())
        return verify_password(password, hashed)


def client_auth_middleware(clients: ClientSettings) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The middleware enforcing `clients`; install it only when `clients.enabled`."""
    authenticator = ClientAuthenticator(clients)

    @web.middleware
    async def client_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/v2"):
            authorization = request.headers.get(hdrs.AUTHORIZATION, "")
            if not authorization or not authenticator.accepts(authorization):
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
