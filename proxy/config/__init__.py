"""Configuration: frozen dataclasses, read once at start-up and validated there.

Sources, later wins: built-in defaults < TOML file < `KURA_*` environment.
Environment names are `KURA_<SECTION>_<KEY>` (`KURA_CACHE_TAG_TTL_S=30`) and
`KURA_UPSTREAMS_<REGISTRY>_<KEY>` for a configured upstream, the registry spelled in
upper case with every non-alphanumeric as `_` (`KURA_UPSTREAMS_DOCKER_IO_URL`).
The default upstream's credential may also come from `KURA_UPSTREAM_USERNAME` /
`KURA_UPSTREAM_PASSWORD`, which win over every other credential source.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Mapping

from .model import (
    DOCKER_HUB_URL,
    ClientSettings,
    ConfigError,
    Credential,
    Secret,
    Settings,
    UpstreamSettings,
)
from .secrets import resolve_admin_token, resolve_credentials
from .sources import SCALARS, build, clients_from, collect, read_toml

__all__ = [
    "DOCKER_HUB_URL", "SCALARS", "ClientSettings", "ConfigError", "Credential", "Secret",
    "Settings", "UpstreamSettings", "load_settings",
]


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from defaults, an optional TOML file and the environment."""
    env = os.environ if env is None else env
    document = read_toml(Path(path)) if path else {}
    values, upstream_tables = collect(document, env)
    settings = build(values, upstream_tables)
    settings = replace(settings, clients=clients_from(document.get("clients", {}), env))
    return resolve_admin_token(resolve_credentials(settings, env))
