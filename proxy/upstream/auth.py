"""Bearer-token auth against an upstream registry (the Docker Hub token dance).

The realm and service come from the upstream's own `WWW-Authenticate` challenge;
nothing is hard-coded. Tokens are cached per (realm, service, scope) until a margin
before they expire, and at most one fetch per scope is in flight.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from cachetools import TLRUCache

from ..config import Credential
from ..errors import RegistryError, Unauthorized, UpstreamFailed, UpstreamUnavailable
from ..singleflight import SingleFlight

log = logging.getLogger(__name__)

DEFAULT_EXPIRES_IN_S = 60  # the token spec's default when expires_in is absent
MAX_EXPIRY_MARGIN_S = 30.0

# RFC 7235 auth-param: token = ( token / quoted-string ), separated by commas.
_AUTH_PARAM = re.compile(
    r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s"]*)\s*(?:,|$)'
)


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str
    params: dict[str, str]

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str:
        return self.params.get("service", "")


def parse_challenge(header: str) -> Challenge | None:
    """Parse `Bearer realm="...",service="...",scope="..."`; None if unusable."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params: dict[str, str] = {}
    position = 0
    rest = rest.strip()
    while position < len(rest):
        match = _AUTH_PARAM.match(rest, position)
        if match is None:
            return None
        key, value = match.group(1).lower(), match.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[key] = value
        position = match.end()
    return Challenge(scheme.lower(), params)


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    expires_at: float  # time.monotonic()

    def __repr__(self) -> str:
        return f"Token(***, expires_at={self.expires_at:.0f})"


def token_lifetime_s(body: dict[str, Any], now_wall: float) -> float:
    """Seconds this token may be used, counted from now, less a safety margin."""
    expires_in = body.get("expires_in")
    lifetime = float(expires_in) if isinstance(expires_in, (int, float)) and expires_in > 0 else DEFAULT_EXPIRES_IN_S
    issued_at = _parse_rfc3339(body.get("issued_at"))
    if issued_at is not None and 0 < now_wall - issued_at < lifetime:
        lifetime -= now_wall - issued_at  # already aged in transit or by clock skew
    margin = min(MAX_EXPIRY_MARGIN_S, lifetime * 0.1)
    return max(lifetime - margin, 0.0)


def _parse_rfc3339(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


TokenKey = tuple[str, str, str]  # realm, service, scope


class TokenCache:
    """Fetches and caches Bearer tokens for one upstream and its one credential."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        credential: Credential | None,
        *,
        allow_plain_http_credentials: bool,
        registry: str,
    ) -> None:
        self._session = session
        self._credential = credential
        self._allow_plain_http = allow_plain_http_credentials
        self._registry = registry
        self._tokens: TLRUCache[TokenKey, Token] = TLRUCache(
            maxsize=4096, ttu=lambda _key, token, _now: token.expires_at, timer=time.monotonic
        )
        self._inflight: SingleFlight[TokenKey, Token] = SingleFlight()

    def invalidate(self, challenge: Challenge, scope: str) -> None:
        self._tokens.pop((challenge.realm, challenge.service, scope), None)

    async def get(self, challenge: Challenge, scope: str) -> Token:
        key = (challenge.realm, challenge.service, scope)
        token = self._tokens.get(key)
        if token is not None:
            return token
        return await self._inflight.run(key, lambda: self._fetch(key))

    async def _fetch(self, key: TokenKey) -> Token:
        realm, service, scope = key
        params = {"scope": scope}
        if service:
            params["service"] = service
        try:
            async with self._session.get(
                realm, params=params, headers=self._auth_headers(realm), allow_redirects=False
            ) as response:
                if response.status in (401, 403):
                    raise Unauthorized(
                        f"upstream {self._registry} token service refused kura's credentials"
                    )
                if response.status != 200:
                    raise UpstreamFailed(
                        f"upstream {self._registry} token service answered {response.status}"
                    )
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            if isinstance(exc, RegistryError):
                raise
            raise UpstreamUnavailable(
                f"upstream {self._registry} token service unreachable: {type(exc).__name__}"
            ) from None
        return self._store(key, body)

    def _store(self, key: TokenKey, body: Any) -> Token:
        value = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            raise UpstreamFailed(f"upstream {self._registry} token service sent no token")
        token = Token(value, time.monotonic() + token_lifetime_s(body, time.time()))
        self._tokens[key] = token
        return token

    def _auth_headers(self, realm: str) -> dict[str, str]:
        """Basic credentials go only to the realm the upstream named, and only over
        https unless this upstream itself is configured as plain http (tests)."""
        if self._credential is None:
            return {}
        if not realm.startswith("https://") and not self._allow_plain_http:
            log.warning(
                "upstream %s names a plain-http token realm; fetching anonymously",
                self._registry,
            )
            return {}
        pair = f"{self._credential.username}:{self._credential.password.value}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
