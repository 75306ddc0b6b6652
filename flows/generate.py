"""The end of the text DAG: the gallery of every prompt (after the ``video`` stage) and the ``score`` stage.

``data/video/index.html`` shows every prompt's artistic image, realistic twin, clusters, mask, flow and
looping video, and every prompt that failed with the error of the stage where it failed; ``score`` compares
masks and every motion source with the exact truth of the procedural world (tasks.truth).
"""

from __future__ import annotations

import tasks.prefect_env  # noqa: F401  (Prefect settings before Prefect is imported)

import html
import json
from pathlib import Path

import pandas as pd
from prefect import flow

from tasks.batch import stage_record
from stages.motion.sources import flow_options
from tasks.dag import Stage, declared, prompt_stages
from stages.motion.render import VIDEO_STEM, video_options
from tasks.gallery import GALLERY_STYLE, gallery_card
from tasks.prompt_list import prompt_items
from tasks.truth import text_path_metrics


def finish_video(manifest: pd.DataFrame, params: dict, stage: Stage, root: Path) -> None:
    """The gallery ``index.html`` of the ``video`` stage's output folder."""
    out_dir = Path(root, stage.outs["out_dir"])
    prompts = {item.id: item.values["prompt"] for item in prompt_items(params)}
    write_prompt_gallery(manifest, out_dir, video_options(params.get("video")).formats[0], prompts, Path(root))


@flow(name="score")
def score_flow(params: dict, twins: str, masks: str, flows: str, videos: str, metrics_path: str,
               plots_path: str) -> pd.DataFrame:
    """Every prompt's mask and every motion source against the procedural world's truth → ``metrics_path``
    (JSON) and one row per prompt in ``plots_path`` (CSV: id, each source's flow_epe and flow_epe_signfree); a
    one-row manifest."""
    ids = [item.id for item in prompt_items(params)]
    folders = {"twins": Path(twins), "mask": Path(masks), "flow": Path(flows)}
    metrics, rows = text_path_metrics(ids, folders, pd.read_parquet(Path(videos, "manifest.parquet")),
                                      flow_options(params.get("flow")))
    for path, text in ((metrics_path, json.dumps(metrics, indent=2)),
                       (plots_path, pd.DataFrame(rows).to_csv(index=False, float_format="%.4f"))):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
    return stage_record("score", metrics)


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
