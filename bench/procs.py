"""The two proxies as real processes, each with its own empty cache directory, so
start-up time and peak RSS are measured per process (from /proc, Linux only)."""

from __future__ import annotations

import http.client
import secrets
import shutil
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType

import yaml

from tests.support.kura import free_port, start_kura_process
from tests.support.processes import stop_process

from .seed import PASSWORD, USER

_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0
_POLL_S = 0.002  # start-up is measured to the first 200, so poll tightly


class Proxy:
    """One proxy process; ``start()`` returns the seconds until ``/v2/`` answered 200."""

    name = ""

    def __init__(self, workdir: Path, upstream_url: str) -> None:
        self.workdir, self.upstream_url = workdir, upstream_url
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.runs = 0

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} not started"
        return self.process.pid

    @property
    def cache_dir(self) -> Path:
        return self.workdir / f"cache-{self.runs}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "proxy.log"

    def _spawn(self) -> tuple[subprocess.Popen[bytes], str]:
        raise NotImplementedError

    def start(self) -> float:
        """Start on a fresh, empty cache directory; the start-up time in seconds."""
        self.runs += 1
        self.workdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        self.process, self.url = self._spawn()
        _wait_for_200(self, started)
        return time.perf_counter() - started

    def stop(self) -> None:
        """Terminate (kill if slow) and remove the cache directory."""
        process, self.process = self.process, None
        stop_process(process, _STOP_TIMEOUT_S)
        shutil.rmtree(self.cache_dir, ignore_errors=True)


class KuraProxy(Proxy):
    """`python -m proxy serve`, configured through KURA_* variables only."""

    name = "kura"

    def _spawn(self) -> tuple[subprocess.Popen[bytes], str]:
        env = {
            "KURA_CACHE_DIR": str(self.cache_dir),
            "KURA_UPSTREAMS_DOCKER_IO_URL": self.upstream_url,
            "KURA_UPSTREAM_USERNAME": USER,
            "KURA_UPSTREAM_PASSWORD": PASSWORD,
            "KURA_SERVER_LOG_LEVEL": "warning",  # no access log, as for Distribution
        }
        return start_kura_process(env, self.log_path)


class DistributionProxy(Proxy):
    """Debian's `docker-registry serve` (Distribution 2.8) in proxy mode."""

    name = "distribution"

    def _spawn(self) -> tuple[subprocess.Popen[bytes], str]:
        binary = shutil.which("docker-registry")
        if binary is None:
            raise RuntimeError("docker-registry not installed: apt-get install -y docker-registry")
        port = free_port()
        config_path = self.workdir / f"registry-{self.runs}.yml"
        config_path.write_text(yaml.safe_dump(_registry_config(self.cache_dir, port, self.upstream_url)))
        with self.log_path.open("ab") as log:
            process = subprocess.Popen([binary, "serve", str(config_path)], stdout=log, stderr=log)
        return process, f"http://127.0.0.1:{port}"


def _registry_config(root: Path, port: int, upstream_url: str) -> dict[str, object]:
    """registry:2's own defaults (in-memory blob descriptor cache), as a pull-through cache."""
    return {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root)},
            "cache": {"blobdescriptor": "inmemory"},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
        "proxy": {"remoteurl": upstream_url, "username": USER, "password": PASSWORD},
        "health": {"storagedriver": {"enabled": False}},
    }


def _wait_for_200(proxy: Proxy, started: float) -> None:
    host, _, port = proxy.url.removeprefix("http://").rpartition(":")
    while time.perf_counter() - started < _START_TIMEOUT_S:
        assert proxy.process is not None
        if proxy.process.poll() is not None:
            break
        try:
            connection = http.client.HTTPConnection(host, int(port), timeout=2)
            connection.request("GET", "/v2/")
            status = connection.getresponse().status
            connection.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(_POLL_S)
    log = proxy.log_path.read_text(errors="replace")[-2000:] if proxy.log_path.exists() else ""
    raise RuntimeError(f"{proxy.name} did not answer 200 on /v2/; log:\n{log}")


class PeakRss:
    """Peak resident memory (MB) of a process while the ``with`` block runs.

    Resets the kernel's high-water mark (clear_refs 5) on entry where allowed and also
    samples VmRSS, so the figure is the peak during the block, not since start-up.
    """

    def __init__(self, pid: int, interval_s: float = 0.02) -> None:
        self.pid, self.interval_s = pid, interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._hwm_reset = False

    def __enter__(self) -> PeakRss:
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            self._hwm_reset = True
        except OSError:
            pass
        self._thread.start()
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self._stop.set()
        self._thread.join()
        if self._hwm_reset:
            self.peak_bytes = max(self.peak_bytes, _status_kib(self.pid, "VmHWM") * 1024)

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 1e6

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, _status_kib(self.pid, "VmRSS") * 1024)
            self._stop.wait(self.interval_s)


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
