"""The fake ``auth.docker.io``: token policy, token checks and the token endpoint.

``GET /token?service=S&scope=repository:NAME:pull[,push]`` (scope may repeat) with
optional Basic credentials. Anonymous callers get ``pull`` only; known users get
``pull`` and ``push``; wrong credentials get 401. ``POST /token`` (containerd's OAuth
attempt) gets 404 so that clients fall back to GET, as they do against Docker Hub.
"""

from __future__ import annotations

import datetime
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import hdrs, web

from .signing import InvalidToken, SigningKey, decode_jwt, encode_jwt, signing_key
from .wire import SERVICE, basic_credentials

ISSUER = "kura-fake-hub"
ANONYMOUS = "anonymous"
_USER_ACTIONS = frozenset({"pull", "push"})
_ANONYMOUS_ACTIONS = frozenset({"pull"})


@dataclass
class TokenIssuer:
    """Mints and checks the hub's tokens; ``expires_in_s`` may be changed at any time."""

    expires_in_s: int = 300
    issuer: str = ISSUER
    key: SigningKey = field(default_factory=signing_key)

    def mint(self, subject: str, access: list[dict[str, Any]]) -> str:
        """A token for ``subject`` with Distribution-style ``access`` entries."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": SERVICE,  # a single string: Distribution 2.8 rejects a list
            "exp": now + self.expires_in_s,
            "nbf": now,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        return encode_jwt(claims, self.key)

    def mint_for(self, subject: str, name: str, actions: list[str]) -> str:
        """Shorthand: a token for one repository."""
        return self.mint(subject, [{"type": "repository", "name": name, "actions": actions}])

    def claims(self, authorization: str | None) -> dict[str, Any]:
        """Claims of a valid ``Bearer`` header (signature, issuer, audience, times).

        Raises InvalidToken for anything else, including a missing header. No clock
        leeway, unlike Distribution's 60 s: expiry tests against the memory backend
        need not wait a minute.
        """
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise InvalidToken("no bearer token")
        claims = decode_jwt(token.strip(), self.key)
        now = time.time()
        if claims.get("iss") != self.issuer or claims.get("aud") != SERVICE:
            raise InvalidToken("wrong issuer or audience")
        if not claims.get("nbf", 0) <= now < claims.get("exp", 0):
            raise InvalidToken("expired or not yet valid")
        return claims

    @staticmethod
    def allows(claims: dict[str, Any], name: str, action: str) -> bool:
        """Whether ``claims`` grant ``action`` on repository ``name``."""
        return any(
            entry.get("type") == "repository"
            and entry.get("name") == name
            and action in entry.get("actions", [])
            for entry in claims.get("access", [])
        )


def parse_scopes(values: list[str]) -> list[tuple[str, str, list[str]]]:
    """``["repository:a/b:pull,push"]`` -> ``[("repository", "a/b", ["pull", "push"])]``.

    A name may itself contain ``:`` (``host:5000/x``), so type and actions are split off
    the ends. A parameter may hold several space-separated scopes (OAuth style).
    """
    scopes = []
    for value in values:
        for scope in value.split():
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind and name:
                scopes.append((kind, name, [a for a in actions.split(",") if a]))
    return scopes


def grant(scopes: list[tuple[str, str, list[str]]], user: str | None) -> list[dict[str, Any]]:
    """Docker Hub's policy for public repositories: anyone pulls, users also push."""
    allowed = _USER_ACTIONS if user else _ANONYMOUS_ACTIONS
    return [
        {"type": kind, "name": name, "actions": [a for a in actions if a in allowed]}
        for kind, name, actions in scopes
        if kind == "repository"
    ]


def _basic_user(request: web.Request, users: dict[str, str]) -> tuple[bool, str | None]:
    """``(ok, user)`` from the request's Basic credentials; ``(True, None)`` if absent."""
    header = request.headers.get(hdrs.AUTHORIZATION)
    if not header:
        return True, None
    creds = basic_credentials(header)
    if creds is None:
        return False, None
    login, password = creds
    return users.get(login) == password, login


def token_app(issuer: TokenIssuer, users: dict[str, str], allow_anonymous: bool) -> web.Application:
    """The token endpoint as an aiohttp application (instrumented by the caller)."""

    async def get_token(request: web.Request) -> web.Response:
        ok, user = _basic_user(request, users)
        if not ok or (user is None and not allow_anonymous):
            return web.json_response({"details": "incorrect username or password"}, status=401)
        access = grant(parse_scopes(request.query.getall("scope", [])), user)
        token = issuer.mint(user or ANONYMOUS, access)
        issued = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        body = {
            "token": token,
            "access_token": token,
            "expires_in": issuer.expires_in_s,
            "issued_at": issued.isoformat().replace("+00:00", "Z"),
        }
        return web.Response(body=json.dumps(body).encode(), content_type="application/json")

    async def post_token(request: web.Request) -> web.Response:
        return web.Response(status=404, text="404 page not found\n")

    app = web.Application()
    app.router.add_get("/token", get_token)
    app.router.add_post("/token", post_token)
    return app
