"""Prometheus metrics, on a CollectorRegistry owned by one app (never the global one:
tests build many apps in one process).

Label cardinality is bounded by construction: upstreams come from the config, kinds,
methods, results and sources are small fixed sets, statuses are HTTP codes. No
repository or digest is ever a label; the most pulled repositories are kept in a
bounded in-memory table for the status page only.
"""

from __future__ import annotations

import shutil
from collections import Counter as Tally
from pathlib import Path
from typing import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .ratelimit import QuotaTracker
from .upstream.ratelimit_headers import classify_429
from .upstream.client import UpstreamEvent

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CACHE_RESULTS = {"cache": "hit", "hit": "hit", "upstream": "miss", "miss": "miss",
                 "stale": "stale", "coalesced": "coalesced"}
MODES = ("normal", "reserve", "limited")
TOP_REPOSITORIES_KEPT = 1000  # bounded memory for the status page's table
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    """Every kura metric, plus the figures the status page shows."""

    def __init__(self, quota: QuotaTracker, fills_in_flight: Callable[[], int], cache_dir: Path) -> None:
        self.registry = CollectorRegistry()
        self._cache_dir = cache_dir
        r = self.registry
        self.upstream_requests = Counter(
            "kura_upstream_requests", "Responses from upstream registries (status 0: no response).",
            ["upstream", "kind", "method", "status"], registry=r)
        self.upstream_rate_limited = Counter(
            "kura_upstream_rate_limited", "429s from upstreams: Docker Hub's pull limit or its abuse limit.",
            ["upstream", "reason"], registry=r)
        self.cache_requests = Counter(
            "kura_cache_requests", "Client manifest and blob requests by how the cache answered.",
            ["kind", "result"], registry=r)
        self.bytes_served = Counter(
            "kura_cache_bytes_served", "Bytes sent to clients, from the cache or as fetched upstream.",
            ["source"], registry=r)
        self.pulls_saved = Counter(
            "kura_pulls_saved", "Client manifest GETs answered without an upstream manifest GET.",
            ["upstream"], registry=r)
        self.request_duration = Histogram(
            "kura_request_duration_seconds", "Time to answer a client request (streamed bodies included).",
            ["kind"], buckets=DURATION_BUCKETS, registry=r)
        self.cache_size = Gauge("kura_cache_size_bytes", "Bytes of verified blobs in the cache.", registry=r)
        self.disk_free = Gauge("kura_cache_disk_free_bytes", "Free bytes on the cache's filesystem.", registry=r)
        self.disk_total = Gauge("kura_cache_disk_total_bytes", "Size of the cache's filesystem.", registry=r)
        fills = Gauge("kura_fills_in_flight", "Upstream blob downloads in progress.", registry=r)
        fills.set_function(lambda: float(fills_in_flight()))
        r.register(_QuotaCollector(quota))
        self.repositories: Tally[str] = Tally()

    # -- feeding ---------------------------------------------------------------------

    def observe_upstream(self, event: UpstreamEvent) -> None:
        """An UpstreamClient observer."""
        self.upstream_requests.labels(event.registry, event.kind, event.method, str(event.status)).inc()
        if event.status == 429:
            self.upstream_rate_limited.labels(event.registry, classify_429(event.body)).inc()

    def cache_result(self, kind: str, result: str) -> str:
        """Count one client request; returns the normalised result."""
        normal = self.cache_result_name(result)
        self.cache_requests.labels(kind, normal).inc()
        return normal

    @staticmethod
    def cache_result_name(result: str) -> str:
        """hit | miss | stale | coalesced, from what a handler recorded."""
        return CACHE_RESULTS.get(result, "miss")

    def pulled(self, registry: str, repo: str) -> None:
        """A client manifest GET for `repo` (the status page's most pulled table)."""
        self.repositories[f"{registry}/{repo}"] += 1
        if len(self.repositories) > TOP_REPOSITORIES_KEPT * 2:
            self.repositories = Tally(dict(self.repositories.most_common(TOP_REPOSITORIES_KEPT)))

    async def refresh(self, cache_bytes: int) -> None:
        """Set the gauges that need I/O; called before each exposition."""
        self.cache_size.set(cache_bytes)
        try:
            usage = shutil.disk_usage(self._cache_dir)
        except OSError:
            return
        self.disk_free.set(usage.free)
        self.disk_total.set(usage.total)

    # -- reading ---------------------------------------------------------------------

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.registry.get_sample_value(name, labels or {}) or 0.0

    def lookups(self) -> tuple[int, int]:
        """(requests answered without an upstream fetch of their own, all cache
        lookups): hit, stale and coalesced count as answered."""
        total = self.sum_of("kura_cache_requests_total")
        answered = sum(self.sum_of("kura_cache_requests_total", result=r) for r in ("hit", "stale", "coalesced"))
        return int(answered), int(total)

    def sum_of(self, name: str, **match: str) -> float:
        """The sum of every sample of `name` whose labels include `match`."""
        total = 0.0
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in match.items()):
                    total += sample.value
        return total


class _QuotaCollector(Collector):
    """Rate-limit figures read from the tracker at scrape time."""

    def __init__(self, quota: QuotaTracker) -> None:
        self._quota = quota

    def collect(self) -> Iterator[GaugeMetricFamily]:
        limit = GaugeMetricFamily("kura_upstream_ratelimit_limit",
                                  "Pulls allowed per window, from the last ratelimit-limit header.", labels=["upstream"])
        remaining = GaugeMetricFamily("kura_upstream_ratelimit_remaining",
                                      "Pulls left, from the last ratelimit-remaining header.", labels=["upstream"])
        window = GaugeMetricFamily("kura_upstream_ratelimit_window_seconds",
                                   "The rate-limit window, from the headers.", labels=["upstream"])
        reserve = GaugeMetricFamily("kura_upstream_quota_reserve", "Pulls kura holds back (quota_reserve).",
                                    labels=["upstream"])
        mode = GaugeMetricFamily("kura_upstream_quota_mode", "1 for the current quota mode of an upstream.",
                                 labels=["upstream", "mode"])
        for registry in self._quota.registries():
            state = self._quota.state(registry)
            if state.limit is not None and state.remaining is not None and not state.unlimited:
                limit.add_metric([registry], state.limit)
                remaining.add_metric([registry], state.remaining)
                if state.window_s is not None:
                    window.add_metric([registry], state.window_s)
            reserve.add_metric([registry], self._quota.reserve)
            current = self._quota.mode(registry)
            for name in MODES:
                mode.add_metric([registry, name], 1.0 if name == current else 0.0)
        yield from (limit, remaining, window, reserve, mode)

