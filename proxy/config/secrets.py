"""Where secrets come from: the upstream credential and the admin token.

Upstream credential, first match wins: environment (`KURA_UPSTREAM_USERNAME` /
`KURA_UPSTREAM_PASSWORD`, default upstream only), `password_file` (a mounted Kubernetes
secret), `password` in the config file, a Docker `config.json` (`docker_config`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path
from typing import Mapping

from .model import ConfigError, Credential, Secret, Settings, UpstreamSettings

DOCKER_CONFIG_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io")


def resolve_admin_token(settings: Settings) -> Settings:
    """The admin token: `admin.token` (or KURA_ADMIN_TOKEN) wins over `admin.token_file`."""
    if settings.admin_token is not None or not settings.admin_token_file:
        return settings
    return replace(settings, admin_token=read_secret_file(settings.admin_token_file, "admin.token_file"))


def resolve_credentials(settings: Settings, env: Mapping[str, str]) -> Settings:
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
        what = f"upstream {upstream.registry} password_file"
        return Credential(_require_username(upstream, username), read_secret_file(upstream.password_file, what))
    if upstream.password:
        return Credential(_require_username(upstream, username), upstream.password)
    if upstream.docker_config:
        return _from_docker_config(Path(upstream.docker_config), upstream.registry)
    return None


def _require_username(upstream: UpstreamSettings, username: str) -> str:
    if not username:
        raise ConfigError(f"upstream {upstream.registry} has a password but no username")
    return username


def read_secret_file(path: str, what: str) -> Secret:
    """A secret from a file such as a mounted Kubernetes secret (surrounding white
    space dropped); `what` names the setting in the one-line error."""
    try:
        value = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{what} {path}: {exc.strerror}") from None
    if not value:
        raise ConfigError(f"{what} {path} is empty")
    return Secret(value)


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
