"""Prefect flows of the ``animate`` and ``animate_learned`` stages: every scene of a folder as a loop."""

from __future__ import annotations

import tasks.prefect_env  # noqa: F401  (Prefect settings before Prefect is imported)

import html
import json
from pathlib import Path

import pandas as pd
from prefect import flow

from stages.options import check_keys
from stages.scenes.eulerian import list_clips
from tasks.animate import ANIMATE, ANIMATE_LEARNED, AnimateOptions, learned_inputs
from tasks.batch import Item
from tasks.gallery import RUNNER, write_gallery_page
from tasks.prefect_task import run_stage


@flow(name="animate", task_runner=RUNNER)
def animate_flow(params: dict, scenes: str, out_dir: str, metrics_path: str, section: str) -> pd.DataFrame:
    """Animate every clip of ``scenes`` per ``params[section]``; writes metrics and an HTML gallery (index.html)."""
    check_keys(params[section], section, AnimateOptions)
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
