"""The results table (Markdown, pasted as is into the README) and the targets."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

Results = dict[str, Any]


@dataclass(frozen=True)
class Row:
    label: str
    unit: str
    kura: float | None
    distribution: float | None
    target: str = ""
    met: bool | None = None  # None: no target for this row

    @property
    def ratio(self) -> float | None:
        if self.kura is None or not self.distribution:
            return None
        return self.kura / self.distribution


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next((l.split(":", 1)[1].strip() for l in cpuinfo.read_text().splitlines()
                    if l.startswith("model name")), cpu)
    memory_kib = next((int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()
                       if l.startswith("MemTotal")), 0) if Path("/proc/meminfo").exists() else 0
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": f"{memory_kib / 1024 / 1024:.0f} GiB",
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "distribution": _registry_version(),
    }


def _registry_version() -> str:
    binary = shutil.which("docker-registry")
    if binary is None:
        return "missing"
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    return done.stdout.strip().split()[-1] if done.stdout.strip() else "unknown"


def _pick(results: Results, system: str, *path: str) -> float | None:
    value: Any = results["systems"].get(system, {})
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value)


def rows(results: Results) -> list[Row]:
    """Every measured figure, with the issue's target where it has one."""
    out: list[Row] = []

    def row(label: str, unit: str, path: tuple[str, ...], check: Callable[[float, float | None], bool] | None = None, target: str = "") -> None:
        kura, dist = _pick(results, "kura", *path), _pick(results, "distribution", *path)
        met = check(kura, dist) if check is not None and kura is not None else None
        out.append(Row(label, unit, kura, dist, target, met))

    at_least_dist = lambda k, d: d is not None and k >= d  # noqa: E731
    for clients in results["workload"]["blob_clients"]:
        row(f"warm blob, {clients} client(s)", "MB/s", ("warm_blob", str(clients), "mb_per_s"), at_least_dist, "ratio >= 1.0")
    for method in ("HEAD", "GET"):
        conns = results["workload"]["manifest_connections"]
        row(f"warm manifest {method} by digest, {conns} conns", "req/s", ("manifest", method, "req_per_s"), at_least_dist, "ratio >= 1.0")
        row(f"warm manifest {method} p99", "ms", ("manifest", method, "p99_ms"))
    row("upstream requests during warm manifest loads", "req", ("upstream_requests_warm", "manifest"), lambda k, d: k == 0, "kura == 0")
    row("upstream requests during warm blob loads", "req", ("upstream_requests_warm", "warm_blob"), lambda k, d: k == 0, "kura == 0")
    row("cold pull, 20 layers", "s", ("cold_pull_layers", "wall_s"))
    row("cold pull, multi-arch index (amd64)", "s", ("cold_pull_multi", "wall_s"))
    upstream_ttfb = results["upstream"]["ttfb_s"]
    row("cold big blob TTFB", "ms", ("cold_blob", "ttfb_ms"), lambda k, d: k - upstream_ttfb * 1000 <= 20, f"<= upstream {upstream_ttfb * 1000:.1f} + 20")
    row("cold big blob, 1 client wall", "s", ("cold_blob", "wall_s"))
    clients = results["workload"]["fanout_clients"]
    row(f"fan-out {clients} cold clients: upstream blob GETs", "GETs", ("fanout", "upstream_blob_gets"), lambda k, d: k == 1, "kura == 1")
    row(f"fan-out {clients} cold clients: wall", "s", ("fanout", "wall_s"), None)
    row("fan-out wall / 1 cold client wall", "x", ("fanout", "wall_over_single"), lambda k, d: k <= 1.2, "kura <= 1.2")
    row(f"same {clients} clients once cached (delivery floor)", "s", ("fanout", "warm_wall_s"))
    for streams in results["workload"]["rss_streams"]:
        check = (lambda k, d: k <= 120) if streams >= 100 else None
        row(f"peak RSS, {streams} warm big-blob streams", "MB", ("peak_rss_mb", str(streams)), check, "kura <= 120" if check else "")
    row("start-up to first 200 on /v2/", "ms", ("startup_ms",))
    return out


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def render(results: Results) -> str:
    """The Markdown table: absolute figures, kura/Distribution ratio, target, met."""
    lines = [
        "| measurement | unit | kura | Distribution | kura/Distribution | target | met |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows(results):
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.label} | {r.unit} | {_fmt(r.kura)} | {_fmt(r.distribution)} | {_fmt(r.ratio)} | {r.target} | {met} |")
    return "\n".join(lines)
