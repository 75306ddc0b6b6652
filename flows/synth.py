"""Prefect flows of the ``synth`` and ``synth_train`` stages: seeded procedural scenes with exact truth."""

from __future__ import annotations

import tasks.prefect_env  # noqa: F401  (Prefect settings before Prefect is imported)

import pandas as pd
from prefect import flow

from stages.options import check_keys
from tasks.gallery import RUNNER
from tasks.prefect_task import run_stage
from tasks.synth import SYNTH, SynthOptions, synth_items, write_index


@flow(name="synth", task_runner=RUNNER)
def synth_flow(params: dict, out_dir: str, section: str) -> pd.DataFrame:
    """Generate the synthetic scenes of ``params[section]``; also writes ``captions.json`` and ``splits.json``."""
    check_keys(params[section], section, SynthOptions)
    manifest = run_stage(SYNTH, synth_items(params[section]), params[section], out_dir, params["run"])
    done = manifest[manifest.status != "failed"]
    write_index(out_dir, list(done.id), list(done.caption), list(done.split))
    return manifest
