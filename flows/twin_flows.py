"""Prefect flows of the ``rewrite``, ``twins`` and ``attention`` stages over the prompt list.

``cinemagraph pipeline rewrite|twins|attention`` runs one of them (what dvc.yaml calls); the prompt list
is params.yaml ``rewrite.prompts``. Items whose prompt cannot be used fail with their message in the
manifest; the others go on.
"""

from __future__ import annotations

import tasks.prefect_env  # noqa: F401  (Prefect settings before Prefect is imported)

import html
import json
import os
from pathlib import Path

import pandas as pd
from prefect import flow

from tasks.gallery import RUNNER, write_gallery_page
from tasks.batch import Item
from tasks.prefect_task import run_stage
from tasks.twins import ATTENTION, REWRITE, TWINS, read_prompt_list

def prompt_items(params: dict) -> list[Item]:
    """The items of the prompt list named by ``rewrite.prompts``, seeds from ``twins.seed`` on."""
    return read_prompt_list(params["rewrite"]["prompts"], int(params["twins"].get("seed", 0)))


@flow(name="rewrite", task_runner=RUNNER)
def rewrite_flow(params: dict, out_dir: str = "data/rewrite") -> pd.DataFrame:
    """Rewrite every prompt: ``<id>/rewrite.json``."""
    items = [Item(item.id, values={k: v for k, v in item.values.items() if k != "seed"})
             for item in prompt_items(params)]
    section = {key: value for key, value in params["rewrite"].items() if key != "prompts"}
    return run_stage(REWRITE, items, section, out_dir, params["run"])


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
    """Picture and check every Ā: ``<id>/attention.png``, ``attention.json``; an index.html of all twins."""
    items = [Item(item.id, inputs={"attention": Path(twins, item.id, "attention.npy"),
                                   "meta": Path(twins, item.id, "meta.json")})
             for item in prompt_items(params)]
    manifest = run_stage(ATTENTION, items, {}, out_dir, params["run"])
    write_twin_gallery(manifest, Path(twins), Path(out_dir))
    return manifest


def write_twin_gallery(manifest: pd.DataFrame, twins: Path, out_dir: Path) -> None:
    """``out_dir/index.html``: per item the artistic image, its twin, Ā's picture and both prompts."""
    to_twins = Path(os.path.relpath(twins.resolve(), out_dir.resolve()))

    def card(row) -> str:
        name = html.escape(row.id)
        meta = json.loads((twins / row.id / "meta.json").read_text())
        pictures = "".join(f'<img src="{html.escape(str(to_twins / row.id / f))}" alt="{f}">'
                           for f in ("artistic.png", "realistic.png"))
        return (f'<figure>{pictures}<img src="{name}/attention.png" alt="attention">'
                f"<figcaption>{name}: {html.escape(meta['prompt'])}<br>twin: "
                f"{html.escape(meta['twin_prompt'])}<br>region: {html.escape(meta['region'])}</figcaption></figure>")

    write_gallery_page(manifest, out_dir, "twins", card,
                       "figure{display:inline-block;margin:8px;max-width:640px}img{height:192px;margin-right:4px}")


STAGES = {"rewrite": rewrite_flow, "twins": twins_flow, "attention": attention_flow}
