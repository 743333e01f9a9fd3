"""The configuration model: frozen dataclasses with units in their names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

DOCKER_HUB_URL = "https://registry-1.docker.io"


class ConfigError(ValueError):
    """Invalid configuration; the message is one line an operator can act on."""


@dataclass(frozen=True, slots=True)
class Secret:
    """A string that never shows itself in repr, str or logs."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Credential:
    username: str
    password: Secret


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    registry: str  # what clients call it: "docker.io", "ghcr.io"
    url: str = DOCKER_HUB_URL
    username: str = ""
    password: Secret | None = None
    password_file: str = ""
    docker_config: str = ""
    credential: Credential | None = None  # resolved from the sources above
    # fnmatch patterns over the normalized repository (`library/*`); deny wins, and an
    # empty allow list allows every repository the deny list does not name.
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    @property
    def is_plain_http(self) -> bool:
        return self.url.startswith("http://")


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Who may pull through kura. Off (anyone may) unless tokens or users are given."""

    tokens: tuple[Secret, ...] = ()  # static bearer tokens
    users: Mapping[str, str] = field(default_factory=dict)  # name -> $pbkdf2-sha256$ hash

    @property
    def enabled(self) -> bool:
        return bool(self.tokens or self.users)


@dataclass(frozen=True, slots=True)
class Settings:
    listen: str = "0.0.0.0:5000"
    log_level: str = "info"
    cache_dir: Path = Path("./data")
    tag_ttl_s: float = 60.0
    fill_timeout_s: float = 300.0
    manifest_memory_bytes: int = 64 * 1024 * 1024
    default_registry: str = "docker.io"
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    resume_attempts: int = 3
    max_cache_bytes: int = 0  # 0: no limit
    min_free_disk_bytes: int = 0  # 0: no free-space floor
    unused_ttl_s: float = 0.0  # 0: entries are never removed for being unused
    access_flush_s: float = 5.0
    warm_platforms: str = "linux/amd64"  # comma-separated, for warm-up without platforms
    admin_token: Secret | None = None  # None: the admin API is disabled (404)
    admin_token_file: str = ""
    admin_listen: str = ""  # "": admin API on the main listener
    quota_reserve: int = 0
    quota_probe_interval_s: float = 0.0
    quota_probe_repository: str = "ratelimitpreview/test"
    upstreams: Mapping[str, UpstreamSettings] = field(
        default_factory=lambda: {"docker.io": UpstreamSettings("docker.io")}
    )
    # Serving: TLS, logs, shutdown and limits on what a client may send.
    tls_cert_file: str = ""
    tls_key_file: str = ""
    log_format: str = "auto"  # "json" when stderr is not a TTY, "text" when it is
    shutdown_grace_s: float = 30.0
    client_header_timeout_s: float = 30.0
    max_request_line_bytes: int = 8190
    max_header_bytes: int = 8190
    max_headers: int = 64
    clients: ClientSettings = field(default_factory=ClientSettings)

    @property
    def listen_host(self) -> str:
        return self.listen.rpartition(":")[0] or "0.0.0.0"

    @property
    def listen_port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def default_upstream(self) -> UpstreamSettings:
        return self.upstreams[self.default_registry]
