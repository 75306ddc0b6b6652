"""Prefect flows of the ``train_segment`` and ``mask`` stages: ``cinemagraph pipeline train_segment|mask``.

``mask`` runs over the prompt list's twins folders (data/twins/<id>/); an item whose region no cluster
matches fails with its message in the manifest, the others go on.
"""

from __future__ import annotations

import tasks.prefect_env  # noqa: F401  (Prefect settings before Prefect is imported)

import html
from pathlib import Path

import pandas as pd
from prefect import flow

from tasks.prompt_list import prompt_items
from tasks.gallery import RUNNER, write_gallery_page
from tasks.masks import MASK, mask_items, train_segment
from tasks.prefect_task import run_stage


@flow(name="train_segment")
def train_segment_flow(params: dict, out_dir: str = "data/models/segmenter",
                       metrics_path: str = "data/metrics/train_segment.json") -> pd.DataFrame:
    """Train the offline segmenter on synthetic scenes; writes the model folder and its held-out metrics."""
    metrics = train_segment(params.get("train_segment") or {}, out_dir, metrics_path)
    return pd.DataFrame([{"id": "segmenter", "status": "ok", "error": None, **metrics}])


@flow(name="mask", task_runner=RUNNER)
def mask_flow(params: dict, twins: str = "data/twins", out_dir: str = "data/mask") -> pd.DataFrame:
    """The region mask of every twins folder: ``<id>/mask.png``, ``mask_overlay.png``, ``mask_regions.png``,
    ``clusters.png``, ``segmentation.png``, ``mask.json``; an index.html of the overlays."""
    section = params.get("mask") or {}
    items = mask_items(twins, [item.id for item in prompt_items(params)], section)
    manifest = run_stage(MASK, items, section, out_dir, params["run"])
    write_gallery_page(manifest, Path(out_dir), "masks", mask_card,
                       "figure{display:inline-block;margin:8px}img{height:192px;margin-right:4px}")
    return manifest


def mask_card(row) -> str:
    """One item of the gallery: the mask over the artistic image, the clusters and the segmentation."""
    name = html.escape(row.id)
    pictures = "".join(f'<img src="{name}/{picture}" alt="{picture}">'
                       for picture in ("mask_overlay.png", "clusters.png", "segmentation.png"))
    return f"<figure>{pictures}<figcaption>{name}: {html.escape(str(row.region))}</figcaption></figure>"


STAGES = {"train_segment": train_segment_flow, "mask": mask_flow}
