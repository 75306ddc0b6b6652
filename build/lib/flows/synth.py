"""Prefect flows of the ``synth`` and ``synth_train`` stages: seeded procedural scenes with exact truth."""

from __future__ import annotations

import tasks.prefect_env  # noqa: F401  (Prefect settings before Prefect is imported)

import json
from pathlib import Path

import pandas as pd
from prefect import flow

from stages.options import check_keys
from tasks.gallery import RUNNER
from tasks.prefect_task import run_stage
from tasks.synth import SYNTH, SynthOptions, synth_items


@flow(name="synth", task_runner=RUNNER)
def synth_flow(params: dict, out_dir: str, section: str) -> pd.DataFrame:
    """Generate the synthetic scenes of ``params[section]``; also writes ``captions.json`` and ``splits.json``."""
    check_keys(params[section], section, SynthOptions)
    manifest = run_stage(SYNTH, synth_items(params[section]), params[section], out_dir, params["run"])
    done = manifest[manifest.status != "failed"]
    Path(out_dir, "captions.json").write_text(json.dumps(dict(zip(done.id, done.caption)), indent=1))
    splits = {name: sorted(group.id) for name, group in done.groupby("split")}
    Path(out_dir, "splits.json").write_text(json.dumps(splits, indent=1))
    return manifest
