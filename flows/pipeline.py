"""Prefect flows of the DVC stages: ``cinemagraph pipeline STAGE`` runs one over its whole batch."""

from __future__ import annotations

import tasks.prefect_env  # noqa: F401  (Prefect settings before Prefect is imported)

import html
import json
from functools import partial
from pathlib import Path

import pandas as pd
from prefect import flow

from flows.evaluate import evaluate_flow
from tasks.gallery import RUNNER, write_gallery_page
from stages.scenes.eulerian import list_clips
from flows.learned import train_flow_stage, train_frame_stage
from tasks.animate import ANIMATE, ANIMATE_LEARNED, learned_inputs
from tasks.batch import Item
from tasks.prefect_task import run_stage
from tasks.synth import SYNTH, synth_items

@flow(name="synth", task_runner=RUNNER)
def synth_flow(params: dict, out_dir: str = "data/synth", section: str = "synth") -> pd.DataFrame:
    """Generate the synthetic scenes of ``params[section]``; also writes ``captions.json`` and ``splits.json``."""
    manifest = run_stage(SYNTH, synth_items(params[section]), params[section], out_dir, params["run"])
    done = manifest[manifest.status != "failed"]
    Path(out_dir, "captions.json").write_text(json.dumps(dict(zip(done.id, done.caption)), indent=1))
    splits = {name: sorted(group.id) for name, group in done.groupby("split")}
    Path(out_dir, "splits.json").write_text(json.dumps(splits, indent=1))
    return manifest


@flow(name="animate", task_runner=RUNNER)
def animate_flow(params: dict, scenes: str = "data/synth", out_dir: str = "data/animate",
                 metrics_path: str = "data/metrics/animate.json", section: str = "animate") -> pd.DataFrame:
    """Animate every clip of ``scenes`` per ``params[section]``; writes metrics and an HTML gallery (index.html)."""
    learned = learned_inputs(params[section])
    items = [Item(clip.id, {"image": clip.image, "mask": clip.mask, "motion": clip.motion, "video": clip.video,
                            **learned}, {"caption": clip.caption} if learned else {})
             for clip in list_clips(scenes) if clip.mask is not None]
    manifest = run_stage(ANIMATE_LEARNED if learned else ANIMATE, items, params[section], out_dir, params["run"])
    write_gallery(manifest, Path(out_dir))
    done = manifest[manifest.status != "failed"]
    metrics = {"items": int(len(manifest)), "failed": int((manifest.status == "failed").sum())}
    for column in ("psnr_moving", "static_max_error", "seam_error"):
        if column in done:
            metrics[column] = round(float(done[column].mean()), 4)
    Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
    Path(metrics_path).write_text(json.dumps(metrics, indent=2))
    return manifest


def write_gallery(manifest: pd.DataFrame, out_dir: Path) -> None:
    """An index.html showing every looping video with its flow picture, and every failure with its error."""
    def card(row) -> str:
        name = html.escape(row.id)
        return (f'<figure><video src="{name}/{name}.mp4" autoplay loop muted playsinline></video>'
                f'<img src="{name}/{name}_flow.png" alt="flow"><figcaption>{name}</figcaption></figure>')

    write_gallery_page(manifest, out_dir, "cinemagraphs", card,
                       "figure{display:inline-block;margin:8px}video,img{height:192px}")


FLOWS = {
    "synth": synth_flow,
    "animate": animate_flow,
    "evaluate": evaluate_flow,
    "synth_train": partial(synth_flow, out_dir="data/synth_train", section="synth_train"),
    "train_flow": train_flow_stage,
    "train_frame": train_frame_stage,
    "animate_learned": partial(animate_flow, out_dir="data/animate_learned",
                               metrics_path="data/metrics/animate_learned.json", section="animate_learned"),
}

from flows.twin_flows import TWIN_FLOWS  # noqa: E402  (rewrite, twins, attention)

FLOWS.update(TWIN_FLOWS)
from flows.masks import MASK_FLOWS  # noqa: E402  (train_segment, mask)

FLOWS.update(MASK_FLOWS)
