"""Command line: `kura serve [--config PATH]` (also `python -m proxy`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from aiohttp import web

from .app import create_app
from .config import ConfigError, Settings, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kura", description="Pull-through registry cache")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the registry mirror")
    serve.add_argument("--config", default=os.environ.get("KURA_CONFIG"),
                       help="TOML file (default: built-in defaults; env KURA_CONFIG)")
    args = parser.parse_args(argv)
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
        print=lambda message: logging.getLogger("kura").info(message.strip()),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
