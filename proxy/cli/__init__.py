"""The `kura` command line. Each subcommand lives in its own module here and is
registered in COMMANDS: `register(subparsers)` adds its parser and sets `func`."""

from __future__ import annotations

import argparse
from typing import Callable

from . import cache, hash_password, mirror_config, quota, serve, warm


COMMANDS: list[Callable[..., None]] = [
    serve.register,
    mirror_config.register,
    hash_password.register,
    cache.register,
    warm.register,
    quota.register,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kura", description="kura: a pull-through registry cache")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(commands)
    return parser
