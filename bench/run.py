"""`make bench` / `python -m bench [--quick] [--out DIR]`: kura versus Distribution's
proxy mode against the same upstream, measured the same way, in alternation.

Prints one Markdown table (absolute figures, kura/Distribution ratios, targets) and
writes the full results as JSON under ``bench/results/``. Figures are not asserted:
the smoke test (tests/e2e/test_bench_smoke.py) only checks that a quick run completes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, TypeVar

from tests.fakes import Hub

from . import clients
from .clients import ClientProcess
from .headload import run_head_load
from .procs import DistributionProxy, KuraProxy, PeakRss, Proxy
from .report import machine, render
from .seed import BIG_REPO, LAYERS_REPO, MULTI_REPO, PASSWORD, TAG, USER, Seeded, seed, start_hub
from .sizes import FULL, QUICK, Workload
from .wrk import MANIFEST_ACCEPT, run_wrk

RESULTS_DIR = Path(__file__).with_name("results")
T = TypeVar("T")


class Bench:
    """One benchmark run: an upstream, two proxies, one client process."""

    def __init__(self, workload: Workload, hub: Hub, seeded: Seeded, workdir: Path) -> None:
        self.w, self.hub, self.seeded = workload, hub, seeded
        self.proxies: list[Proxy] = [
            KuraProxy(workdir / "kura", hub.url), DistributionProxy(workdir / "distribution", hub.url)
        ]
        self.clients = ClientProcess()
        self.out: dict[str, dict[str, Any]] = {p.name: {} for p in self.proxies}
        self.upstream: dict[str, float] = {}
        self._upstream_runs: list[dict[str, float]] = []

    def run(self) -> dict[str, Any]:
        try:
            startup: dict[str, list[float]] = {p.name: [] for p in self.proxies}
            cold: list[tuple[str, dict[str, dict[str, float]]]] = []
            for _ in range(self.w.cold_rounds):  # each cold round on fresh, empty caches
                self._restart_all(startup)
                cold.extend(self.cold())
            for (name, key), results in _grouped(cold).items():
                self.out[name][key] = _mean(results)
            self.manifests()
            self.warm_blobs()
            self.peak_rss()
            self._restart_all(startup)  # fan-out needs empty caches too
            self.fanout()
            for name, times in startup.items():
                self.out[name]["startup_ms"] = statistics.mean(times) * 1000
        finally:
            for p in self.proxies:
                p.stop()
            self.clients.close()
        return {"workload": asdict(self.w), "upstream": self.upstream, "systems": self.out}

    def _blob_url(self, p: Proxy) -> str:
        return f"{p.url}/v2/{BIG_REPO}/blobs/{self.seeded.big_digest}"

    def _restart_all(self, startup: dict[str, list[float]]) -> None:
        """(Re)start every proxy on an empty cache, recording its start-up time."""
        for p in self.proxies:
            p.stop()
            startup[p.name].append(p.start())

    def cold(self) -> list[tuple[str, dict[str, dict[str, float]]]]:
        """One round of cold pulls, then the big blob's TTFB against the upstream's own:
        ``(proxy name, {measurement: result})`` pairs."""
        out: list[tuple[str, dict[str, dict[str, float]]]] = []
        for key, repo in (("cold_pull_layers", LAYERS_REPO), ("cold_pull_multi", MULTI_REPO)):
            for p in self.proxies:
                out.append((p.name, {key: self.clients.call(clients.cold_pull, p.url, repo, TAG, self.w.pull_concurrency)}))
        upstream = self.clients.call(clients.upstream_blob, self.hub.url, BIG_REPO, self.seeded.big_digest, USER, PASSWORD)
        self._upstream_runs.append(upstream)
        self.upstream = _mean(self._upstream_runs)
        for p in self.proxies:
            # Resolve the image first, as a client would: the proxy then holds a token.
            self.clients.call(clients.cold_pull_manifest, p.url, BIG_REPO, TAG)
            result = self.clients.call(clients.cold_blob, p.url, BIG_REPO, self.seeded.big_digest)
            result["ttfb_ms"] = result["ttfb_s"] * 1000
            out.append((p.name, {"cold_blob": result}))
        return out

    def _counting(self, p: Proxy, phase: str, measure: Callable[[], T]) -> T:
        """Run ``measure`` and add the upstream requests it caused to the proxy's tally."""
        before = self.hub.counts()
        result = measure()
        tally = self.out[p.name].setdefault("upstream_requests_warm", {})
        tally[phase] = tally.get(phase, 0) + self.hub.counts() - before
        return result

    def manifests(self) -> None:
        url = "{}/v2/" + LAYERS_REPO + "/manifests/" + self.seeded.layers_manifest_digest
        runs: dict[tuple[str, str], list[dict[str, float]]] = {}
        for _ in range(self.w.rounds):
            for p in self.proxies:
                for method in ("HEAD", "GET"):
                    load = run_head_load if method == "HEAD" else run_wrk
                    result = self._counting(p, "manifest", lambda: load(
                        url.format(p.url), self.w.manifest_connections, self.w.wrk_duration_s, accept=MANIFEST_ACCEPT
                    ))
                    runs.setdefault((p.name, method), []).append(result.as_dict())
        for (name, method), results in runs.items():
            self.out[name].setdefault("manifest", {})[method] = _mean(results)

    def warm_blobs(self) -> None:
        runs: dict[tuple[str, int], list[dict[str, float]]] = {}
        for _ in range(self.w.rounds):
            for p in self.proxies:
                for n in self.w.blob_clients:
                    result = self._counting(p, "warm_blob", lambda: self.clients.call(
                        clients.warm_throughput, self._blob_url(p), n, self.w.wrk_duration_s
                    ))
                    runs.setdefault((p.name, n), []).append(result)
        for (name, n), results in runs.items():
            self.out[name].setdefault("warm_blob", {})[str(n)] = _mean(results)

    def peak_rss(self) -> None:
        for p in self.proxies:
            for n in self.w.rss_streams:
                with PeakRss(p.pid) as rss:
                    load = run_wrk(self._blob_url(p), n, self.w.rss_duration_s)
                self.out[p.name].setdefault("peak_rss_mb", {})[str(n)] = rss.peak_mb
                self.out[p.name].setdefault("rss_load", {})[str(n)] = load.as_dict()

    def fanout(self) -> None:
        for p in self.proxies:
            self.clients.call(clients.cold_pull_manifest, p.url, BIG_REPO, TAG)
            self.hub.reset()
            result = self.clients.call(clients.fanout, p.url, BIG_REPO, self.seeded.big_digest, self.w.fanout_clients)
            result["upstream_blob_gets"] = self.hub.counts("blob", "GET")
            result["upstream_cdn_gets"] = self.hub.counts("cdn", "GET")
            result["wall_over_single"] = result["wall_s"] / self.out[p.name]["cold_blob"]["wall_s"]
            # The same clients again, now cached: the floor set by delivering N copies.
            warm = self.clients.call(clients.fanout, p.url, BIG_REPO, self.seeded.big_digest, self.w.fanout_clients)
            result["warm_wall_s"] = warm["wall_s"]
            self.out[p.name]["fanout"] = result


def _grouped(pairs: list[tuple[str, dict[str, dict[str, float]]]]) -> dict[tuple[str, str], list[dict[str, float]]]:
    grouped: dict[tuple[str, str], list[dict[str, float]]] = {}
    for name, measured in pairs:
        for key, result in measured.items():
            grouped.setdefault((name, key), []).append(result)
    return grouped


def _mean(results: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.mean(r[key] for r in results) for key in results[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 1 s runs (smoke test)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="directory for the JSON results")
    args = parser.parse_args(argv)
    workload = QUICK if args.quick else FULL
    started = time.time()
    print(f"seeding the upstream ({'quick' if args.quick else 'full'} sizes)...", flush=True)
    hub = start_hub()
    try:
        seeded = seed(hub, workload)
        print("measuring kura and Distribution in alternation...", flush=True)
        with tempfile.TemporaryDirectory(prefix="kura-bench-") as workdir:
            results = Bench(workload, hub, seeded, Path(workdir)).run()
    finally:
        hub.stop()
    results.update(machine=machine(), started=started, elapsed_s=time.time() - started, quick=args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
    for path in (args.out / f"bench-{stamp}.json", args.out / "latest.json"):
        path.write_text(json.dumps(results, indent=2))
    print(render(results))
    print(f"\n{', '.join(f'{k}: {v}' for k, v in results['machine'].items())}")
    print(f"results: {args.out / f'bench-{stamp}.json'} ({results['elapsed_s']:.0f} s)")
    return 0
