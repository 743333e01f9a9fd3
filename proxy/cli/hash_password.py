"""`kura hash-password`: hash a client password for `[clients] users`."""

from __future__ import annotations

import argparse
import getpass
import sys

from ..passwords import hash_password


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser("hash-password", help="hash a client password for [clients] users")
    parser.add_argument("--stdin", action="store_true", help="read the password from stdin, not a prompt")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if password != getpass.getpass("again: "):
            print("kura: passwords differ", file=sys.stderr)
            return 2
    if not password:
        print("kura: empty password", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0
