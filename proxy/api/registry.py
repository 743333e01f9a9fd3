"""Registry v2 pull API handlers: parse, call one service, shape the response."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiohttp import hdrs, web

from ..cache.inflight import Fill, FillFailed
from ..errors import ManifestUnknown, TagInvalid
from ..mediatypes import parse_accept
from ..pullthrough.blobs import BlobLocation, CachedBlob
from ..pullthrough.manifests import ManifestRequest, ManifestResult
from ..reference import is_digest, parse_digest, validate_reference
from .access import check_repository
from .keys import CACHE_RESULT, SERVICES, TARGET
from .responses import DigestFileResponse, base_headers, resolve_range
from .target import Target, parse_target

log = logging.getLogger(__name__)

STALE_WARNING = '110 - "Response is stale"'


async def api_version(request: web.Request) -> web.Response:
    return web.json_response({}, headers=base_headers())


async def dispatch(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    target = parse_target(request, services.upstreams)
    check_repository(services.settings.upstreams[target.registry], target.repo)
    request[TARGET] = target
    handler = {"manifests": manifest, "blobs": blob, "tags": tags}[target.kind]
    return await handler(request, target)


def _headers(target: Target) -> dict[str, str]:
    headers = base_headers()
    if target.ns:
        headers["OCI-Namespace"] = target.ns
    return headers


async def manifest(request: web.Request, target: Target) -> web.StreamResponse:
    reference = validate_reference(target.reference)
    accept = parse_accept(request.headers.getall(hdrs.ACCEPT, []))
    services = request.app[SERVICES]
    result = await services.manifests.get(
        ManifestRequest(target.registry, target.repo, str(reference), accept, request.method == "HEAD")
    )
    if not is_digest(target.reference) and not accept.allows(result.media_type):
        raise ManifestUnknown(f"no manifest of an accepted media type for {target.reference}")
    request[CACHE_RESULT] = result.source
    _record_access(request, result)
    headers = _manifest_headers(target, result)
    if _etag_matches(request, result.digest):
        return web.Response(status=304, headers=headers)
    if request.method == "HEAD" or result.manifest is None:
        return _head_response(headers, result.size)
    return web.Response(body=result.manifest.body, headers=headers)


def _record_access(request: web.Request, result: ManifestResult) -> None:
    if result.source != "upstream":  # an upstream fetch stored it just now
        request.app[SERVICES].janitor.access.manifest(result.digest)


def _manifest_headers(target: Target, result: ManifestResult) -> dict[str, str]:
    headers = _headers(target)
    headers.update({
        hdrs.CONTENT_TYPE: result.media_type,
        "Docker-Content-Digest": result.digest,
        hdrs.ETAG: f'"{result.digest}"',
    })
    if result.source == "stale":
        headers[hdrs.WARNING] = STALE_WARNING
    return headers


def _head_response(headers: dict[str, str], size: int | None) -> web.StreamResponse:
    """Headers only, with the Content-Length of the body a GET would send."""
    response = web.StreamResponse(headers=headers)
    if size is not None:
        response.content_length = size
    return response


def _etag_matches(request: web.Request, digest: str) -> bool:
    tags = request.if_none_match or ()
    return any(tag.value in (digest, "*") for tag in tags)


async def blob(request: web.Request, target: Target) -> web.StreamResponse:
    digest = parse_digest(target.reference)
    blobs = request.app[SERVICES].blobs
    where = BlobLocation(target.registry, target.repo, digest)
    headers = _headers(target)
    headers.update({"Docker-Content-Digest": str(digest), hdrs.ETAG: f'"{digest}"',
                    hdrs.ACCEPT_RANGES: "bytes"})
    if request.method == "HEAD":
        headers[hdrs.CONTENT_TYPE] = "application/octet-stream"
        return _head_response(headers, await blobs.size(where))
    if _etag_matches(request, str(digest)):
        return web.Response(status=304, headers=headers)
    janitor = request.app[SERVICES].janitor
    joined = blobs.fills.get(digest) is not None
    opened = blobs.open(where)
    # Leased from the same step that found it, so a purge cannot unlink it under us.
    release = janitor.leases.acquire(str(digest))
    try:
        if isinstance(opened, CachedBlob):
            request[CACHE_RESULT] = "hit"
            janitor.access.blob(str(digest))
            resolve_range(request, opened.size)  # JSON 416 before FileResponse sees it
            return DigestFileResponse(opened.path, str(digest), on_sent=release, headers=headers)
        request[CACHE_RESULT] = "coalesced" if joined else "miss"
        response = await _stream_fill(request, opened, headers)
    except BaseException:
        release()
        raise
    release()
    return response


async def _stream_fill(request: web.Request, fill: Fill, headers: dict[str, str]) -> web.StreamResponse:
    await fill.wait_started()
    span = resolve_range(request, fill.size) if fill.size is not None else None
    response = web.StreamResponse(status=206 if span else 200, headers=headers)
    response.content_type = "application/octet-stream"
    start, end = span if span else (0, fill.size)
    if span:
        response.headers[hdrs.CONTENT_RANGE] = f"bytes {span[0]}-{span[1] - 1}/{fill.size}"
    if end is not None:
        response.content_length = end - start
    await response.prepare(request)
    try:
        await _send_fill(request, response, fill, start, end)
    except asyncio.CancelledError:
        raise
    except ConnectionError:
        return response  # the client went away (containerd cancels and resumes): routine
    except Exception as exc:
        if request.transport is None or request.transport.is_closing():
            return response  # the client went away while a sendfile() was running
        # Headers are gone; a short body on a closed connection is how HTTP says "failed".
        level = logging.WARNING if isinstance(exc, FillFailed) else logging.ERROR
        log.log(level, "aborting blob response for %s: %s", fill.digest, exc, exc_info=level == logging.ERROR)
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write_eof()
    return response


async def _send_fill(
    request: web.Request, response: web.StreamResponse, fill: Fill, start: int, end: int | None
) -> None:
    """sendfile() each span of the growing file as it lands: the kernel copies page
    cache to socket, so twenty followers of one fill cost little more than one."""
    if end is None:  # no Content-Length: chunked framing must go through aiohttp's writer
        async for chunk in fill.read(start, end):
            await response.write(chunk)
        return
    loop = asyncio.get_running_loop()
    file = await fill.open_file()
    try:
        async for position, stop in fill.spans(start, end):
            if request.transport is None:
                raise ConnectionResetError("client went away")
            await loop.sendfile(request.transport, file, position, stop - position)
    finally:
        file.close()


async def tags(request: web.Request, target: Target) -> web.StreamResponse:
    upstream = request.app[SERVICES].upstreams.get(target.registry)
    query = {key: value for key, value in request.query.items() if key in ("n", "last")}
    if "n" in query and not query["n"].isdigit():
        raise TagInvalid("n must be a non-negative integer")
    body, link = await upstream.get_tags(target.repo, query)
    headers = _headers(target)
    headers[hdrs.CONTENT_TYPE] = "application/json"
    if link:
        headers[hdrs.LINK] = _rewrite_link(link, target)
    return web.Response(body=body, headers=headers)


def _rewrite_link(link: str, target: Target) -> str:
    """Point the upstream's `next` link at kura, under the name the client used."""
    url = link.split(";", 1)[0].strip().strip("<>")
    query = dict(parse_qsl(urlsplit(url).query))
    if target.ns:
        query["ns"] = target.ns
    return f'</v2/{target.name}/tags/list?{urlencode(query)}>; rel="next"'
