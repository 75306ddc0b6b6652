"""``cinemagraph bulk MANIFEST -o RUN/``: every row of a manifest through the text pipeline, resumable, exactly
once; ``cinemagraph bulk status RUN/`` answers from the run's files alone."""

from __future__ import annotations

import argparse
import json
from pathlib import Path




def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bulk`` sub-command."""
    parser = subparsers.add_parser(
        "bulk", help="run a manifest of prompts (CSV, Parquet, JSON Lines), resumable; 'bulk status RUN/'",
        description="Run every row of MANIFEST (columns prompt, id, image, region, direction, seed, mask and "
                    "per-row overrides frames, fps, feather_px, formats, speed, n_clusters) into RUN/: "
                    "RUN/items/<id>/, results.parquet, report.html. Start the same command again after any "
                    "stop: finished items are never recomputed. 'cinemagraph bulk status RUN/' reports progress.")
    parser.add_argument("manifest", help="the manifest file, or 'status'")
    parser.add_argument("run", nargs="?", type=Path, help="with 'status': the run folder")
    parser.add_argument("-o", "--output", type=Path, help="the run folder (created)")
    parser.add_argument("--params", type=Path, help="parameters file (default: params.yaml here if present)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a setting for the whole run, e.g. --set video.frames=24 (repeatable)")
    parser.add_argument("--workers", type=int, default=1, help="items at once (default 1)")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="local: worker threads in this process; ray: one model-holding Ray actor per worker")
    parser.add_argument("--shard-size", type=int, help="items per Prefect task (default: up to 8 shards per worker)")
    parser.add_argument("--retry-failed", action="store_true", help="retry the items that failed before")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    parser.add_argument("--keep-free-mb", type=float, default=1024, help="stop before the disk has less free (MiB)")
    parser.set_defaults(handler=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    """Plan, then (unless --dry-run) run the manifest in a Prefect flow; exit 0 unless every item failed or the
    run stopped early."""
    if args.manifest == "status":
        if args.run is None:
            args.parser.error("bulk status needs the run folder")
        return status(args.run)
    if args.output is None:
        args.parser.error("the run folder -o/--output is required")
    if args.workers < 1:
        args.parser.error("--workers must be at least 1")
    from tasks.prefect_server import prefect_api

    with prefect_api() as server:
        from flows.params import read_params, with_assignments
        from tasks.bulk.manifest import read_manifest
        from tasks.bulk.runner import BulkRun
        from tasks.bulk.steps import SECTIONS, check_settings

        specs = read_manifest(args.manifest)
        sections = ("run", *SECTIONS)
        params = check_settings(with_assignments(read_params(args.params, sections), args.set, sections), specs)
        bulk = BulkRun(specs, args.output, params, args.workers, args.executor, args.retry_failed,
                       args.keep_free_mb, args.shard_size)
        plan = bulk.start(dry_run=args.dry_run)
        found = {key: value for key, value in plan.facts.items() if value and key not in ("done", "failed_before")}
        if found:
            print(f"found at start: {json.dumps(found)}")
        print(plan.describe(args.workers))
        if args.dry_run:
            return 0
        from flows.bulk import run_bulk_flow
        from tasks.prefect_env import without_heartbeats

        server.wait()
        with without_heartbeats():
            summary = run_bulk_flow(bulk)
    print(f"this start: {summary['done']} done ({summary['cached']} found in the store), {summary['failed']} failed; "
          f"run: {summary['total_done']} done, {summary['total_failed']} failed of {len(specs)}; "
          f"{args.output / 'report.html'}")
    if summary["stopped"]:
        print(f"stopped: {summary['stopped']}")
        return 1
    return 1 if summary["total_failed"] and not summary["total_done"] else 0


def status(run_dir: Path) -> int:
    """Print a run's progress from its files alone: counts, the lock's holder, the last start."""
    from tasks.bulk.status import run_status

    print(run_status(run_dir))
    return 0
