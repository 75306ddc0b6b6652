"""Prefect flows of the ``flow`` and ``video`` stages over the prompt list, and the gallery of every prompt.

``flow`` reads ``data/twins/<id>`` and ``data/mask/<id>``; ``video`` reads those and ``data/flow/<id>`` and
ends the DAG with ``data/video/index.html``: every prompt's artistic image, realistic twin, clusters, mask,
flow and looping video, and every prompt that failed with the error of the stage where it failed.
"""

from __future__ import annotations

import tasks.prefect_env  # noqa: F401  (Prefect settings before Prefect is imported)

import html
import json
from pathlib import Path

import pandas as pd
from prefect import flow

from tasks.batch import Item
from tasks.checkpoints import checkpoint_inputs
from stages.motion.render import VIDEO_STEM
from stages.settings import flow_options, video_options
from tasks.gallery import GALLERY_STYLE, RUNNER, gallery_card
from tasks.generate import FLOW, VIDEO
from tasks.prefect_task import run_stage
from tasks.prompt_list import prompt_items
from tasks.truth import text_path_metrics

UPSTREAM = ("rewrite", "twins", "mask", "flow", "video")
"""The stages a prompt passes through, in order (data/<stage>/manifest.parquet)."""


@flow(name="flow", task_runner=RUNNER)
def flow_flow(params: dict, twins: str = "data/twins", masks: str = "data/mask",
              out_dir: str = "data/flow") -> pd.DataFrame:
    """The flow of every prompt's mask: ``<id>/flow.npy``, ``flow.png``, ``motion.json``."""
    options = flow_options(params.get("flow"))
    models = checkpoint_inputs("flow_model", options.flow_model)
    items = [Item(item.id, {"twins_meta": Path(twins, item.id, "meta.json"),
                            "realistic": Path(twins, item.id, "realistic.png"),
                            "mask_record": Path(masks, item.id, "mask.json"),
                            "mask_regions": Path(masks, item.id, "mask_regions.png"), **models})
             for item in prompt_items(params)]
    return run_stage(FLOW, items, params.get("flow") or {}, out_dir, params["run"])


@flow(name="video", task_runner=RUNNER)
def video_flow(params: dict, twins: str = "data/twins", masks: str = "data/mask", flows: str = "data/flow",
               out_dir: str = "data/video", metrics_path: str = "data/metrics/generate.json") -> pd.DataFrame:
    """The cinemagraph of every prompt (``<id>/cinemagraph.<format>``), the gallery ``index.html`` and the
    metrics: on the procedural world, the masks and motions against the exact truth (tasks.generate)."""
    options = video_options(params.get("video"))
    models = checkpoint_inputs("frame_model", options.frame_model)
    items = [Item(item.id, {"artistic": Path(twins, item.id, "artistic.png"), "mask": Path(masks, item.id, "mask.png"),
                            "flow": Path(flows, item.id, "flow.npy"), "motion": Path(flows, item.id, "motion.json"),
                            **models})
             for item in prompt_items(params)]
    manifest = run_stage(VIDEO, items, params.get("video") or {}, out_dir, params["run"])
    prompts = {item.id: item.values["prompt"] for item in prompt_items(params)}
    write_prompt_gallery(manifest, Path(out_dir), options.formats[0], prompts)
    metrics = text_path_metrics(list(prompts), Path(out_dir).parent, manifest)
    Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
    Path(metrics_path).write_text(json.dumps(metrics, indent=2))
    return manifest


def first_failure(item_id: str, data: Path) -> tuple[str, str] | None:
    """(stage, error) of the first stage where ``item_id`` failed, from the manifests under ``data``."""
    for stage in UPSTREAM:
        path = data / stage / "manifest.parquet"
        if path.is_file():
            manifest = pd.read_parquet(path).set_index("id")
            if item_id in manifest.index and manifest.loc[item_id, "status"] == "failed":
                return stage, str(manifest.loc[item_id, "error"])
    return None


def write_prompt_gallery(manifest: pd.DataFrame, out_dir: Path, video_format: str, prompts: dict[str, str]) -> None:
    """``out_dir/index.html``: one section per prompt (pictures of every stage and the loop) or its error."""
    data = out_dir.parent
    sections = []
    for row in manifest.itertuples():
        if row.status == "failed":
            stage, error = first_failure(row.id, data) or ("video", str(row.error))
            sections.append(f"<section><h2>{html.escape(row.id)}</h2><p>{html.escape(prompts.get(row.id, ''))}</p>"
                            f"<p class=failed>failed in {stage}: {html.escape(error)}</p></section>")
            continue
        folder_of = {"artistic.png": f"../twins/{row.id}", "realistic.png": f"../twins/{row.id}",
                     "clusters.png": f"../mask/{row.id}", "mask_overlay.png": f"../mask/{row.id}",
                     "flow.png": f"../flow/{row.id}"}
        sections.append(gallery_card(row.id, folder_of, f"{row.id}/{VIDEO_STEM}.{video_format}",
                                     prompts.get(row.id, "")))
    page = (f"<!doctype html><meta charset=utf-8><title>cinemagraphs from text</title>"
            f"<style>{GALLERY_STYLE}.failed{{color:#b00}}</style><h1>cinemagraphs from text</h1>")
    (out_dir / "index.html").write_text(page + "".join(sections))


STAGES = {"flow": flow_flow, "video": video_flow}
