"""`make bench` keeps working: a quick run (tiny sizes, 1 s loads) completes and reports
every figure for both proxies. Only counts are asserted, never timings (noisy machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_binary

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    require_binary("docker-registry")
    require_binary("wrk")
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout, json.loads((out / "latest.json").read_text())


def test_quick_benchmark_prints_the_table_for_both_proxies(quick_run: tuple[str, dict[str, Any]]) -> None:
    stdout, results = quick_run
    assert "| measurement | unit | kura | Distribution | kura/Distribution |" in stdout
    for name in ("kura", "distribution"):
        system = results["systems"][name]
        for method in ("GET", "HEAD"):
            load = system["manifest"][method]
            assert load["requests"] > 0
            assert (load["errors"], load["non_2xx"]) == (0, 0)
        assert system["warm_blob"]["16"]["bytes"] > 0
        assert system["peak_rss_mb"]["100"] > 0
        assert system["fanout"]["bytes"] == 20 * system["cold_blob"]["bytes"]


def test_kura_fans_twenty_cold_clients_into_one_upstream_download(quick_run: tuple[str, dict[str, Any]]) -> None:
    fanout = quick_run[1]["systems"]["kura"]["fanout"]
    assert fanout["upstream_blob_gets"] == 1
    assert fanout["upstream_cdn_gets"] == 1


def test_kura_serves_warm_manifests_and_blobs_without_upstream_requests(quick_run: tuple[str, dict[str, Any]]) -> None:
    kura = quick_run[1]["systems"]["kura"]
    assert kura["upstream_requests_warm"] == {"manifest": 0, "warm_blob": 0}
