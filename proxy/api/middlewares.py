"""The one place errors become registry JSON bodies."""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from aiohttp import web

from ..errors import InternalError, NotFound, RegistryError, Unsupported

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(error: RegistryError) -> web.Response:
    response = web.json_response(error.body(), status=error.status, headers=error.headers)
    response.headers["Docker-Distribution-API-Version"] = "registry/2.0"
    return response


@web.middleware
async def registry_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """RegistryError -> its JSON; aiohttp's own 404/405 -> JSON; anything else -> a
    logged, traceback-free JSON 500."""
    try:
        return await handler(request)
    except RegistryError as error:
        return error_response(error)
    except web.HTTPNotFound:
        return error_response(NotFound(f"no route for {request.method} {request.path[:200]}"))
    except web.HTTPMethodNotAllowed:
        return error_response(Unsupported(f"{request.method} is not supported by kura"))
    except web.HTTPException:
        raise
    except (ConnectionResetError, ConnectionError):
        raise  # the client went away; nothing to answer
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.path[:200])
        return error_response(InternalError())
