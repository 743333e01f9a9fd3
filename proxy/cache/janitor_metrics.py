"""The janitor's counters as Prometheus metrics, read at scrape time."""

from __future__ import annotations

from typing import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .janitor import Janitor


class JanitorCollector(Collector):
    def __init__(self, janitor: Janitor) -> None:
        self._janitor = janitor

    def collect(self) -> Iterator[Metric]:
        j = self._janitor
        yield CounterMetricFamily("kura_cache_uncached_serves",
                                  "Blob fills served to clients but not kept: the cache was full of "
                                  "pinned or in-use entries.", value=j.uncached_serves)
        yield CounterMetricFamily("kura_cache_evicted_blobs", "Blobs evicted to stay under the size limit.",
                                  value=j.evicted_blobs)
        yield GaugeMetricFamily("kura_cache_used_bytes", "Blob and manifest bytes in the index (exact).",
                                value=j.used_bytes)
        yield GaugeMetricFamily("kura_cache_limit_bytes", "max_cache_bytes (0: no limit).",
                                value=j.max_cache_bytes)
