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
