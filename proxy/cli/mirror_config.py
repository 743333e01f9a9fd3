"""`kura mirror-config containerd|docker|podman --url URL`: client configuration that
points container runtimes at kura, generated from kura's own upstream list.

containerd: one `certs.d/<registry>/hosts.toml` per upstream (kura first, with `pull`
and `resolve`; the real registry kept as `server`, the fallback when kura is down), and
the `config_path` lines for containerd 1.x and 2.x. docker: the `daemon.json` fragment
(Docker mirrors Docker Hub only). podman: the `registries.conf` fragment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from ..config import ConfigError, Settings, load_settings

CONTAINERD_CONFIG_PATH = "/etc/containerd/certs.d"


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser("mirror-config", help="print or write client mirror configuration")
    parser.add_argument("client", choices=("containerd", "docker", "podman"))
    parser.add_argument("--url", required=True, help="how nodes reach kura, e.g. http://kura.kura.svc:5000")
    parser.add_argument("--registry", action="append", default=[],
                        help="a registry to mirror (repeatable; default: every configured upstream)")
    parser.add_argument("--out", type=Path, help="containerd: write DIR/<registry>/hosts.toml")
    parser.add_argument("--ca", help="containerd: CA file that signed kura's certificate")
    parser.add_argument("--skip-verify", action="store_true", help="containerd: do not verify kura's TLS")
    parser.add_argument("--server", action="append", default=[], metavar="REGISTRY=URL",
                        help="containerd: fallback server for REGISTRY (default: the upstream URL)")
    parser.add_argument("--config-path", default=CONTAINERD_CONFIG_PATH,
                        help="containerd: certs.d directory on the node, for the printed config_path")
    parser.add_argument("--config", default=os.environ.get("KURA_CONFIG"), help="kura's TOML config")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
        registries = _registries(settings, args.registry)
        url = _kura_url(args.url)
        servers = _servers(settings, registries, args.server)
    except ConfigError as exc:
        print(f"kura: {exc}", file=sys.stderr)
        return 2
    if args.client == "containerd":
        return _containerd(args, url, servers)
    if args.client == "docker":
        print(docker_daemon_json(url))
    else:
        print(podman_registries_conf(url, servers, settings.default_registry))
    return 0


def _registries(settings: Settings, wanted: list[str]) -> list[str]:
    for registry in wanted:
        if registry not in settings.upstreams:
            raise ConfigError(f"registry {registry} is not an upstream in kura's configuration")
    return wanted or list(settings.upstreams)


def _kura_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
        raise ConfigError(f"--url must be http(s)://HOST[:PORT], got {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _servers(settings: Settings, registries: list[str], overrides: list[str]) -> dict[str, str]:
    servers = {registry: settings.upstreams[registry].url for registry in registries}
    for item in overrides:
        registry, sep, url = item.partition("=")
        if not sep or registry not in servers:
            raise ConfigError(f"--server must be REGISTRY=URL for a mirrored registry, got {item!r}")
        servers[registry] = url.rstrip("/")
    return servers


def containerd_hosts_toml(kura_url: str, server: str, ca: str | None = None, skip_verify: bool = False) -> str:
    """One registry's hosts.toml: kura first, the upstream itself as fallback."""
    lines = [f"server = {_quote(server)}", "", f"[host.{_quote(kura_url)}]", '  capabilities = ["pull", "resolve"]']
    if ca:
        lines.append(f"  ca = {_quote(ca)}")
    if skip_verify:
        lines.append("  skip_verify = true")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    """A TOML basic string (JSON's escaping is valid TOML for these values)."""
    return json.dumps(text)


def containerd_config_path_lines(config_path: str) -> str:
    return (
        "# containerd 1.x, /etc/containerd/config.toml (version = 2):\n"
        '[plugins."io.containerd.grpc.v1.cri".registry]\n'
        f'  config_path = "{config_path}"\n'
        "# containerd 2.x, /etc/containerd/config.toml (version = 3):\n"
        '[plugins."io.containerd.cri.v1.images".registry]\n'
        f'  config_path = "{config_path}"'
    )


def _containerd(args: argparse.Namespace, url: str, servers: dict[str, str]) -> int:
    for registry, server in servers.items():
        text = containerd_hosts_toml(url, server, args.ca, args.skip_verify)
        if args.out:
            path = args.out / registry / "hosts.toml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"# wrote {path}", file=sys.stderr)
        else:
            print(f"# {args.config_path}/{registry}/hosts.toml\n{text}")
    print(containerd_config_path_lines(args.config_path))
    return 0


def docker_daemon_json(kura_url: str) -> str:
    """`registry-mirrors` (Docker Hub only); plain HTTP also needs `insecure-registries`."""
    fragment: dict[str, list[str]] = {"registry-mirrors": [kura_url]}
    if kura_url.startswith("http://"):
        fragment["insecure-registries"] = [urlsplit(kura_url).netloc]
    return json.dumps(fragment, indent=2)


def podman_registries_conf(kura_url: str, servers: dict[str, str], default_registry: str) -> str:
    """One `[[registry]]` per upstream with kura as its mirror. podman sends no `?ns=`,
    so registries other than the default are reached through a path prefix."""
    host = urlsplit(kura_url).netloc
    insecure = "true" if kura_url.startswith("http://") else "false"
    blocks = []
    for registry, server in servers.items():
        location = host if registry == default_registry else f"{host}/{registry}"
        upstream_insecure = "\ninsecure = true" if server.startswith("http://") else ""
        blocks.append(
            f'[[registry]]\nprefix = "{registry}"\nlocation = "{urlsplit(server).netloc}"{upstream_insecure}\n'
            f'[[registry.mirror]]\nlocation = "{location}"\ninsecure = {insecure}\n'
        )
    return "\n".join(blocks)
