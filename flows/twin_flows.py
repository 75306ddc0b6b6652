"""Prefect flows of the ``twins`` and ``attention`` stages over the prompt list.

``cinemagraph pipeline twins|attention`` runs one of them (what dvc.yaml calls); the prompt list
is params.yaml ``rewrite.prompts``. Items whose prompt cannot be used fail with their message in the
manifest; the others go on.
"""

from __future__ import annotations

import tasks.prefect_env  # noqa: F401  (Prefect settings before Prefect is imported)

import html
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from prefect import flow

from stages.images import load_rgb, save_png

from tasks.gallery import RUNNER, write_gallery_page
from tasks.batch import Item
from tasks.prefect_task import run_stage
from tasks.prompt_list import prompt_items
from tasks.twins import ATTENTION, TWINS

@flow(name="twins", task_runner=RUNNER)
def twins_flow(params: dict, rewrites: str = "data/rewrite", out_dir: str = "data/twins") -> pd.DataFrame:
    """Generate the twins and Ā of every rewritten prompt: ``<id>/{artistic,realistic}.png``, ``attention.npy``,
    ``meta.json``."""
    items = [Item(item.id, inputs={"rewrite": Path(rewrites, item.id, "rewrite.json")},
                  values={"seed": item.values["seed"]})
             for item in prompt_items(params)]
    section = {name: params.get(name) or {} for name in ("models", "twins", "attention")}
    return run_stage(TWINS, items, section, out_dir, params["run"])


@flow(name="attention", task_runner=RUNNER)
def attention_flow(params: dict, twins: str = "data/twins", out_dir: str = "data/attention") -> pd.DataFrame:
    """Picture and check every Ā: ``<id>/attention.png``, ``attention.json``; an index.html of all twins with
    ``contact_sheet.png`` (every pair at a glance)."""
    items = [Item(item.id, inputs={"attention": Path(twins, item.id, "attention.npy"),
                                   "meta": Path(twins, item.id, "meta.json")})
             for item in prompt_items(params)]
    manifest = run_stage(ATTENTION, items, {}, out_dir, params["run"])
    write_twin_gallery(manifest, Path(twins), Path(out_dir))
    return manifest


def write_twin_gallery(manifest: pd.DataFrame, twins: Path, out_dir: Path) -> None:
    """``out_dir/index.html``: the contact sheet of all pairs, then per item the artistic image, its twin,
    Ā's picture and both prompts."""
    to_twins = Path(os.path.relpath(twins.resolve(), out_dir.resolve()))
    finished = [row.id for row in manifest.itertuples() if row.status != "failed"]
    sheet = ""
    if finished:
        save_png(out_dir / "contact_sheet.png", contact_sheet(twins, finished))
        sheet = '<p><img class="sheet" src="contact_sheet.png" alt="all pairs: artistic, realistic"></p>'

    def card(row) -> str:
        name = html.escape(row.id)
        meta = json.loads((twins / row.id / "meta.json").read_text())
        pictures = "".join(f'<img src="{html.escape(str(to_twins / row.id / f))}" alt="{f}">'
                           for f in ("artistic.png", "realistic.png"))
        style = meta.get("procedural", {}).get("style", {})
        look = f"<br>look: {html.escape(style['look'])} {html.escape(style['palette'] or '')}" if style else ""
        return (f'<figure>{pictures}<img src="{name}/attention.png" alt="attention">'
                f"<figcaption>{name}: {html.escape(meta['prompt'])}<br>twin: "
                f"{html.escape(meta['twin_prompt'])}<br>region: {html.escape(meta['region'])}{look}"
                "</figcaption></figure>")

    write_gallery_page(manifest, out_dir, "twins", card,
                       "figure{display:inline-block;margin:8px;max-width:640px}img{height:192px;margin-right:4px}"
                       "img.sheet{height:auto;max-width:100%}")
    page = out_dir / "index.html"
    page.write_text(page.read_text().replace("</style>", "</style>" + sheet, 1))


def contact_sheet(twins: Path, ids: list[str], tile: int = 160, columns: int = 3) -> np.ndarray:
    """All pairs on one picture, uint8: per item its artistic image and realistic twin side by side, each
    ``tile`` pixels high, under the item's id; ``columns`` pairs per row."""
    pairs = []
    for item_id in ids:
        images = [load_rgb(twins / item_id / name) for name in ("artistic.png", "realistic.png")]
        images = [cv2.resize(image, (round(image.shape[1] * tile / image.shape[0]), tile),
                             interpolation=cv2.INTER_AREA) for image in images]
        label = np.full((18, sum(image.shape[1] for image in images), 3), 255, np.uint8)
        cv2.putText(label, item_id, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        pairs.append(np.pad(np.concatenate([label, np.concatenate(images, axis=1)]), ((0, 6), (0, 6), (0, 0)),
                            constant_values=255))
    height, width = max(p.shape[0] for p in pairs), max(p.shape[1] for p in pairs)
    pairs = [np.pad(p, ((0, height - p.shape[0]), (0, width - p.shape[1]), (0, 0)), constant_values=255)
             for p in pairs]
    pairs += [np.full_like(pairs[0], 255)] * (-len(pairs) % columns)
    return np.concatenate([np.concatenate(pairs[i:i + columns], axis=1) for i in range(0, len(pairs), columns)])


STAGES = {"twins": twins_flow, "attention": attention_flow}
