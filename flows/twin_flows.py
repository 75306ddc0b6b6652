"""The gallery of the ``attention`` stage: every pair of twins, its Ā and both prompts, and a contact sheet."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from tasks.dag import Stage
from stages.images import load_rgb, save_png
from tasks.gallery import write_gallery_page


def twin_gallery(manifest: pd.DataFrame, params: dict, stage: Stage, root: Path) -> None:
    """The ``attention`` stage's index.html (:func:`write_twin_gallery`) over the twins its items read."""
    twins = Path(root, stage.inputs["meta"].split("/{id}")[0])
    write_twin_gallery(manifest, twins, Path(root, stage.outs["out_dir"]))


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
