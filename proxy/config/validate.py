"""Start-up validation: every problem is one line an operator can act on."""

from __future__ import annotations

from pathlib import Path

from .model import ConfigError, Settings


def validate(settings: Settings) -> None:
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
        raise ConfigError("server.log_level must be debug, info, warning or error")
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
