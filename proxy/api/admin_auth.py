"""Who may use /admin: a bearer token compared in constant time.

- No token configured: every /admin path is 404, as if the API did not exist.
- `admin_listen` configured: /admin answers only on that listener (404 elsewhere).
- Missing or wrong token: 401 JSON with a Bearer challenge. The token never appears
  in logs, responses or errors.
"""

from __future__ import annotations

import hmac

from aiohttp import hdrs, web

from ..errors import NotFound, Unauthorized
from .keys import SERVICES
from .middlewares import Handler

ADMIN_PREFIX = "/admin"
PUBLIC_PATHS = frozenset({"/admin/openapi.json"})


@web.middleware
async def admin_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not _is_admin(request.path):
        return await handler(request)
    settings = request.app[SERVICES].settings
    if settings.admin_token is None or not _on_admin_listener(request, settings.admin_listen):
        raise NotFound(f"no route for {request.method} {request.path[:200]}")
    if request.path not in PUBLIC_PATHS and not _authorized(request, settings.admin_token.value):
        raise Unauthorized("admin API: send Authorization: Bearer <admin token>",
                           headers={hdrs.WWW_AUTHENTICATE: 'Bearer realm="kura-admin"'})
    return await handler(request)


def _is_admin(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def _authorized(request: web.Request, token: str) -> bool:
    scheme, _, presented = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


def _on_admin_listener(request: web.Request, admin_listen: str) -> bool:
    """With a separate admin address, only requests that arrived on its port count."""
    if not admin_listen:
        return True
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return sockname is not None and str(sockname[1]) == admin_listen.rpartition(":")[2]
