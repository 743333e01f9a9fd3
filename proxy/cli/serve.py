"""`kura serve [--config PATH]`: run the registry mirror."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from ..config import ConfigError, Settings, load_settings
from ..logs import configure_logging
from ..server import serve


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
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(serve(settings))
    return 0
