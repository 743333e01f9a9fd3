"""`kura warm IMAGE [--platform P ...]`: pull an image into a running kura's cache,
with a progress bar while it runs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from .client import CliError, add_connection_args, call, run_safely

POLL_S = 0.5


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser("warm", help="pull an image into the cache before clients need it")
    parser.add_argument("image", help="e.g. nginx:1.27 or ghcr.io/org/app@sha256:...")
    parser.add_argument("--platform", action="append", default=None,
                        help="os/arch[/variant]; repeat for several (default: kura's warm_platforms)")
    parser.add_argument("--no-wait", action="store_true", help="start the job and print its id")
    add_connection_args(parser)
    parser.set_defaults(func=lambda args: run_safely(_warm, args))


def _warm(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"image": args.image}
    if args.platform:
        body["platforms"] = args.platform
    job = call(args, "POST", "/admin/warm", body)
    if args.no_wait:
        print(json.dumps(job) if args.json else job["id"])
        return 0
    job = _follow(args, job)
    if args.json:
        print(json.dumps(job, indent=2))
    else:
        print(f"{job['image']}: {job['state']}, {job['layers_done']}/{job['layers_total']} blobs, "
              f"{job['manifests_fetched']} manifest pulls spent upstream")
    for error in job["errors"]:
        print(f"kura: {error}", file=sys.stderr)
    if job["state"] != "done":
        raise CliError(f"warm-up of {job['image']} failed")
    return 0


def _follow(args: argparse.Namespace, job: dict[str, Any]) -> dict[str, Any]:
    """Poll the job until it stops running, drawing a progress bar on a terminal."""
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TextColumn("{task.fields[layers]}"), TimeRemainingColumn())
    with Progress(*columns, disable=args.json or not sys.stderr.isatty(), console=None) as progress:
        task = progress.add_task(job["image"], total=None, layers="")
        while True:
            progress.update(task, total=job["bytes_total"] or None, completed=job["bytes_done"],
                            layers=f"{job['layers_done']}/{job['layers_total']} blobs")
            if job["state"] != "running":
                return job
            time.sleep(POLL_S)
            job = call(args, "GET", f"/admin/warm/{job['id']}")
