"""The end of the text DAG (after the ``video`` stage): the gallery of every prompt and the metrics.

``data/video/index.html`` shows every prompt's artistic image, realistic twin, clusters, mask, flow and
looping video, and every prompt that failed with the error of the stage where it failed; the metrics file
compares masks and motions with the exact truth of the procedural world (tasks.truth).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from tasks.dag import Stage, declared, prompt_stages
from stages.motion.render import VIDEO_STEM, video_options
from tasks.gallery import GALLERY_STYLE, gallery_card
from tasks.prompt_list import prompt_items
from tasks.truth import text_path_metrics


def finish_video(manifest: pd.DataFrame, params: dict, stage: Stage, root: Path) -> None:
    """The gallery ``index.html`` of the ``video`` stage's output folder and its metrics file."""
    out_dir = Path(root, stage.outs["out_dir"])
    prompts = {item.id: item.values["prompt"] for item in prompt_items(params)}
    write_prompt_gallery(manifest, out_dir, video_options(params.get("video")).formats[0], prompts, Path(root))
    metrics = text_path_metrics(list(prompts), folders(Path(root)), manifest)
    metrics_path = Path(root, stage.metrics["metrics_path"])
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(metrics, indent=2))


def folders(root: Path) -> dict[str, Path]:
    """Each prompt stage's output folder under ``root``."""
    from flows.pipeline import output_folder

    return {name: output_folder(declared(name), root) for name in prompt_stages()}


def first_failure(item_id: str, root: Path) -> tuple[str, str] | None:
    """(stage, error) of the first stage where ``item_id`` failed, from the prompt stages' manifests."""
    for stage, folder in folders(root).items():
        path = folder / "manifest.parquet"
        if path.is_file():
            manifest = pd.read_parquet(path).set_index("id")
            if item_id in manifest.index and manifest.loc[item_id, "status"] == "failed":
                return stage, str(manifest.loc[item_id, "error"])
    return None


def write_prompt_gallery(manifest: pd.DataFrame, out_dir: Path, video_format: str, prompts: dict[str, str],
                         root: Path) -> None:
    """``out_dir/index.html``: one section per prompt (pictures of every stage and the loop) or its error."""
    sections = []
    for row in manifest.itertuples():
        if row.status == "failed":
            stage, error = first_failure(row.id, root) or ("video", str(row.error))
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
