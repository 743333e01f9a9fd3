"""Manifests: where the freshness policy lives.

- A digest is immutable: once cached it is served without contacting the upstream
  (no token, no HEAD), forever (eviction is size-based, elsewhere).
- A tag is fresh for `tag_ttl_s` after the upstream last confirmed it. After that it
  is revalidated with a HEAD, which Docker Hub does not count as a pull; a GET is
  made only when the HEAD names a digest kura does not have.
- If revalidation fails (unreachable, timeout, 5xx, 429) the cached tag is served
  stale, with a warning in the log and the response. A 401/403 means kura's own
  credential is broken: logged loudly, the cached digest is still served. A 404 is an
  answer, not a failure: the tag is gone upstream and the client is told so.
- The pull quota (proxy/ratelimit.py) is asked before every manifest GET. In
  `reserve` mode (kura's own reserve reached) or `limited` mode (the upstream said 429)
  no GET is made: a cached tag is served stale, a cold miss gets 429 with Retry-After.
  While `limited`, cached tags are not even revalidated. HEADs stay allowed otherwise.
- A tag resolves per accepted-type set: a client that accepts only single-platform
  manifests may get a different digest than one that accepts indexes.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, replace
from typing import Callable

from cachetools import LRUCache

from ..cache.index import Index, TagRecord
from ..cache.manifests import ManifestStore, StoredManifest
from ..cache.writer import digest_of
from ..errors import (
    Denied,
    ManifestInvalid,
    RegistryError,
    TooManyRequests,
    Unauthorized,
    UpstreamFailed,
    UpstreamUnavailable,
)
from ..mediatypes import AcceptSet, media_type_from_body
from ..ratelimit import QuotaTracker
from ..reference import parse_digest
from ..singleflight import SingleFlight
from ..upstream.client import FetchedManifest, UpstreamClient
from ..upstream.pool import Upstreams

log = logging.getLogger(__name__)

STALE_ON = (UpstreamUnavailable, UpstreamFailed, TooManyRequests)
CREDENTIAL_FAILURES = (Unauthorized, Denied)


@dataclass(frozen=True, slots=True)
class ManifestResult:
    manifest: StoredManifest | None  # None only for a HEAD answered from upstream headers
    digest: str
    media_type: str
    size: int
    source: str  # "cache", "upstream", "stale", "coalesced" (joined another's upstream fetch)


@dataclass(frozen=True, slots=True)
class ManifestRequest:
    registry: str
    repo: str
    reference: str
    accept: AcceptSet
    head: bool


class ManifestService:
    def __init__(
        self,
        store: ManifestStore,
        index: Index,
        upstreams: Upstreams,
        tag_ttl_s: float,
        clock: Callable[[], float] = time.time,
        quota: QuotaTracker | None = None,
    ) -> None:
        self._store = store
        self._index = index
        self._upstreams = upstreams
        self._tag_ttl_s = tag_ttl_s
        self._clock = clock
        self._quota = quota
        self._tag_flights: SingleFlight[tuple[str, ...], ManifestResult] = SingleFlight()
        self._digest_flights: SingleFlight[str, tuple[StoredManifest, bool]] = SingleFlight()
        self._tags: LRUCache[tuple[str, str, str, str], TagRecord] = LRUCache(maxsize=65536)

    def forget_tags(self) -> None:
        """Drop remembered tag records (after a purge); the index is the truth."""
        self._tags.clear()

    async def get(self, request: ManifestRequest) -> ManifestResult:
        if ":" in request.reference:
            return await self._by_digest(request)
        key = (request.registry, request.repo, request.reference, request.accept.key, str(request.head))
        joined = key in self._tag_flights
        result = await self._tag_flights.run(key, lambda: self._by_tag(request))
        return replace(result, source="coalesced") if joined and result.source == "upstream" else result

    # -- by digest --------------------------------------------------------------------

    async def _by_digest(self, request: ManifestRequest) -> ManifestResult:
        digest = str(parse_digest(request.reference))
        cached = await self._store.get(digest)
        if cached is not None:
            return _result(cached, "cache")
        joined = digest in self._digest_flights
        upstream = self._upstreams.get(request.registry)
        if request.head:  # a HEAD is free upstream; do not spend a GET on it
            head = await upstream.head_manifest(request.repo, digest, request.accept.upstream_header())
            if head.digest in (None, digest) and head.size is not None:
                return ManifestResult(None, digest, head.media_type, head.size, "upstream")
        manifest, spent = await self._fetch(upstream, request, digest)
        return _result(manifest, ("coalesced" if joined else "upstream") if spent else "cache")

    async def _fetch(
        self, upstream: UpstreamClient, request: ManifestRequest, digest: str
    ) -> tuple[StoredManifest, bool]:
        """GET one manifest by digest (one pull on Docker Hub), verify, store; the bool
        says whether a GET was spent (not when another flight stored it meanwhile)."""

        async def fetch() -> tuple[StoredManifest, bool]:
            stored = await self._store.get(digest)
            if stored is not None:  # a flight that ended after our caller's cache miss
                return stored, False
            fetched = await self._get_manifest(upstream, request, digest)
            manifest = _verified(fetched.body, fetched.media_type, digest)
            await self._store.put(manifest, request.registry, request.repo)
            return manifest, True

        return await self._digest_flights.run(digest, fetch)

    # -- by tag -----------------------------------------------------------------------

    async def _by_tag(self, request: ManifestRequest) -> ManifestResult:
        tag_key = (request.registry, request.repo, request.reference, request.accept.key)
        record = self._tags.get(tag_key) or await self._index.get_tag(*tag_key)
        cached = await self._store.get(record.digest) if record else None
        if record and cached and self._clock() - record.confirmed_at < self._tag_ttl_s:
            return _result(cached, "cache")
        if cached and self._quota and not self._quota.may_contact(request.registry):
            return _result(cached, "stale")  # the upstream said 429: leave it alone
        if cached and self._upstreams.get(request.registry).recently_unreachable():
            return _result(cached, "stale")  # it just failed to connect: do not wait again
        try:
            return await self._revalidate(request, cached)
        except STALE_ON + CREDENTIAL_FAILURES as exc:
            if cached is None:
                raise
            self._log_fallback(request, exc)
            return _result(cached, "stale")

    async def _revalidate(self, request: ManifestRequest, cached: StoredManifest | None) -> ManifestResult:
        upstream = self._upstreams.get(request.registry)
        accept = request.accept.upstream_header()
        head = await upstream.head_manifest(request.repo, request.reference, accept)
        if head.digest is None:  # no digest header: only a GET can tell
            fetched = await self._get_manifest(upstream, request, request.reference)
            digest = fetched.digest_header or digest_of(fetched.body)
            manifest = _verified(fetched.body, fetched.media_type, digest)
            await self._store.put(manifest, request.registry, request.repo)
            await self._confirm(request, digest)
            return _result(manifest, "upstream")
        digest = str(parse_digest(head.digest))
        stored = cached if cached is not None and cached.digest == digest else await self._store.get(digest)
        if stored is not None:
            await self._confirm(request, digest)
            return _result(stored, "cache")
        # The tag moved to a digest kura does not hold. The tag keeps pointing at what
        # kura has until the new manifest is stored, so a refused or failed GET leaves
        # the old copy to serve stale.
        if cached is not None and not self._may_spend(request.registry):
            return _result(cached, "stale")
        if request.head and head.size is not None:
            # The client will GET by digest next; spend the pull then, not twice.
            return ManifestResult(None, digest, head.media_type, head.size, "upstream")
        manifest, spent = await self._fetch(upstream, request, digest)
        await self._confirm(request, digest)
        return _result(manifest, "upstream" if spent else "cache")

    def _may_spend(self, registry: str) -> bool:
        return self._quota is None or self._quota.may_spend(registry)

    async def _get_manifest(
        self, upstream: UpstreamClient, request: ManifestRequest, reference: str
    ) -> FetchedManifest:
        """The one place a pull is spent: only when the quota allows it."""
        accept = request.accept.upstream_header()
        if self._quota is None:
            return await upstream.get_manifest(request.repo, reference, accept)
        with self._quota.spending(request.registry):
            return await upstream.get_manifest(request.repo, reference, accept)

    async def _confirm(self, request: ManifestRequest, digest: str) -> None:
        tag_key = (request.registry, request.repo, request.reference, request.accept.key)
        record = TagRecord(digest, self._clock())
        await self._index.put_tag(*tag_key, record)
        self._tags[tag_key] = record

    @staticmethod
    def _log_fallback(request: ManifestRequest, exc: RegistryError) -> None:
        name = f"{request.registry}/{request.repo}:{request.reference}"
        if isinstance(exc, CREDENTIAL_FAILURES):
            log.error("UPSTREAM CREDENTIAL FAILURE revalidating %s (%s); serving cached digest",
                      name, exc.message)
        else:
            log.warning("serving %s stale: %s", name, exc.message)


def _result(manifest: StoredManifest, source: str) -> ManifestResult:
    return ManifestResult(manifest, manifest.digest, manifest.media_type, len(manifest.body), source)


def _verified(body: bytes, media_type: str, digest: str) -> StoredManifest:
    """Refuse bytes that do not hash to the digest we asked for."""
    parsed = parse_digest(digest)
    if hashlib.new(parsed.algorithm, body).hexdigest() != parsed.encoded:
        raise UpstreamFailed(f"upstream manifest does not match digest {digest}")
    media_type = media_type if media_type and media_type != "application/json" else media_type_from_body(body)
    if not media_type:
        raise ManifestInvalid(f"manifest {digest} has no media type")
    return StoredManifest(digest, media_type, body)
