"""What the batch flows share: their Prefect task runner, and the HTML page that shows a stage's results."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Callable

import tasks.prefect_env  # noqa: F401  (Prefect settings before Prefect is imported)

import pandas as pd
from prefect.task_runners import ThreadPoolTaskRunner

RUNNER = ThreadPoolTaskRunner(max_workers=16)  # threads only wait on the executor (Ray)


def write_gallery_page(manifest: pd.DataFrame, out_dir: Path, title: str, card: Callable[[object], str],
                       style: str) -> None:
    """``out_dir/index.html``: ``card(row)`` (an HTML figure) for every finished item of ``manifest``, and
    every failed one with its error; ``style`` is the page's CSS."""
    cards = []
    for row in manifest.itertuples():
        if row.status == "failed":
            cards.append(f"<figure><figcaption>{html.escape(row.id)}: failed: {html.escape(str(row.error))}"
                         "</figcaption></figure>")
        else:
            cards.append(card(row))
    page = f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title><style>{style}</style>"
    (out_dir / "index.html").write_text(page + "".join(cards))


def gallery_card(item_id: str, folder_of: dict[str, str], video: str, caption: str) -> str:
    """One HTML figure: artistic, realistic, clusters, mask overlay, flow picture and the looping video.

    ``folder_of`` maps each picture's file name to the folder (relative URL) that holds it.
    """
    pictures = [("artistic.png", "artistic"), ("realistic.png", "realistic twin"), ("clusters.png", "clusters of Ā"),
                ("mask_overlay.png", "mask"), ("flow.png", "flow")]
    cells = "".join(f'<figure><img src="{html.escape(folder_of[name])}/{name}" alt="{label}">'
                    f"<figcaption>{label}</figcaption></figure>" for name, label in pictures if name in folder_of)
    return (f'<section><h2>{html.escape(item_id)}</h2><p>{html.escape(caption)}</p>{cells}'
            f'<figure><video src="{html.escape(video)}" autoplay loop muted playsinline></video>'
            "<figcaption>cinemagraph</figcaption></figure></section>")


GALLERY_STYLE = ("body{font-family:sans-serif}section{margin:12px 0}figure{display:inline-block;margin:4px;"
                 "vertical-align:top}img,video{height:160px}h2{font-size:1em;margin:4px}")
