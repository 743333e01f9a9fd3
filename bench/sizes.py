"""The workload: full sizes for `make bench`, tiny ones for the smoke test."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Workload:
    big_layer_bytes: int  # the single-layer image (warm throughput, TTFB, fan-out, RSS)
    layer_sizes: list[int]  # the many-layer image (cold pull)
    fanout_clients: int
    wrk_duration_s: int  # each warm measurement
    rss_duration_s: int
    rounds: int  # alternations of kura / Distribution per warm measurement
    cold_rounds: int  # cold measurements, each on freshly started proxies with empty caches
    manifest_connections: int = 64
    blob_clients: tuple[int, ...] = (1, 16)
    rss_streams: tuple[int, ...] = (4, 100)
    pull_concurrency: int = 3  # Docker's max-concurrent-downloads default


FULL = Workload(
    # randbytes() tops out one byte short of 256 MiB; tar and gzip framing add ~40 KiB.
    big_layer_bytes=256 * MIB - 1,
    layer_sizes=[(i + 1) * MIB for i in range(20)],
    fanout_clients=20,
    wrk_duration_s=5,
    rss_duration_s=5,
    rounds=2,
    cold_rounds=3,
)

QUICK = Workload(
    big_layer_bytes=2 * MIB,
    layer_sizes=[(i + 1) * 16 * 1024 for i in range(20)],
    fanout_clients=20,
    wrk_duration_s=1,
    rss_duration_s=1,
    rounds=1,
    cold_rounds=1,
)
