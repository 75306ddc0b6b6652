"""``cinemagraph mturk export|analyze``: paired A/B studies on Mechanical Turk (or offline, in a browser).

    cinemagraph mturk export --ours data/animate --baseline holynski=runs/holynski -o batch/
    cinemagraph mturk analyze results.csv --manifest batch/manifest.parquet -o batch/analysis
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stages.errors import InputError


def _baseline(text: str) -> tuple[str, str]:
    """Parse ``NAME=DIR``."""
    name, separator, folder = text.partition("=")
    if not separator or not name.strip() or not folder.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=DIR, got {text!r}")
    return name.strip(), folder.strip()


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``mturk`` sub-command with its ``export`` and ``analyze`` actions."""
    parser = subparsers.add_parser("mturk", help="export a paired A/B study batch, or analyse its results")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    export = actions.add_parser("export", help="write a batch folder: input.csv, template.html, videos, ...")
    export.add_argument("--ours", required=True, help="folder with our videos (paired with baselines by id)")
    export.add_argument("--baseline", action="append", type=_baseline, required=True, metavar="NAME=DIR",
                        help="a method to compare with and its videos folder (repeatable)")
    export.add_argument("-o", "--out", required=True, help="new (or empty) batch folder")
    export.add_argument("--prompts", help="JSON {id: prompt} or CSV (id, prompt): enables the text question")
    export.add_argument("--base-url", default="", help="where videos/ will be served for Mechanical Turk")
    export.add_argument("--pairs-per-hit", type=int, default=4)
    export.add_argument("--catch-per-hit", type=int, default=1)
    export.add_argument("--assignments", type=int, default=5, help="workers per HIT (default 5)")
    export.add_argument("--min-approved-hits", type=int, default=10000)
    export.add_argument("--min-approval-percent", type=int, default=95)
    export.add_argument("--reward-per-pair", type=float, default=0.03, help="US dollars per pair shown")
    export.add_argument("--seed", type=int, default=0)
    export.set_defaults(handler=run_export)

    analyze = actions.add_parser("analyze", help="preference for ours per comparison and criterion")
    analyze.add_argument("results", help="batch results CSV (from Mechanical Turk or study.html)")
    analyze.add_argument("--manifest", required=True, help="the batch's manifest.parquet")
    analyze.add_argument("-o", "--out", help="output folder (default: beside the results file)")
    analyze.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of workers")
    analyze.add_argument("--seed", type=int, default=0)
    analyze.add_argument("--min-catch-accuracy", type=float, default=1.0,
                         help="workers answering fewer catch questions right are dropped (default: all right)")
    analyze.set_defaults(handler=run_analyze)


def run_export(args: argparse.Namespace) -> int:
    """Export the batch and say what was written."""
    from tasks.study import export_batch
    from stages.study.mturk import StudySettings

    baselines = dict(args.baseline)
    if len(baselines) != len(args.baseline):
        raise InputError("each --baseline needs its own NAME")
    settings = StudySettings(args.pairs_per_hit, args.catch_per_hit, args.assignments, args.min_approved_hits,
                             args.min_approval_percent, args.reward_per_pair, args.seed)
    manifest = export_batch(args.ours, baselines, args.out, settings, args.prompts, args.base_url)
    hits = manifest.hit_id.nunique()
    print(f"mturk export: {hits} HITs, {int((~manifest.is_catch).sum())} pairs, {int(manifest.is_catch.sum())} "
          f"catch trials, {args.assignments} assignments each → {args.out}")
    excluded = Path(args.out) / "excluded.csv"
    if excluded.is_file():
        print(f"mturk export: some videos could not be read and were left out: see {excluded}")
    if not args.base_url:
        print("mturk export: input.csv points at relative videos/ paths; for Mechanical Turk serve videos/ "
              "and export again with --base-url")
    return 0


def run_analyze(args: argparse.Namespace) -> int:
    """Analyse the results and print the table."""
    from tasks.study import analyze_batch

    out = Path(args.out) if args.out else Path(args.results).resolve().parent
    analysis = analyze_batch(args.results, args.manifest, out, args.resamples, args.seed, args.min_catch_accuracy)
    print(f"mturk analyze: {analysis.assignments} assignments, {analysis.rejected_assignments} rejected, "
          f"{len(analysis.workers_failing_catch)} of {analysis.workers} workers failed catch trials")
    print(analysis.table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"mturk analyze: wrote {out / 'preferences.csv'} and {out / 'preferences.png'}")
    return 0
