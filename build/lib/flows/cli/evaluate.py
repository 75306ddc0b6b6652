"""``cinemagraph evaluate --real DIR --fake DIR -o OUT``: FVD16/FVD60 and per-video static and loop metrics.

The I3D detector is read from ``--i3d`` (a TorchScript file or an InceptionI3d state dict), else from
params.yaml's ``evaluate.i3d``, else from ``$CINEMAGRAPH_MODELS/i3d/i3d_kinetics400.pt``; ``--i3d random``
runs a random-weight detector (pipeline checks only: its FVDs are not comparable to published ones).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stages import values
from stages.files import check_outputs, check_writable_folder

OUTPUT_FILES = ("metrics.parquet", "summary.csv", "metrics.json", "per_video.csv")
"""What the command writes in -o, besides one folder per video."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command."""
    parser = subparsers.add_parser("evaluate", help="FVD and static/loop metrics of generated videos",
                                   description="Compare generated videos (--fake) with real ones (--real).")
    parser.add_argument("--real", required=True, help="folder of real (ground-truth) videos")
    parser.add_argument("--fake", required=True, help="folder of generated videos (paired with --real by id)")
    parser.add_argument("-o", "--out", default="evaluation", help="output folder (default: evaluation)")
    parser.add_argument("--masks", help="folder of moving-region masks <id>_mask.png or <id>.png")
    parser.add_argument("--i3d", help="I3D detector file, or 'random' (see the command's docstring)")
    parser.add_argument("--protocols", help="comma-separated FVD protocols (default fvd16,fvd60; '' for none)")
    parser.add_argument("--margin", type=values.Range(0, 10000, integer=True).option("--margin"), help="pixels around the moving region left out of static metrics")
    parser.add_argument("--lpips", help="TorchScript LPIPS file (default: $CINEMAGRAPH_MODELS/lpips/lpips.pt "
                                        "when present)")
    parser.add_argument("--params", default="params.yaml",
                        help="parameters file for the evaluate and run sections, if present (default params.yaml)")
    parser.set_defaults(handler=run)


def check_inputs(args: argparse.Namespace) -> None:
    """Before Prefect starts: both folders hold videos, the masks folder exists, and -o replaces none of the
    inputs and can be written."""
    from stages.errors import InputError
    from tasks.video_sets import find_videos

    find_videos(args.real), find_videos(args.fake)
    if args.masks is not None and not Path(args.masks).is_dir():
        raise InputError(f"masks folder not found: {args.masks}")
    inputs = {"--real": args.real, "--fake": args.fake, "--masks": args.masks, "--params": args.params,
              "--i3d": args.i3d if args.i3d and Path(args.i3d).exists() else None, "--lpips": args.lpips}
    out = Path(args.out)
    check_outputs({"-o": out, **{f"-o {out}/{name}": out / name for name in OUTPUT_FILES}}, inputs)
    check_writable_folder(out, "-o")


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the FVD lines and where everything was written."""
    import json

    check_inputs(args)
    from flows.evaluate import evaluate_flow, evaluation_settings
    from flows.params import load_params
    from tasks.prefect_env import without_heartbeats

    params = (load_params(args.params, ("run", "evaluate")) if Path(args.params).is_file()
              else {"run": {"executor": "local"}})
    overrides = {"i3d": args.i3d, "margin": args.margin, "lpips": args.lpips,
                 "protocols": None if args.protocols is None else [p for p in args.protocols.split(",") if p]}
    params["evaluate"] = {**(params.get("evaluate") or {}), **{k: v for k, v in overrides.items() if v is not None}}
    settings = evaluation_settings(params)  # bad settings or a missing detector: say so before starting Prefect
    out = Path(args.out)
    with without_heartbeats():
        manifest = evaluate_flow(params, real=args.real, fake=args.fake, out_dir=str(out),
                                 metrics_path=str(out / "metrics.json"), plots_path=str(out / "per_video.csv"),
                                 masks=args.masks)
    metrics = json.loads((out / "metrics.json").read_text())
    for name in settings["protocols"]:
        entry = metrics[name]
        value = "n/a" if entry["value"] is None else f"{entry['value']:.2f}"
        print(f"evaluate: {name} = {value} (N real = {entry['n_real']}, N fake = {entry['n_fake']}, "
              f"detector {metrics['detector']} sha256 {metrics['detector_sha256'][:12]})")
    for row in manifest[manifest.status == "failed"].itertuples():
        print(f"evaluate: {row.id} failed: {row.error}")
    print(f"evaluate: {len(manifest)} videos → {out / 'metrics.parquet'}, {out / 'summary.csv'}")
    return 0
