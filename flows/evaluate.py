"""The ``evaluate`` flow: FVD16/FVD60 of generated videos against real ones, and per-video metrics.

Every video of both folders is one cached item (``tasks.evaluate``); the flow then computes FVD from the
items' features and writes, in ``out_dir``: ``metrics.parquet`` (one row per video), ``summary.csv`` (FVD
with N and the detector's checksum, and the mean of each per-video metric per set), plus the DVC metrics
file (JSON) and a per-video plot table (CSV) at the paths given.

Moving regions, per generated video: its own ``<id>_mask.png``, else one in ``masks`` (``<id>_mask.png``
or ``<id>.png``), else the real clip's mask, else estimated from the real clip, else from the video
itself; ``mask_source`` in metrics.parquet says which. The reference image likewise: its own
``<id>_input.png``, else the real clip's, else the video's first frame.
"""

from __future__ import annotations

import tasks.prefect_env  # noqa: F401  (Prefect settings before Prefect is imported)

import json
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import flow

from tasks.gallery import RUNNER
from stages.errors import InputError
from stages.evaluation.fvd import get_protocol, score
from stages.evaluation.i3d import detector_file, load_detector
from stages.evaluation.video_metrics import default_lpips_path
from stages.options import check_keys
from tasks.batch import Item
from tasks.evaluate import EVALUATE, EvaluateOptions
from tasks.prefect_task import run_stage
from tasks.video_sets import VideoEntry, find_videos

PER_VIDEO = ["static_rmse", "static_ms_ssim", "static_lpips", "static_flicker", "static_drift", "seam_ratio",
             "motion_energy"]


def _mask_in(folder: Path | None, video_id: str) -> Path | None:
    """``<id>_mask.png`` or ``<id>.png`` in ``folder``."""
    if folder is None:
        return None
    return next((p for p in (folder / f"{video_id}_mask.png", folder / f"{video_id}.png") if p.is_file()), None)


def item_for(set_name: str, entry: VideoEntry, real: VideoEntry | None, masks: Path | None,
             models: dict[str, Path]) -> Item:
    """The evaluation item of one video, with the mask and reference image found for it."""
    inputs: dict[str, Path] = {"video": entry.video, **models}
    mask_choices = [(entry.mask, "mask file beside the video"), (_mask_in(masks, entry.id), "masks folder")]
    if real is not None and real is not entry:
        mask_choices.append((real.mask, "real clip's mask file"))
    mask, mask_source = next(((path, text) for path, text in mask_choices if path is not None), (None, None))
    if mask is not None:
        inputs["mask"] = mask
    elif real is not None and real is not entry:
        inputs["mask_video"], mask_source = real.video, "estimated from the real clip"
    else:
        mask_source = "estimated from the video itself"
    image = entry.image or (real.image if real is not None else None)
    if image is not None:
        inputs["image"] = image
    reference = "input image" if image is not None else "first frame"
    return Item(f"{set_name}_{entry.id}", inputs, {"set": set_name, "video_id": entry.id,
                                                    "mask_source": mask_source, "reference_source": reference})


def model_files(params: dict) -> dict[str, Path]:
    """The model files the items read (their digests key the cache): the I3D file and a local LPIPS."""
    files = {}
    detector = detector_file(params["i3d"])
    if params["protocols"] and detector is not None:
        files["detector"] = detector
    lpips = Path(params["lpips"]).expanduser() if params["lpips"] else default_lpips_path()
    if params["lpips"] or lpips.is_file():
        files["lpips"] = lpips
    return files


def fvd_scores(manifest: pd.DataFrame, out_dir: Path, protocols: list[str], detector_sha256: str) -> list[dict]:
    """FVD per protocol from the items' features.npz; a protocol with < 2 videos in a set gets value None."""
    done = manifest[manifest.status != "failed"]
    rows = []
    for name in protocols:
        sets = {"real": [], "fake": []}
        for row in done.itertuples():
            with np.load(out_dir / row.id / "features.npz") as features:
                if name in features:
                    sets[row.set].append(features[name])
        entry = {"metric": name, "value": None, "n_real": len(sets["real"]), "n_fake": len(sets["fake"]),
                 "detector_sha256": detector_sha256}
        if min(entry["n_real"], entry["n_fake"]) >= 2:
            entry["value"] = score(np.stack(sets["real"]), np.stack(sets["fake"]), name, detector_sha256).value
        else:
            entry["note"] = (f"needs at least 2 videos of >= {get_protocol(name).frames_needed} frames per set")
        rows.append(entry)
    return rows


def _clean(value):
    """JSON-able number: NaN → None, numpy → float."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def write_outputs(manifest: pd.DataFrame, fvd: list[dict], detector: str, out_dir: Path, metrics_path: Path,
                  plots_path: Path) -> dict:
    """metrics.parquet, summary.csv, the DVC metrics JSON and plot CSV → the metrics dict."""
    table = manifest.rename(columns={"id": "item"}).copy()
    table.attrs = {}  # this run's counts (computed or found in the store) are no result: keep them out of the file
    for column in ("set", "video_id", *PER_VIDEO):
        if column not in table:
            table[column] = np.nan
    table.to_parquet(out_dir / "metrics.parquet", index=False)
    done = table[table.status != "failed"]
    summary = [{**row, "detector": detector} for row in fvd]
    means = {}
    for set_name in ("real", "fake"):
        videos = done[done.set == set_name]
        means[set_name] = {name: _clean(videos[name].astype(float).mean()) if len(videos) else None
                           for name in PER_VIDEO}
        summary += [{"metric": f"{set_name}.{name}", "value": value, "videos": len(videos)}
                    for name, value in means[set_name].items()]
    counts = {"n_real": "Int64", "n_fake": "Int64", "videos": "Int64"}
    pd.DataFrame(summary, columns=["metric", "value", *counts, "detector", "detector_sha256", "note"]).astype(
        counts).to_csv(out_dir / "summary.csv", index=False)
    metrics = {row["metric"]: {"value": _clean(row["value"]), "n_real": row["n_real"], "n_fake": row["n_fake"]}
               for row in fvd}
    metrics.update({"detector": detector, "detector_sha256": fvd[0]["detector_sha256"] if fvd else None,
                    "videos": {"real": int((done.set == "real").sum()), "fake": int((done.set == "fake").sum()),
                               "failed": int((table.status == "failed").sum())}, **means})
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(metrics, indent=2))
    plots_path.parent.mkdir(parents=True, exist_ok=True)
    done[done.set == "fake"][["video_id", *PER_VIDEO]].to_csv(plots_path, index=False)
    return metrics


def evaluation_settings(params: dict) -> dict:
    """The ``evaluate`` section over the defaults, checked: known protocols, a detector that loads."""
    check_keys(params.get("evaluate"), "evaluate", EvaluateOptions)
    defaults = {**asdict(EvaluateOptions()), "protocols": list(EvaluateOptions.protocols)}
    settings = {**defaults, **(params.get("evaluate") or {})}
    for name in settings["protocols"]:
        get_protocol(name)
    if settings["protocols"]:
        load_detector(settings["i3d"])  # a missing file says where to put one
    return settings


@flow(name="evaluate", task_runner=RUNNER)
def evaluate_flow(params: dict, real: str, fake: str, out_dir: str, metrics_path: str, plots_path: str,
                  masks: str | None = None) -> pd.DataFrame:
    """Evaluate the videos of ``fake`` against those of ``real`` → the manifest (one row per video)."""
    settings = evaluation_settings(params)
    detector = load_detector(settings["i3d"]) if settings["protocols"] else None
    real_videos, fake_videos = find_videos(real), find_videos(fake)
    models = model_files(settings)
    masks_dir = Path(masks) if masks else None
    if masks_dir is not None and not masks_dir.is_dir():
        raise InputError(f"masks folder not found: {masks_dir}")
    items = [item_for("real", entry, entry, None, models) for entry in real_videos.values()]
    items += [item_for("fake", entry, real_videos.get(entry.id), masks_dir, models) for entry in fake_videos.values()]
    out = Path(out_dir)
    manifest = run_stage(EVALUATE, items, settings, out, params.get("run", {"executor": "local"}))
    label, sha = (Path(detector.source).name, detector.sha256) if detector else ("none", "")
    fvd = fvd_scores(manifest, out, settings["protocols"], sha)
    write_outputs(manifest, fvd, label, out, Path(metrics_path), Path(plots_path))
    return manifest
