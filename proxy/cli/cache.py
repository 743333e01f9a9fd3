"""`kura cache stats|ls|purge`: inspect and purge the cache of a running kura (admin
API), or, with `--offline`, the cache directory itself while kura is stopped."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
from typing import Any
from urllib.parse import quote, urlencode

from ..cache.purge import Filter, Repository, Selection, Tag
from ..config import ConfigError, load_settings
from ..errors import RegistryError
from ..reference import DOCKER_HUB, normalize_name, validate_tag
from .client import CliError, add_connection_args, call, human_bytes, parse_duration, run_safely


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser("cache", help="inspect and purge the cache")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    stats = actions.add_parser("stats", help="totals, size limit, hit ratio")
    listing = actions.add_parser("ls", help="cached repositories")
    listing.add_argument("prefix", nargs="?", default="", help="repository name prefix, e.g. library/")
    purge = actions.add_parser("purge", help="purge REPO[:TAG], or by age with --unused-for/--older-than")
    purge.add_argument("target", nargs="?", help="repository or repository:tag (e.g. nginx:1.27)")
    purge.add_argument("--unused-for", type=parse_duration, help="entries not pulled for this long (7d)")
    purge.add_argument("--older-than", type=parse_duration, help="entries cached longer ago than this")
    purge.add_argument("--dry-run", action="store_true", help="show what would be removed")
    for sub in (stats, listing, purge):
        add_connection_args(sub)
        sub.add_argument("--registry", default="", help="upstream registry (default: docker.io)")
        sub.add_argument("--offline", action="store_true",
                         help="read the cache directory directly (kura must be stopped)")
        sub.add_argument("--config", default=os.environ.get("KURA_CONFIG"),
                         help="with --offline: kura's config file, for the cache directory")
        sub.add_argument("--cache-dir", help="with --offline: the cache directory")
    stats.set_defaults(func=lambda args: run_safely(_stats, args))
    listing.set_defaults(func=lambda args: run_safely(_ls, args))
    purge.set_defaults(func=lambda args: run_safely(_purge, args))


def _stats(args: argparse.Namespace) -> int:
    stats = _offline(args, "stats") if args.offline else call(args, "GET", "/admin/cache")
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    limit = stats.get("max_cache_bytes")
    ratio = stats.get("hit_ratio")
    rows = [
        ("size", f"{human_bytes(stats['bytes'])}" + (f" of {human_bytes(limit)}" if limit else " (no limit)")),
        ("blobs", stats["blobs"]), ("manifests", stats["manifests"]), ("tags", stats["tags"]),
        ("repositories", stats["repositories"]), ("pins", stats.get("pins", "-")),
        ("hit ratio", f"{ratio:.1%}" if isinstance(ratio, (int, float)) else "-"),
        ("uncached serves", stats.get("uncached_serves", "-")),
        ("oldest access", _when(stats.get("oldest_access"))), ("newest access", _when(stats.get("newest_access"))),
    ]
    for name, value in rows:
        print(f"{name:<16} {value}")
    return 0


def _ls(args: argparse.Namespace) -> int:
    if args.offline:
        repositories = _offline(args, "ls")
    else:
        repositories, cursor = [], ""
        while True:
            query = urlencode({"registry": args.registry, "prefix": args.prefix, "limit": 500, "cursor": cursor})
            page = call(args, "GET", f"/admin/repositories?{query}")
            repositories += page["repositories"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
    if args.json:
        print(json.dumps(repositories, indent=2))
        return 0
    if not repositories:
        print("no cached repositories" + (f" under {args.prefix!r}" if args.prefix else ""))
        return 0
    print(f"{'REPOSITORY':<40} {'TAGS':<24} {'SIZE':>10}  LAST PULL")
    for repo in repositories:
        tags = ",".join(repo["tags"]) or "-"
        print(f"{repo['registry'] + '/' + repo['name']:<40} {tags[:24]:<24} "
              f"{human_bytes(repo['bytes']):>10}  {_when(repo.get('last_pull'))}")
    return 0


def _purge(args: argparse.Namespace) -> int:
    if not args.target and args.unused_for is None and args.older_than is None:
        raise CliError("purge what? give REPO[:TAG], --unused-for or --older-than", 2)
    if args.offline:
        removal = _offline(args, "purge")
    elif args.target:
        registry, repository, tag = _target(args.target, args.registry)
        path = f"/admin/repositories/{quote(repository)}" + (f"/tags/{quote(tag)}" if tag else "")
        removal = call(args, "DELETE", f"{path}?{urlencode({'registry': registry, 'dry_run': int(args.dry_run)})}")
    else:
        body = {"unused_for_s": args.unused_for, "older_than_s": args.older_than, "registry": args.registry,
                "dry_run": args.dry_run}
        removal = call(args, "POST", "/admin/purge", {k: v for k, v in body.items() if v not in (None, "")})
    if args.json:
        print(json.dumps(removal, indent=2))
        return 0
    verb = "would remove" if removal["dry_run"] else "removed"
    print(f"{verb} {removal['tags']} tags, {removal['manifests']} manifests, {removal['blobs']} blobs "
          f"({human_bytes(removal['bytes'])})")
    for name in removal.get("tag_names", []):
        print(f"  tag {name}")
    return 0


def _target(text: str, registry: str) -> tuple[str, str, str]:
    """`nginx`, `nginx:1.27`, `ghcr.io/org/app:v1` -> (registry, repository, tag or "")."""
    name, tag = text, ""
    if ":" in text.rpartition("/")[2]:
        name, _, tag = text.rpartition(":")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, name = first, rest
    registry = registry or DOCKER_HUB
    try:
        return registry, normalize_name(registry, name), validate_tag(tag) if tag else ""
    except RegistryError as exc:
        raise CliError(exc.message, 2) from None


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _offline(args: argparse.Namespace, action: str) -> Any:
    """Run the same catalog and purge code on the cache directory (kura stopped)."""
    try:
        env = dict(os.environ)
        if args.cache_dir:
            env["KURA_CACHE_DIR"] = args.cache_dir
        settings = load_settings(args.config, env)
    except ConfigError as exc:
        raise CliError(f"configuration error: {exc}", 2) from None
    if not (settings.cache_dir / "index.sqlite3").is_file():
        raise CliError(f"no cache at {settings.cache_dir}", 1)
    return asyncio.run(_offline_run(settings, args, action))


async def _offline_run(settings: Any, args: argparse.Namespace, action: str) -> Any:
    from ..app import build_services

    services = build_services(settings)
    await services.index.open()
    try:
        janitor = services.janitor
        await janitor.catalog.open()
        if action == "stats":
            return {**await janitor.catalog.stats(), "max_cache_bytes": settings.max_cache_bytes or None}
        if action == "ls":
            return await janitor.catalog.repositories(args.registry, args.prefix, 1_000_000)
        removal = await janitor.purge(_offline_selection(args), args.dry_run)
        if not removal.matched:
            raise CliError(f"{args.target} is not in the cache")
        return removal.to_json()
    finally:
        await services.index.close()


def _offline_selection(args: argparse.Namespace) -> Selection:
    if args.target:
        registry, repository, tag = _target(args.target, args.registry)
        return Tag(registry, repository, tag) if tag else Repository(registry, repository)
    return Filter(registry=args.registry, older_than_s=args.older_than, unused_for_s=args.unused_for)
