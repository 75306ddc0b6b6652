"""``cinemagraph mturk export|analyze``: paired A/B studies on Mechanical Turk (or offline, in a browser).

    cinemagraph mturk export --ours data/animate --baseline holynski=runs/holynski -o batch/
    cinemagraph mturk analyze results.csv --manifest batch/manifest.parquet -o batch/analysis
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stages import values
from stages.errors import InputError
from stages.files import check_outputs, check_writable_folder

COUNT = values.Range(1, 1000, integer=True)
"""Pairs per HIT, workers per HIT."""



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
    export.add_argument("--pairs-per-hit", type=COUNT.option("--pairs-per-hit"), default=4)
    export.add_argument("--catch-per-hit", type=values.Range(0, 1000, integer=True).option("--catch-per-hit"),
                        default=1)
    export.add_argument("--assignments", type=COUNT.option("--assignments"), default=5,
                        help="workers per HIT (default 5)")
    export.add_argument("--min-approved-hits", type=values.Range(0, 10**9, integer=True).option(
        "--min-approved-hits"), default=10000)
    export.add_argument("--min-approval-percent", type=values.Range(0, 100, integer=True).option(
        "--min-approval-percent"), default=95)
    export.add_argument("--reward-per-pair", type=values.Range(0, 100).option("--reward-per-pair"), default=0.03,
                        help="US dollars per pair shown")
    export.add_argument("--seed", type=values.SEED.option("--seed"), default=0)
    export.set_defaults(handler=run_export)

    analyze = actions.add_parser("analyze", help="preference for ours per comparison and criterion")
    analyze.add_argument("results", help="batch results CSV (from Mechanical Turk or study.html)")
    analyze.add_argument("--manifest", required=True, help="the batch's manifest.parquet")
    analyze.add_argument("-o", "--out", help="output folder (default: beside the results file)")
    analyze.add_argument("--resamples", type=values.Range(2, 10**6, integer=True).option("--resamples"),
                         default=1000, help="bootstrap resamples of workers")
    analyze.add_argument("--seed", type=values.SEED.option("--seed"), default=0)
    analyze.add_argument("--min-catch-accuracy", type=values.Range(0, 1).option("--min-catch-accuracy"),
                         default=1.0,
                         help="workers answering fewer catch questions right are dropped (default: all right)")
    analyze.set_defaults(handler=run_analyze)


def run_export(args: argparse.Namespace) -> int:
    """Export the batch and say what was written."""
    from tasks.study import export_batch
    from stages.study.mturk import StudySettings

    baselines = dict(args.baseline)
    if len(baselines) != len(args.baseline):
        raise InputError("each --baseline needs its own NAME")
    check_outputs({"-o": args.out}, {"--ours": args.ours, "--prompts": args.prompts,
                                     **{f"--baseline {name}": folder for name, folder in baselines.items()}})
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
    """Analyse the results and print the table (or that no worker has answered yet)."""
    from tasks.study import ANALYSIS_FILES, analyze_batch

    out = Path(args.out) if args.out else Path(args.results).resolve().parent
    check_outputs({f"-o {out}/{name}": out / name for name in ANALYSIS_FILES},
                  {"RESULTS": args.results, "--manifest": args.manifest})
    check_writable_folder(out, "-o")
    analysis = analyze_batch(args.results, args.manifest, out, args.resamples, args.seed, args.min_catch_accuracy)
    if analysis is None:
        print(f"mturk analyze: no answers yet in {args.results} (no assignment rows): nothing to analyse")
        return 0
    print(f"mturk analyze: {analysis.assignments} assignments, {analysis.rejected_assignments} rejected, "
          f"{len(analysis.workers_failing_catch)} of {analysis.workers} workers failed catch trials")
    print(analysis.table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"mturk analyze: wrote {out / 'preferences.csv'} and {out / 'preferences.png'}")
    return 0
