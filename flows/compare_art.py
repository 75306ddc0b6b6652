"""The ``compare_art`` stage: the artistic-domain comparison (tasks.compare_art) of the ``compare_art`` section's
prompts by every method — videos per method, a side-by-side gallery, each flow method's error against the
procedural world's truth."""

from __future__ import annotations

import tasks.prefect_env  # noqa: F401  (Prefect settings before Prefect is imported)

import json
from pathlib import Path

import pandas as pd
from prefect import flow

from stages.threads import use_cpu_share
from tasks.batch import stage_record
from tasks.compare_art import compare_art


@flow(name="compare_art")
def compare_art_flow(params: dict, twins: str, masks: str, ablations: str, out_dir: str,
                     metrics_path: str) -> pd.DataFrame:
    """Every method's loops of the ``compare_art`` prompts into ``out_dir``, the metrics (JSON) to
    ``metrics_path`` → a one-row manifest."""
    use_cpu_share()  # one torch thread per operation, a prompt per CPU
    metrics = compare_art(params, Path(twins), Path(masks), Path(ablations), Path(out_dir))
    Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
    Path(metrics_path).write_text(json.dumps(metrics, indent=2))
    return stage_record("compare_art", {name: len(metrics[name]) for name in ("methods", "skipped")})
