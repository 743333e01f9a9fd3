"""`kura serve [--config PATH]`: run the registry mirror."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

from aiohttp import web

from ..app import create_app
from ..config import ConfigError, Settings, load_settings


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser("serve", help="run the registry mirror")
    parser.add_argument(
        "--config", default=os.environ.get("KURA_CONFIG"),
        help="TOML file (default: the built-in defaults, see config/kura.toml; env KURA_CONFIG)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"kura: configuration error: {exc}", file=sys.stderr)
        return 2
    return serve_forever(settings)


def serve_forever(settings: Settings) -> int:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    web.run_app(
        create_app(settings),
        host=settings.listen_host,
        port=settings.listen_port,
        sock=[_admin_socket(settings.admin_listen)] if settings.admin_listen else None,
        print=lambda message: logging.getLogger("kura").info(message.strip()),
    )
    return 0


def _admin_socket(listen: str) -> socket.socket:
    """A second listener for /admin only (the admin middleware checks the port)."""
    host, _, port = listen.rpartition(":")
    sock = socket.create_server((host or "127.0.0.1", int(port)), reuse_port=False)
    sock.setblocking(False)
    return sock
