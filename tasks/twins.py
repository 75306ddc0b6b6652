"""The ``rewrite``, ``twins`` and ``attention`` steps over a prompt list, and the files they write.

Per item (one prompt):
- rewrite → ``rewrite.json`` (cleaned prompt, twin prompt, region, direction, nouns, corrections);
- twins → ``artistic.png``, ``realistic.png``, ``attention.npy`` (Ā, float32 (h·w, h·w), computed in the
  same UNet calls as the twins) and ``meta.json`` (prompts, region, direction, seed, model, every parameter);
- attention → ``attention.png`` (Ā's rows on their first 3 principal components as RGB) and
  ``attention.json`` (grid, row-sum error, mean row entropy).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import platform
import re
from pathlib import Path

import numpy as np

from stages.diffusion.attention import AttentionOptions, attention_picture
from stages.errors import InputError
from stages.images import save_png
from stages.diffusion.models import DiffusionModels, ModelOptions, default_geometry, load_models
from stages.options import options_from
from stages.text.prompts import Rewrite, RewriteOptions, rewrite_prompt
from stages.diffusion.twins import TwinOptions, TwinResult, generate_twins
from tasks.batch import Item, ItemStep

PROMPT_COLUMNS = ("id", "prompt", "region", "direction", "seed")


def model_options(params: dict) -> ModelOptions:
    """ModelOptions from ``params["models"]``."""
    return options_from(ModelOptions, params.get("models"), "models")


def twin_options(params: dict) -> TwinOptions:
    """TwinOptions from ``params["twins"]``; ``auto`` height/width/steps take the profile's defaults."""
    section = dict(params.get("twins") or {})
    defaults = default_geometry(model_options(params).profile)
    for key, value in defaults.items():
        if section.get(key, "auto") == "auto":
            section[key] = value
    return options_from(TwinOptions, section, "twins", batch_keys=("seed",))


def attention_options(params: dict) -> AttentionOptions:
    """AttentionOptions from ``params["attention"]``."""
    return options_from(AttentionOptions, params.get("attention"), "attention")


def rewrite_options(section: dict) -> RewriteOptions:
    """RewriteOptions from the ``rewrite`` section (its ``prompts`` entry names the batch file)."""
    return options_from(RewriteOptions, section, "rewrite", batch_keys=("prompts",))


@functools.lru_cache(maxsize=2)
def models_for(options: ModelOptions) -> DiffusionModels:
    """The models of ``options``, loaded once per process (each Ray worker keeps its own)."""
    return load_models(options)


def twin_meta(rewrite: Rewrite, seed: int, params: dict, result: TwinResult, models: DiffusionModels) -> dict:
    """Everything needed to reproduce and read one pair of twins (meta.json)."""
    import diffusers
    import torch

    options = twin_options(params)
    return {
        "prompt": rewrite.prompt, "twin_prompt": rewrite.twin_prompt, "region": rewrite.region,
        "direction": rewrite.direction, "direction_range": rewrite.direction_range, "nouns": rewrite.nouns,
        "corrections": rewrite.notes, "seed": seed,
        "model": {**dataclasses.asdict(model_options(params)),  # the settings, then what they resolved to
                  "profile": models.name, "device": str(models.device), "dtype": str(models.dtype).split(".")[-1]},
        "twins": dataclasses.asdict(options), "attention": dataclasses.asdict(attention_options(params)),
        "attention_grid": list(result.attention_grid), "attention_maps_averaged": result.attention_maps,
        "timesteps": result.timesteps,
        "feature_bytes_written": result.feature_bytes,
        "files": {"artistic": "artistic.png", "realistic": "realistic.png", "attention": "attention.npy"},
        "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__,
                     "python": platform.python_version()},
    }


def make_twins(rewrite: Rewrite, seed: int, params: dict, out_dir: Path) -> tuple[TwinResult, dict]:
    """Generate the twins of a rewritten prompt and write artistic.png, realistic.png, attention.npy and
    meta.json into ``out_dir``; returns the result and the meta."""
    models = models_for(model_options(params))
    result = generate_twins(models, rewrite.prompt, rewrite.twin_prompt, seed, twin_options(params),
                            attention_options(params))
    out_dir.mkdir(parents=True, exist_ok=True)
    save_png(out_dir / "artistic.png", result.artistic)
    save_png(out_dir / "realistic.png", result.realistic)
    np.save(out_dir / "attention.npy", result.attention)
    meta = twin_meta(rewrite, seed, params, result, models)
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2))
    return result, meta


def describe_attention(attention: np.ndarray, grid: tuple[int, int], size: tuple[int, int], out_dir: Path) -> dict:
    """Write attention.png (PCA picture at ``size`` (H, W) pixels) and attention.json; returns the summary.

    attention: float32 (h·w, h·w) with (h, w) = ``grid``; refused unless square with rows summing to 1.
    """
    tokens = grid[0] * grid[1]
    if attention.shape != (tokens, tokens):
        raise InputError(f"attention matrix is {attention.shape}, expected ({tokens}, {tokens}) for grid {grid}")
    row_sums = attention.astype(np.float64).sum(axis=1)
    if not np.allclose(row_sums, 1.0, atol=1e-3):
        worst = row_sums[np.argmax(abs(row_sums - 1))]
        raise InputError(f"attention rows must sum to 1 (the worst row sums to {worst:.4f})")
    save_png(out_dir / "attention.png", attention_picture(attention, grid, size))
    probabilities = np.clip(attention.astype(np.float64), 1e-12, None)
    entropy = float(-(probabilities * np.log2(probabilities)).sum(axis=1).mean())
    summary = {"grid": list(grid), "image_size": list(size), "row_sum_max_error": float(abs(row_sums - 1).max()),
               "mean_row_entropy_bits": round(entropy, 4), "uniform_entropy_bits": round(float(np.log2(tokens)), 4)}
    (out_dir / "attention.json").write_text(json.dumps(summary, indent=2))
    return summary


# --- batch steps ---------------------------------------------------------------------------------------


def rewrite_item(item: Item, params: dict, out_dir: Path) -> dict:
    """Rewrite one prompt → rewrite.json."""
    values = item.values
    rewrite = rewrite_prompt(values.get("prompt", ""), values.get("region") or None,
                             values.get("direction") or None, rewrite_options(params))
    (out_dir / "rewrite.json").write_text(json.dumps(rewrite.to_dict(), indent=2))
    return {"twin_prompt": rewrite.twin_prompt, "region": rewrite.region, "direction": rewrite.direction or "",
            "corrections": "; ".join(rewrite.notes)}


def read_rewrite(path: Path) -> Rewrite:
    """A Rewrite back from its rewrite.json."""
    fields = json.loads(Path(path).read_text())
    if fields.get("direction_range") is not None:
        fields["direction_range"] = tuple(fields["direction_range"])
    return Rewrite(**fields)


def twins_item(item: Item, params: dict, out_dir: Path) -> dict:
    """Twins and Ā of one rewritten prompt."""
    _, meta = make_twins(read_rewrite(item.inputs["rewrite"]), int(item.values["seed"]), params, out_dir)
    return {"twin_prompt": meta["twin_prompt"], "region": meta["region"], "seed": meta["seed"],
            "profile": meta["model"]["profile"], "mode": meta["twins"]["mode"],
            "height": meta["twins"]["height"], "width": meta["twins"]["width"]}


def attention_item(item: Item, params: dict, out_dir: Path) -> dict:
    """Picture and summary of one item's Ā."""
    meta = json.loads(Path(item.inputs["meta"]).read_text())
    grid = tuple(meta["attention_grid"])
    size = (meta["twins"]["height"], meta["twins"]["width"])
    return describe_attention(np.load(item.inputs["attention"], allow_pickle=False), grid, size, out_dir)


REWRITE = ItemStep("rewrite", rewrite_item)
TWINS = ItemStep("twins", twins_item, num_gpus=1.0, holds_models=True)
ATTENTION = ItemStep("attention", attention_item)


def read_prompt_list(path: str | Path, base_seed: int = 0) -> list[Item]:
    """Items of a prompt list: a CSV with the header ``id,prompt,region,direction,seed`` (only ``prompt``
    required; empty id → ``p<row>``, empty seed → base_seed + row). A line is one prompt; quote prompts
    that contain commas. Lines starting with ``#`` are comments."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"prompt list {path} not found (a CSV with the columns {', '.join(PROMPT_COLUMNS)})")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")]
    reader = csv.DictReader(lines)
    if reader.fieldnames is None or "prompt" not in reader.fieldnames:
        raise InputError(f"{path}: the first line must be a header naming the column 'prompt' "
                         f"(columns: {', '.join(PROMPT_COLUMNS)})")
    items, seen = [], set()
    for row_number, row in enumerate(reader):
        item_id = (row.get("id") or "").strip() or f"p{row_number:04d}"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}", item_id) or item_id in seen:
            raise InputError(f"{path}: row {row_number + 1}: id {item_id!r} must be unique, made of letters, "
                             "digits, '.', '_' or '-'")
        seen.add(item_id)
        seed_text = (row.get("seed") or "").strip()
        if seed_text and not re.fullmatch(r"\d+", seed_text):
            raise InputError(f"{path}: row {row_number + 1}: seed {seed_text!r} must be a whole number")
        items.append(Item(item_id, values={
            "prompt": row.get("prompt") or "", "region": (row.get("region") or "").strip(),
            "direction": (row.get("direction") or "").strip(),
            "seed": int(seed_text) if seed_text else base_seed + row_number}))
    return items
