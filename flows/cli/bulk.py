"""``cinemagraph bulk MANIFEST -o RUN/``: every row of a manifest through the text pipeline, resumable, exactly
once; ``cinemagraph bulk status RUN/`` answers from the run's files alone; ``cinemagraph bulk serve MANIFEST
--cron ...`` runs it on a schedule from this one process."""

from __future__ import annotations

import argparse
import json
from pathlib import Path




def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bulk`` sub-command."""
    parser = subparsers.add_parser(
        "bulk", help="run a manifest of prompts (CSV, Parquet, JSON Lines), resumable; 'bulk status RUN/'; "
                     "'bulk serve MANIFEST --cron ...'",
        description="Run every row of MANIFEST (columns prompt, id, image, region, direction, seed, mask and "
                    "per-row overrides frames, fps, feather_px, formats, speed, n_clusters) into RUN/: "
                    "RUN/items/<id>/, results.parquet, report.html. Start the same command again after any "
                    "stop: finished items are never recomputed. 'cinemagraph bulk status RUN/' reports progress. "
                    "'cinemagraph bulk serve MANIFEST --cron \"0 2 * * *\" -o \"runs/{date}\"' runs it on a "
                    "schedule (needs a Prefect server: docs/schedules.md).")
    parser.add_argument("manifest", help="the manifest file, 'status' or 'serve'")
    parser.add_argument("run", nargs="?", type=Path, help="with 'status': the run folder; with 'serve': the manifest")
    parser.add_argument("-o", "--output", type=Path,
                        help="the run folder (created); with 'serve' {date} is the run's date, e.g. runs/{date}")
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
    parser.add_argument("--cron", help="with 'serve': when to run, a cron expression, e.g. '0 2 * * *'")
    parser.add_argument("--timezone", default="UTC", help="with 'serve': the cron's time zone (default UTC)")
    parser.add_argument("--name", default="bulk", help="with 'serve': the deployment's name (default bulk)")
    parser.set_defaults(handler=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    """Plan, then (unless --dry-run) run the manifest in a Prefect flow; exit 0 unless every item failed or the
    run stopped early."""
    if args.manifest == "status":
        if args.run is None:
            args.parser.error("bulk status needs the run folder")
        return status(args.run)
    if args.manifest == "serve":
        if args.run is None or args.output is None or not args.cron:
            args.parser.error("bulk serve needs the manifest, -o/--output and --cron")
        return serve(args)
    if args.output is None:
        args.parser.error("the run folder -o/--output is required")
    if args.workers < 1:
        args.parser.error("--workers must be at least 1")
    from tasks.prefect_server import prefect_api

    with prefect_api() as server:
        from flows.bulk import prepare_run

        bulk = prepare_run(args.manifest, args.output, args.params, args.set, args.workers, args.executor,
                           args.retry_failed, args.keep_free_mb, args.shard_size)
        plan = bulk.start(dry_run=args.dry_run)
        found = {key: value for key, value in plan.facts.items() if value and key not in ("done", "failed_before")}
        if found:
            print(f"found at start: {json.dumps(found)}")
        print(plan.describe(args.workers))
        if args.dry_run:
            return 0
        from flows.bulk import run_bulk_flow

        server.wait()
        summary = run_bulk_flow(bulk)
    print(f"this start: {summary['done']} done ({summary['cached']} found in the store), {summary['failed']} failed; "
          f"run: {summary['total_done']} done, {summary['total_failed']} failed of {len(bulk.specs)}; "
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


def serve(args: argparse.Namespace) -> int:
    """Serve the scheduled bulk flow (flows.bulk.scheduled_bulk) from this process until it is stopped: a run at
    every time of ``--cron``, one at a time (a run due while one is going is cancelled)."""
    import os

    from stages.errors import InputError

    if not os.environ.get("PREFECT_API_URL"):
        raise InputError("bulk serve needs a Prefect server with a scheduler (a command's own server has none): "
                         "run 'prefect server start' and set PREFECT_API_URL=http://127.0.0.1:4200/api "
                         "(docs/schedules.md)")
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.client.schemas.schedules import CronSchedule

    from flows.bulk import scheduled_bulk

    try:
        schedule = CronSchedule(cron=args.cron, timezone=args.timezone)
    except ValueError as error:
        reason = str(error).splitlines()[-1]
        raise InputError(f"--cron {args.cron!r} / --timezone {args.timezone!r}: {reason}") from None
    parameters = {"manifest": str(args.run), "output": str(args.output), "params": args.params and str(args.params),
                  "settings": args.set, "workers": args.workers, "executor": args.executor,
                  "retry_failed": args.retry_failed, "keep_free_mb": args.keep_free_mb, "shard_size": args.shard_size}
    one_at_a_time = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
    scheduled_bulk.serve(name=args.name, schedules=[schedule], parameters=parameters, pause_on_shutdown=False,
                         global_limit=one_at_a_time)
    return 0
