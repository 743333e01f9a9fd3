"""Warm load through Debian's `wrk` (C, epoll): the load generator is not the bottleneck."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("report.lua")
MANIFEST_ACCEPT = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])


@dataclass(frozen=True)
class WrkResult:
    requests: int
    bytes: int
    duration_s: float
    errors: int  # connect, read, write and timeout errors
    non_2xx: int
    p50_ms: float
    p99_ms: float

    @property
    def req_per_s(self) -> float:
        return self.requests / self.duration_s

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.duration_s / 1e6

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "req_per_s": self.req_per_s, "mb_per_s": self.mb_per_s}


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk not installed: apt-get install -y wrk")
    return path


def run_wrk(url: str, connections: int, duration_s: int, accept: str = "*/*") -> WrkResult:
    """GET with `wrk`: ``connections`` connections on two threads for ``duration_s`` seconds."""
    threads = min(2, connections)
    argv = [
        wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{duration_s}s",
        "--timeout", "60s", "--latency", "-s", str(SCRIPT), url,
    ]
    env = {**os.environ, "BENCH_ACCEPT": accept}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration_s + 120)
    line = next((l for l in done.stdout.splitlines() if l.startswith("BENCHJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-1000:]} {done.stderr[-1000:]}")
    raw = json.loads(line.removeprefix("BENCHJSON "))
    return WrkResult(
        requests=raw["requests"],
        bytes=raw["bytes"],
        duration_s=raw["duration_us"] / 1e6,
        errors=raw["errors"],
        non_2xx=raw["non_2xx"],
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
    )
