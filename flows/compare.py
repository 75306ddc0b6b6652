"""The ``compare`` flow: the real-domain comparison (the paper's Table 1) of G_flow and its ablations.

Every held-out clip is one cached item (``tasks.compare``); the flow then averages each method's scores over
the clips and computes its FVD16 and FVD60 against the true videos of the same clips (N recorded, and the
detector: the offline random I3D's scores mean nothing next to published FVDs). It writes the DVC metrics
file (JSON: per method ``epe``, ``psnr``, ``psnr_moving``, ``static_rmse``, ``fvd16``, ``fvd60``) and the same
table as a CSV, one row per method, for ``dvc plots``.
"""

from __future__ import annotations

import tasks.prefect_env  # noqa: F401  (Prefect settings before Prefect is imported)

import json
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import flow

from stages.errors import InputError
from stages.evaluation.fvd import PROTOCOLS, score
from stages.evaluation.i3d import RANDOM, detector_file, load_detector
from stages.options import options_from
from stages.scenes.eulerian import list_clips
from tasks.compare import COMPARE, TRUTH, CompareOptions, clip_item, method_files
from tasks.gallery import RUNNER
from tasks.masks import segmenter_inputs
from tasks.prefect_task import run_stage

SCORES = ("epe", "psnr", "psnr_moving", "static_rmse")
"""The per-clip scores averaged per method (``stages.evaluation.real_domain.clip_scores``)."""
PIPELINE_SECTIONS = ("rewrite", "models", "twins", "attention", "inversion", "mask", "flow", "video")
"""The params sections of the pipeline the methods run (each method swaps G_flow's checkpoint alone)."""


def method_table(manifest: pd.DataFrame, out_dir: Path, methods: tuple[str, ...], detector_sha256: str
                 ) -> pd.DataFrame:
    """One row per method: its mean scores over the clips done, and its FVD per protocol against the true
    videos of the same clips (None with fewer than 2)."""
    done = manifest[manifest.status != "failed"]
    features = [np.load(out_dir / item / "features.npz") for item in done.id]
    rows = []
    for method in methods:
        row = {"method": method, **{name: float(done[f"{method}.{name}"].mean()) for name in SCORES}}
        for protocol in PROTOCOLS:
            real = np.stack([f[f"{TRUTH}.{protocol}"] for f in features]) if features else np.zeros((0, 400))
            fake = np.stack([f[f"{method}.{protocol}"] for f in features]) if features else np.zeros((0, 400))
            row[protocol] = score(real, fake, protocol, detector_sha256).value if len(features) >= 2 else None
        rows.append(row)
    return pd.DataFrame(rows)


def write_metrics(table: pd.DataFrame, manifest: pd.DataFrame, options: CompareOptions, detector: str,
                  detector_sha256: str, metrics_path: Path, plots_path: Path) -> dict:
    """The DVC metrics file (see the module docstring) and the per-method CSV → the metrics."""
    done = manifest[manifest.status != "failed"]
    metrics = {"clips": int(len(done)), "failed": int(len(manifest) - len(done)), "split": options.split,
               "frames": options.frames, "fvd_n": int(len(done)), "detector": detector,
               "detector_sha256": detector_sha256,
               "detector_note": ("random I3D: offline checks only, not comparable to published FVDs"
                                 if detector == RANDOM else "I3D file"),
               "epe_zero": round(float(done["zero.epe"].mean()), 4),
               "methods": {row["method"]: {k: None if v is None or np.isnan(v) else round(float(v), 4)
                                           for k, v in row.items() if k != "method"} for row in table.to_dict("records")}}
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(metrics, indent=2))
    plots_path.parent.mkdir(parents=True, exist_ok=True)
    table.round(4).to_csv(plots_path, index=False)
    return metrics


@flow(name="compare", task_runner=RUNNER)
def compare_flow(params: dict, clips: str, models: str, out_dir: str, metrics_path: str,
                 plots_path: str) -> pd.DataFrame:
    """Compare the G_flows of ``models/<method>`` on the held-out clips of ``clips`` → the manifest (one row
    per clip)."""
    options = options_from(CompareOptions, params.get("compare"), "compare")
    detector = load_detector(options.i3d)
    held_out = list_clips(clips, options.split)[: options.clips]
    if not held_out or any(clip.mask is None or clip.caption is None for clip in held_out):
        raise InputError(f"{clips} needs clips of split {options.split!r} with a mask and a caption: the synthetic "
                         "sets (`dvc repro synth_train`) have them")
    files = {**method_files(models, options.methods), **segmenter_inputs(params.get("mask"))}
    detector_path = detector_file(options.i3d)
    if detector_path is not None:
        files["detector"] = detector_path
    step_params = {**{name: params.get(name) or {} for name in PIPELINE_SECTIONS}, "compare": params.get("compare") or {}}
    manifest = run_stage(COMPARE, [clip_item(clip, files) for clip in held_out], step_params, out_dir,
                         params.get("run", {"executor": "local"}))
    label = RANDOM if detector_path is None else detector_path.name
    table = method_table(manifest, Path(out_dir), options.methods, detector.sha256)
    write_metrics(table, manifest, options, label, detector.sha256, Path(metrics_path), Path(plots_path))
    return manifest
