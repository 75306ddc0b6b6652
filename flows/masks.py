"""The ``train_segment`` flow, and the gallery of the ``mask`` stage (an item whose region no cluster matches
fails with its message in the manifest, the others go on)."""

from __future__ import annotations

import tasks.prefect_env  # noqa: F401  (Prefect settings before Prefect is imported)

import html
from pathlib import Path

import pandas as pd
from prefect import flow

from tasks.dag import Stage
from tasks.gallery import write_gallery_page
from tasks.masks import train_segment


@flow(name="train_segment")
def train_segment_flow(params: dict, out_dir: str, metrics_path: str) -> pd.DataFrame:
    """Train the offline segmenter on synthetic scenes; writes the model folder and its held-out metrics."""
    metrics = train_segment(params.get("train_segment") or {}, out_dir, metrics_path)
    return pd.DataFrame([{"id": "segmenter", "status": "ok", "error": None, **metrics}])


def write_mask_gallery(manifest: pd.DataFrame, params: dict, stage: Stage, root: Path) -> None:
    """The ``mask`` stage's index.html: every mask over its artistic image, the clusters and the segmentation."""
    write_gallery_page(manifest, Path(root, stage.outs["out_dir"]), "masks", mask_card,
                       "figure{display:inline-block;margin:8px}img{height:192px;margin-right:4px}")


def mask_card(row) -> str:
    """One item of the gallery: the mask over the artistic image, the clusters and the segmentation."""
    name = html.escape(row.id)
    pictures = "".join(f'<img src="{name}/{picture}" alt="{picture}">'
                       for picture in ("mask_overlay.png", "clusters.png", "segmentation.png"))
    return f"<figure>{pictures}<figcaption>{name}: {html.escape(str(row.region))}</figcaption></figure>"
