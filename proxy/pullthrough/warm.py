"""Warm-up: pull an image's manifests and blobs into the cache before clients ask.

A job runs in the background through the same services a client request uses
(ManifestService.get, BlobService.open/fill), so it shares single-flight downloads
with concurrent pulls, spends quota through the same manifest path, and respects the
cache budget. Its progress is readable while it runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from ..cache.inflight import Fill
from ..errors import RegistryError
from ..mediatypes import parse_accept
from ..reference import ImageRef, parse_digest
from .blobs import BlobLocation, BlobService, CachedBlob
from .manifests import ManifestRequest, ManifestService

log = logging.getLogger(__name__)
MAX_JOBS_KEPT = 100
PARALLEL_BLOBS = 3


@dataclass(slots=True)
class WarmJob:
    id: str
    image: str
    platforms: list[str]
    state: str = "running"  # running, done, failed
    manifests_fetched: int = 0  # manifest GETs spent upstream (pulls on Docker Hub)
    layers_total: int = 0
    layers_done: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    errors: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    filling: dict[str, Fill] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        in_flight = sum(fill.written for fill in self.filling.values())
        return {
            "id": self.id, "image": self.image, "platforms": self.platforms, "state": self.state,
            "manifests_fetched": self.manifests_fetched, "layers_total": self.layers_total,
            "layers_done": self.layers_done, "bytes_total": self.bytes_total,
            "bytes_done": self.bytes_done + in_flight, "errors": self.errors,
            "started_at": self.started_at, "finished_at": self.finished_at,
        }


class WarmJobs:
    def __init__(self, manifests: ManifestService, blobs: BlobService, default_platforms: str) -> None:
        self._manifests = manifests
        self._blobs = blobs
        self._default_platforms = [p.strip() for p in default_platforms.split(",") if p.strip()]
        self._jobs: dict[str, WarmJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, image: ImageRef, platforms: list[str] | None) -> WarmJob:
        job = WarmJob(secrets.token_hex(8), str(image), platforms or self._default_platforms)
        self._jobs[job.id] = job
        while len(self._jobs) > MAX_JOBS_KEPT:
            oldest = next(iter(self._jobs))
            if self._jobs[oldest].state == "running":
                break
            del self._jobs[oldest]
        task = asyncio.create_task(self._run(job, image), name=f"warm {image}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def get(self, job_id: str) -> WarmJob | None:
        return self._jobs.get(job_id)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, job: WarmJob, image: ImageRef) -> None:
        try:
            descriptors = await self._resolve(job, image)
            job.layers_total = len(descriptors)
            job.bytes_total = sum(size for size in descriptors.values())
            gate = asyncio.Semaphore(PARALLEL_BLOBS)
            await asyncio.gather(*(self._blob(job, image, d, s, gate) for d, s in descriptors.items()))
            job.state = "failed" if job.errors else "done"
        except RegistryError as exc:
            job.errors.append(exc.message)
            job.state = "failed"
        except Exception as exc:  # noqa: BLE001 - reported in the job, never lost
            log.exception("warm-up of %s failed", image)
            job.errors.append(str(exc) or type(exc).__name__)
            job.state = "failed"
        finally:
            job.finished_at = time.time()

    async def _resolve(self, job: WarmJob, image: ImageRef) -> dict[str, int]:
        """The blobs (digest -> size) of the image's selected platforms."""
        root = await self._manifest(job, image, image.reference)
        images = [root]
        if "manifests" in root:
            chosen = [e for e in root["manifests"] if _matches(e.get("platform") or {}, job.platforms)]
            if not chosen:
                raise RegistryError(f"no manifest for platforms {', '.join(job.platforms)} in {image}")
            images = [await self._manifest(job, image, entry["digest"]) for entry in chosen]
        blobs: dict[str, int] = {}
        for document in images:
            for entry in [document.get("config")] + list(document.get("layers") or []):
                if isinstance(entry, dict) and isinstance(entry.get("digest"), str):
                    blobs[entry["digest"]] = int(entry.get("size") or 0)
        return blobs

    async def _manifest(self, job: WarmJob, image: ImageRef, reference: str) -> dict[str, Any]:
        result = await self._manifests.get(
            ManifestRequest(image.registry, image.repository, reference, parse_accept([]), head=False))
        if result.source == "upstream":
            job.manifests_fetched += 1
        assert result.manifest is not None  # a GET always carries the body
        return json.loads(result.manifest.body)

    async def _blob(self, job: WarmJob, image: ImageRef, digest: str, size: int, gate: asyncio.Semaphore) -> None:
        async with gate:
            try:
                where = BlobLocation(image.registry, image.repository, parse_digest(digest))
                opened = self._blobs.open(where)
                if not isinstance(opened, CachedBlob):
                    job.filling[digest] = opened
                    try:
                        await opened.wait_finished()
                    finally:
                        job.filling.pop(digest, None)
                job.layers_done += 1
                job.bytes_done += size
            except Exception as exc:  # noqa: BLE001 - one bad layer is reported, the rest go on
                message = exc.message if isinstance(exc, RegistryError) else str(exc) or type(exc).__name__
                job.errors.append(f"{digest}: {message}")


def _matches(platform: dict[str, Any], wanted: list[str]) -> bool:
    for text in wanted:
        parts = text.split("/")
        if parts[0] != platform.get("os") or len(parts) < 2 or parts[1] != platform.get("architecture"):
            continue
        if len(parts) < 3 or parts[2] == platform.get("variant"):
            return True
    return False
