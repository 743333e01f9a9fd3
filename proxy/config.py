"""Configuration: frozen dataclasses, read once at start-up and validated there.

Sources, later wins: built-in defaults < TOML file < `KURA_*` environment.
Environment names are `KURA_<SECTION>_<KEY>` (`KURA_CACHE_TAG_TTL_S=30`) and
`KURA_UPSTREAMS_<REGISTRY>_<KEY>` for a configured upstream, the registry spelled in
upper case with every non-alphanumeric as `_` (`KURA_UPSTREAMS_DOCKER_IO_URL`).
The default upstream's credential may also come from `KURA_UPSTREAM_USERNAME` /
`KURA_UPSTREAM_PASSWORD`, which win over every other credential source.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

DOCKER_HUB_URL = "https://registry-1.docker.io"
DOCKER_CONFIG_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io")


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


# TOML section/key -> Settings field. One table, so file and environment agree.
_SCALARS: dict[tuple[str, str], str] = {
    ("server", "listen"): "listen",
    ("server", "log_level"): "log_level",
    ("cache", "dir"): "cache_dir",
    ("cache", "tag_ttl_s"): "tag_ttl_s",
    ("cache", "fill_timeout_s"): "fill_timeout_s",
    ("cache", "manifest_memory_bytes"): "manifest_memory_bytes",
    ("upstream", "default"): "default_registry",
    ("upstream", "connect_timeout_s"): "connect_timeout_s",
    ("upstream", "read_timeout_s"): "read_timeout_s",
    ("upstream", "resume_attempts"): "resume_attempts",
    ("cache", "max_cache_bytes"): "max_cache_bytes",
    ("cache", "min_free_disk_bytes"): "min_free_disk_bytes",
    ("cache", "unused_ttl_s"): "unused_ttl_s",
    ("cache", "access_flush_s"): "access_flush_s",
    ("cache", "warm_platforms"): "warm_platforms",
    ("admin", "token"): "admin_token",
    ("admin", "token_file"): "admin_token_file",
    ("admin", "listen"): "admin_listen",
    ("quota", "reserve"): "quota_reserve",
    ("quota", "probe_interval_s"): "quota_probe_interval_s",
    ("quota", "probe_repository"): "quota_probe_repository",
    ("server", "tls_cert_file"): "tls_cert_file",
    ("server", "tls_key_file"): "tls_key_file",
    ("server", "log_format"): "log_format",
    ("server", "shutdown_grace_s"): "shutdown_grace_s",
    ("server", "client_header_timeout_s"): "client_header_timeout_s",
    ("server", "max_request_line_bytes"): "max_request_line_bytes",
    ("server", "max_header_bytes"): "max_header_bytes",
    ("server", "max_headers"): "max_headers",
}
_UPSTREAM_KEYS = ("url", "username", "password", "password_file", "docker_config", "allow", "deny")
_TABLE_SECTIONS = ("upstreams", "clients")


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from defaults, an optional TOML file and the environment."""
    env = os.environ if env is None else env
    document = _read_toml(Path(path)) if path else {}
    values, upstream_tables = _collect(document, env)
    settings = _build(values, upstream_tables)
    settings = replace(settings, clients=_clients(document.get("clients", {}), env))
    return _resolve_admin_token(_resolve_credentials(settings, env))



def _resolve_admin_token(settings: Settings) -> Settings:
    """The admin token: `admin.token` (or KURA_ADMIN_TOKEN) wins over `admin.token_file`."""
    if settings.admin_token is not None or not settings.admin_token_file:
        return settings
    try:
        token = Path(settings.admin_token_file).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"admin.token_file {settings.admin_token_file}: {exc.strerror}") from None
    if not token:
        raise ConfigError(f"admin.token_file {settings.admin_token_file} is empty")
    return replace(settings, admin_token=Secret(token))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _collect(
    document: dict[str, Any], env: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    known_sections = {section for section, _ in _SCALARS} | set(_TABLE_SECTIONS)
    for section in document:
        if section not in known_sections:
            raise ConfigError(f"unknown config section [{section}]")
    values: dict[str, Any] = {}
    for (section, key), name in _SCALARS.items():
        table = document.get(section, {})
        if key in table:
            values[name] = table[key]
        env_value = env.get(f"KURA_{section}_{key}".upper())
        if env_value is not None:
            values[name] = env_value
    for section, table in document.items():
        if section in _TABLE_SECTIONS:
            continue
        for key in table:
            if (section, key) not in _SCALARS:
                raise ConfigError(f"unknown config key {section}.{key}")
    upstream_tables = {
        registry: dict(table) for registry, table in document.get("upstreams", {}).items()
    } or {"docker.io": {}}
    for registry, table in upstream_tables.items():
        for key in _UPSTREAM_KEYS:
            env_value = env.get(f"KURA_UPSTREAMS_{_env_token(registry)}_{key}".upper())
            if env_value is not None:
                table[key] = env_value
    return values, upstream_tables


def _env_token(registry: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", registry).upper()


def _build(values: dict[str, Any], upstream_tables: dict[str, dict[str, Any]]) -> Settings:
    types = {f.name: f.type for f in fields(Settings)}
    coerced = {name: _coerce(name, types[name], value) for name, value in values.items()}
    upstreams = {reg: _build_upstream(reg, table) for reg, table in upstream_tables.items()}
    settings = Settings(**coerced, upstreams=upstreams)
    _validate(settings)
    return settings


def _coerce(name: str, type_name: Any, value: Any) -> Any:
    try:
        if type_name in ("float", float):
            return float(value)
        if type_name in ("int", int):
            return int(value)
        if type_name in ("Path", Path):
            return Path(str(value))
        if type_name == "Secret | None":
            return Secret(str(value)) if value else None
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name} has an invalid value {value!r}") from None


def _build_upstream(registry: str, table: dict[str, Any]) -> UpstreamSettings:
    for key in table:
        if key not in _UPSTREAM_KEYS:
            raise ConfigError(f"unknown key {key!r} in [upstreams.\"{registry}\"]")
    default_url = DOCKER_HUB_URL if registry == "docker.io" else f"https://{registry}"
    url = str(table.get("url") or default_url).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"upstream {registry} has an invalid url {url!r}")
    password = table.get("password")
    return UpstreamSettings(
        registry=registry,
        url=url,
        username=str(table.get("username", "")),
        password=Secret(str(password)) if password else None,
        password_file=str(table.get("password_file", "")),
        docker_config=str(table.get("docker_config", "")),
        allow=_patterns(table.get("allow", ())),
        deny=_patterns(table.get("deny", ())),
    )


def _patterns(value: Any) -> tuple[str, ...]:
    """A TOML list, or a comma-separated string from the environment."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(item).strip() for item in items if str(item).strip())


def _clients(table: dict[str, Any], env: Mapping[str, str]) -> ClientSettings:
    """`[clients]`: `tokens = [...]`, `users = {name = "$pbkdf2-sha256$..."}`; the
    environment (KURA_CLIENTS_TOKENS="t1,t2", KURA_CLIENTS_USERS="name:hash,...") wins."""
    for key in table:
        if key not in ("tokens", "users"):
            raise ConfigError(f"unknown config key clients.{key}")
    tokens = _patterns(env.get("KURA_CLIENTS_TOKENS", table.get("tokens", ())))
    users = dict(table.get("users", {}))
    if "KURA_CLIENTS_USERS" in env:
        pairs = [item.partition(":") for item in _patterns(env["KURA_CLIENTS_USERS"])]
        users = {name: hashed for name, _, hashed in pairs}
    for name, hashed in users.items():
        if not str(hashed).startswith("$pbkdf2-sha256$"):
            raise ConfigError(f"clients user {name!r} needs a $pbkdf2-sha256$ hash (kura hash-password)")
    return ClientSettings(tuple(Secret(token) for token in tokens), {str(k): str(v) for k, v in users.items()})


def _validate(settings: Settings) -> None:
    host, _, port = settings.listen.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"server.listen must be HOST:PORT, got {settings.listen!r}")
    if settings.default_registry not in settings.upstreams:
        raise ConfigError(
            f"upstream.default {settings.default_registry!r} is not among [upstreams]"
        )
    if settings.admin_listen and not settings.admin_listen.rpartition(":")[2].isdigit():
        raise ConfigError(f"admin.listen must be HOST:PORT, got {settings.admin_listen!r}")
    for name in ("tag_ttl_s", "fill_timeout_s", "connect_timeout_s", "read_timeout_s",
                 "quota_reserve", "quota_probe_interval_s",
                 "max_cache_bytes", "min_free_disk_bytes", "unused_ttl_s"):
        if getattr(settings, name) < 0:
            raise ConfigError(f"setting {name} must not be negative")
    if settings.manifest_memory_bytes < 0 or settings.resume_attempts < 0:
        raise ConfigError("manifest_memory_bytes and resume_attempts must not be negative")
    if settings.access_flush_s <= 0:
        raise ConfigError("cache.access_flush_s must be positive")
    if settings.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"server.log_level must be debug, info, warning or error")
    _validate_serving(settings)


def _validate_serving(settings: Settings) -> None:
    if settings.log_format not in ("auto", "json", "text"):
        raise ConfigError(f"server.log_format must be auto, json or text, got {settings.log_format!r}")
    if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
        raise ConfigError("server.tls_cert_file and server.tls_key_file must be given together")
    for name in ("tls_cert_file", "tls_key_file"):
        path = getattr(settings, name)
        if path and not Path(path).is_file():
            raise ConfigError(f"server.{name} {path} does not exist")
    for name in ("shutdown_grace_s", "client_header_timeout_s"):
        if getattr(settings, name) < 0:
            raise ConfigError(f"setting {name} must not be negative")
    for name in ("max_request_line_bytes", "max_header_bytes", "max_headers"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"setting {name} must be positive")


def _resolve_credentials(settings: Settings, env: Mapping[str, str]) -> Settings:
    resolved = {}
    for registry, upstream in settings.upstreams.items():
        is_default = registry == settings.default_registry
        credential = _credential_for(upstream, env if is_default else {})
        resolved[registry] = replace(upstream, credential=credential)
    return replace(settings, upstreams=resolved)


def _credential_for(upstream: UpstreamSettings, env: Mapping[str, str]) -> Credential | None:
    """First match wins: environment, password file, config file, Docker config.json."""
    username = env.get("KURA_UPSTREAM_USERNAME") or upstream.username
    if env.get("KURA_UPSTREAM_PASSWORD") and username:
        return Credential(username, Secret(env["KURA_UPSTREAM_PASSWORD"]))
    if upstream.password_file:
        return Credential(_require_username(upstream, username), _read_secret_file(upstream))
    if upstream.password:
        return Credential(_require_username(upstream, username), upstream.password)
    if upstream.docker_config:
        return _from_docker_config(Path(upstream.docker_config), upstream.registry)
    return None


def _require_username(upstream: UpstreamSettings, username: str) -> str:
    if not username:
        raise ConfigError(f"upstream {upstream.registry} has a password but no username")
    return username


def _read_secret_file(upstream: UpstreamSettings) -> Secret:
    try:
        return Secret(Path(upstream.password_file).read_text().strip())
    except OSError as exc:
        raise ConfigError(
            f"upstream {upstream.registry} password_file {upstream.password_file}: "
            f"{exc.strerror}"
        ) from None


def _from_docker_config(path: Path, registry: str) -> Credential | None:
    """Read `auths[...]` from a Docker config.json (`auth` base64, or username/password)."""
    try:
        auths = json.loads(path.read_text()).get("auths", {})
    except (OSError, ValueError, AttributeError):
        raise ConfigError(f"docker_config {path} is not a readable Docker config.json") from None
    keys = DOCKER_CONFIG_HUB_KEYS if registry == "docker.io" else (registry, f"https://{registry}")
    for key in keys:
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise ConfigError(f"docker_config {path}: auth for {key} is not base64") from None
            return Credential(user, Secret(password))
        if entry.get("username") and entry.get("password"):
            return Credential(entry["username"], Secret(entry["password"]))
    return None
