"""`kura ...` and `python -m proxy ...`: see proxy/cli/ for the subcommands."""

from __future__ import annotations

import sys

from .cli import build_parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
