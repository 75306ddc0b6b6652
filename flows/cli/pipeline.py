"""``cinemagraph pipeline STAGE``: run one stage's flow over its batch (what dvc.yaml calls)."""

from __future__ import annotations

import argparse

from flows.params import load_params


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``pipeline`` sub-command."""
    parser = subparsers.add_parser("pipeline", help="run one pipeline stage over its batch (used by dvc.yaml)")
    parser.add_argument("stage", help="stage name, as in dvc.yaml")
    parser.add_argument("--params", default="params.yaml", help="parameters file (default: params.yaml)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the stage; failed items are printed and recorded in the manifest while the rest complete.

    The Prefect server (unless PREFECT_API_URL names one) starts first and comes up while the stage's code is
    imported, and read for its items' keys. Exit 0 unless every item failed (then something systemic is wrong
    and DVC must not record the stage).
    """
    from tasks.prefect_env import without_heartbeats
    from tasks.prefect_server import prefect_api

    with prefect_api() as server:
        from tasks.dag import STAGES, declared
        from flows.pipeline import prepare, run_declared
        from stages.errors import InputError
        from stages.errors import shorten

        stage = declared(args.stage)
        if stage is None:
            raise InputError(f"unknown stage {shorten(args.stage)}; stages: {', '.join(s.name for s in STAGES)}")
        prepare(stage)
        params = load_params(args.params, ("run", *stage.params))
        server.wait()
        with without_heartbeats():
            manifest = run_declared(stage, params)
    failed = manifest[manifest.status == "failed"]
    for row in failed.itertuples():
        print(f"{args.stage}: {row.id} failed: {row.error}")
    counts = manifest.attrs.get("run") or manifest.status.value_counts().to_dict()
    print(f"{args.stage}: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()) if n))
    return 1 if len(failed) and len(failed) == len(manifest) else 0
