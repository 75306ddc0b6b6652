"""``RUN/report.html``: counts, what each start found, every failure with its stage and reason, seconds per
step (p50, p95), a contact sheet of the finished items' artistic images and the gallery of loops."""

from __future__ import annotations

import html
import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from stages.images import load_rgb, save_png
from tasks.bulk.manifest import ItemSpec
from tasks.bulk.steps import STAGES

SHEET_TILES, GALLERY_ITEMS, TILE = 100, 200, 96
"""The contact sheet shows the first 100 finished items, the gallery the first 200 (the rest: results.parquet)."""


def stage_seconds(table: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Step → (p50, p95) of its compute seconds over the finished items."""
    columns = [f"seconds_{stage}" for stage in STAGES if f"seconds_{stage}" in table]
    return {column.removeprefix("seconds_"): (float(table[column].quantile(0.5)), float(table[column].quantile(0.95)))
            for column in columns if table[column].notna().any()}


def contact_sheet(run_dir: Path, ids: list[str], columns: int = 10) -> np.ndarray:
    """The artistic images of ``ids`` as ``TILE``-pixel squares, ``columns`` per row, uint8 (H, W, 3)."""
    tiles = [cv2.resize(load_rgb(run_dir / "items" / item_id / "artistic.png"), (TILE, TILE),
                        interpolation=cv2.INTER_AREA) for item_id in ids]
    tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows)


def write_report(run_dir: Path, specs: list[ItemSpec], table: pd.DataFrame) -> Path:
    """Write ``run_dir/report.html`` (and contact_sheet.png) for the results ``table`` → the page's path."""
    ok = table[table.status == "ok"] if len(table) else table
    failed = table[table.status == "failed"] if len(table) else table
    prompts = {spec.id: spec.prompt for spec in specs}
    parts = [f"<h1>bulk run</h1><p>{len(specs)} items: {len(ok)} done, {len(failed)} failed, "
             f"{len(specs) - len(ok) - len(failed)} not run yet</p>"]
    starts = run_dir / "starts.jsonl"
    if starts.is_file():
        parts.append("<h2>starts</h2><table><tr><th>time</th><th>to do</th><th>found</th></tr>")
        for line in starts.read_text().splitlines():
            start = json.loads(line)
            found = {key: value for key, value in start.items() if key not in ("time", "todo", "items") and value}
            parts.append(f"<tr><td>{start['time']}</td><td>{start['todo']}</td>"
                         f"<td>{html.escape(json.dumps(found))}</td></tr>")
        parts.append("</table>")
    seconds = stage_seconds(ok) if len(ok) else {}
    if seconds:
        parts.append("<h2>seconds per step</h2><table><tr><th>step</th><th>p50</th><th>p95</th></tr>"
                     + "".join(f"<tr><td>{s}</td><td>{p50:.3f}</td><td>{p95:.3f}</td></tr>"
                               for s, (p50, p95) in seconds.items()) + "</table>")
    if len(failed):
        parts.append("<h2>failures</h2><table><tr><th>id</th><th>step</th><th>reason</th></tr>"
                     + "".join(f"<tr><td>{html.escape(r.id)}</td><td>{html.escape(str(r.stage))}</td>"
                               f"<td>{html.escape(str(r.error))}</td></tr>" for r in failed.itertuples())
                     + "</table>")
    if len(ok):
        save_png(run_dir / "contact_sheet.png", contact_sheet(run_dir, list(ok.id[:SHEET_TILES])))
        parts.append('<h2>contact sheet</h2><img src="contact_sheet.png" alt="artistic images">')
        cards = "".join(f'<figure><video src="items/{html.escape(r.id)}/{html.escape(str(r.video))}" autoplay loop '
                        f'muted playsinline></video><figcaption>{html.escape(r.id)}: '
                        f"{html.escape(prompts.get(r.id, ''))}</figcaption></figure>"
                        for r in ok.head(GALLERY_ITEMS).itertuples())
        parts.append(f"<h2>gallery</h2>{cards}")
    style = ("body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}figure{display:inline-block;"
             "margin:4px;max-width:200px;vertical-align:top}video{height:160px}")
    page = run_dir / "report.html"
    partial = run_dir / ".report.html.partial"
    partial.write_text(f"<!doctype html><meta charset=utf-8><title>bulk run</title><style>{style}</style>"
                       + "".join(parts))
    partial.replace(page)
    return page
