"""Reading settings from the TOML file and `KURA_*` environment variables."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from .model import DOCKER_HUB_URL, ClientSettings, ConfigError, Secret, Settings, UpstreamSettings
from .validate import validate

# TOML section/key -> Settings field. One table, so file and environment agree.
SCALARS: dict[tuple[str, str], str] = {
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


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def collect(
    document: dict[str, Any], env: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    known_sections = {section for section, _ in SCALARS} | set(_TABLE_SECTIONS)
    for section in document:
        if section not in known_sections:
            raise ConfigError(f"unknown config section [{section}]")
    values: dict[str, Any] = {}
    for (section, key), name in SCALARS.items():
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
            if (section, key) not in SCALARS:
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


def build(values: dict[str, Any], upstream_tables: dict[str, dict[str, Any]]) -> Settings:
    types = {f.name: f.type for f in fields(Settings)}
    coerced = {name: _coerce(name, types[name], value) for name, value in values.items()}
    upstreams = {reg: _build_upstream(reg, table) for reg, table in upstream_tables.items()}
    settings = Settings(**coerced, upstreams=upstreams)
    validate(settings)
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


def clients_from(table: dict[str, Any], env: Mapping[str, str]) -> ClientSettings:
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
    from ..passwords import MAX_ROUNDS, hash_rounds  # only this function needs it

    for name, hashed in users.items():
        if not str(hashed).startswith("$pbkdf2-sha256$"):
            raise ConfigError(f"clients user {name!r} needs a $pbkdf2-sha256$ hash (kura hash-password)")
        rounds = hash_rounds(str(hashed))
        if rounds is None:
            raise ConfigError(f"clients user {name!r}: malformed $pbkdf2-sha256$<rounds>$<salt>$<hash> hash")
        if not 0 < rounds <= MAX_ROUNDS:
            raise ConfigError(
                f"clients user {name!r}: hash has {rounds} PBKDF2 rounds, allowed 1 to {MAX_ROUNDS} "
                f"(kura hash-password uses 29000)"
            )
    return ClientSettings(tuple(Secret(token) for token in tokens), {str(k): str(v) for k, v in users.items()})
