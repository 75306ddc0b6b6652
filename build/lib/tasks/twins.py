"""The ``twins`` and ``attention`` steps over a prompt list, and the files they write.

Per item (one prompt, after tasks.rewrite):
- twins → ``artistic.png``, ``realistic.png``, ``attention.npy`` (Ā, float32 (h·w, h·w), computed in the
  same UNet calls as the twins) and ``meta.json`` (prompts, region, direction, seed, model, every parameter);
  the ``procedural`` profile also writes the artistic image's exact truth beside them, for evaluation and
  tests only: ``truth_mask.png`` (every moving region), ``truth_<class>.png`` per region class and
  ``truth_flow.npy`` (float32 (2, H, W), pixels per frame);
- attention → ``attention.png`` (Ā's rows on their first 3 principal components as RGB) and
  ``attention.json`` (grid, row-sum error, mean row entropy).

:func:`write_picture_twins` writes the same files for a user's picture (``cinemagraph generate --image``),
plus ``reconstruction.png`` after DDIM inversion. The twins themselves come from the pipeline
(``stages.diffusion.makers``, the pipeline's twin step); this module turns them into files.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from pathlib import Path

import numpy as np

from stages.diffusion.attention import attention_picture
from stages.diffusion.inversion import RECONSTRUCTION_GUIDANCE
from stages.diffusion.models import PROCEDURAL_PROFILE, ModelOptions
from stages.diffusion.procedural import PROVENANCE
from stages.errors import InputError
from stages.images import png_text, save_png
from stages.diffusion.makers import PictureTwins, TwinSettings, twin_maker
from stages.text.prompts import Rewrite
from tasks.batch import Item, ItemStep
from tasks.rewrite import read_rewrite


def twin_meta(rewrite: Rewrite, seed: int, settings: TwinSettings, result, model: dict, versions: dict) -> dict:
    """Everything needed to reproduce and read one pair of twins (meta.json); ``model`` says what the
    profile resolved to (profile, device, dtype), ``versions`` the libraries that made the pictures."""
    return {
        "prompt": rewrite.prompt, "twin_prompt": rewrite.twin_prompt, "region": rewrite.region,
        "direction": rewrite.direction, "direction_range": rewrite.direction_range, "nouns": rewrite.nouns,
        "corrections": rewrite.notes, "seed": seed,
        "model": {**dataclasses.asdict(settings.models), **model},  # the settings, then what they resolved to
        "twins": dataclasses.asdict(settings.twins), "attention": dataclasses.asdict(settings.attention),
        "attention_grid": list(result.attention_grid), "attention_maps_averaged": result.attention_maps,
        "timesteps": list(result.timesteps),
        "feature_bytes_written": result.feature_bytes,
        "files": {"artistic": "artistic.png", "realistic": "realistic.png", "attention": "attention.npy"},
        "versions": {**versions, "python": platform.python_version()},
    }


def resolved_model(models) -> tuple[dict, dict]:
    """What a diffusion profile (DiffusionModels) resolved to (profile, device, dtype) and the versions of the
    libraries that ran it, for :func:`twin_meta`."""
    import diffusers
    import torch

    return ({"profile": models.name, "device": str(models.device), "dtype": str(models.dtype).split(".")[-1]},
            {"torch": torch.__version__, "diffusers": diffusers.__version__})


def make_twins(rewrite: Rewrite, seed: int, params: dict, out_dir: Path) -> tuple[object, dict]:
    """The pipeline's twins of a rewritten prompt, written by :func:`write_twins`; returns them and the meta."""
    settings = TwinSettings.from_params(params)
    result = twin_maker(settings).make(rewrite, seed)
    return result, write_twins(result, rewrite, seed, settings, out_dir)


def write_twins(result, rewrite: Rewrite, seed: int, settings: TwinSettings, out_dir: Path) -> dict:
    """artistic.png, realistic.png, attention.npy and meta.json of twins ``result`` into ``out_dir`` (procedural
    profile: and the truth files) → the meta."""
    procedural = settings.models.profile == PROCEDURAL_PROFILE
    write_pair(result, out_dir, PROVENANCE if procedural else None)
    if procedural:
        meta = procedural_meta(rewrite, seed, settings, result, out_dir)
    else:
        meta = twin_meta(rewrite, seed, settings, result, *resolved_model(twin_maker(settings).models))
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2))
    return meta


def write_picture_twins(twins: PictureTwins, image: Path, rewrite: Rewrite, seed: int, settings: TwinSettings,
                        out_dir: Path) -> dict:
    """The files of the twins of a user's picture (file ``image``; its procedural provenance kept) → the twins'
    meta: artistic.png, realistic.png, attention.npy and meta.json; after DDIM inversion also reconstruction.png
    (the artistic pass at the twins' size, for inspection)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    provenance = {key: value for key, value in png_text(image).items() if key in PROVENANCE}
    save_png(out_dir / "artistic.png", twins.artistic, provenance)
    save_png(out_dir / "realistic.png", twins.realistic, provenance)
    np.save(out_dir / "attention.npy", twins.attention)
    if twins.inverted is None:
        meta = {"prompt": rewrite.prompt, "twin_prompt": rewrite.twin_prompt, "region": rewrite.region,
                "direction": rewrite.direction, "seed": seed, "attention_grid": list(twins.attention_grid),
                "twin_source": twins.source,
                "model": {"profile": "the picture is its own twin (Ā from its own features)"}}
    else:
        inverted = twins.inverted
        save_png(out_dir / "reconstruction.png", inverted.twins.artistic)
        height, width = twins.artistic.shape[:2]
        meta = twin_meta(rewrite, seed, settings, inverted.twins, *resolved_model(twin_maker(settings).models))
        meta["twin_source"] = twins.source
        meta["image"] = {"name": image.name, "height": height, "width": width}
        meta["inversion"] = {**dataclasses.asdict(settings.inversion), "timesteps": inverted.timesteps,
                             "guidance": RECONSTRUCTION_GUIDANCE,
                             "reconstruction_error": round(inverted.reconstruction_error, 4)}
        meta["files"]["reconstruction"] = "reconstruction.png"
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2))
    return meta


def procedural_meta(rewrite: Rewrite, seed: int, settings: TwinSettings, result, out_dir: Path) -> dict:
    """The procedural pair's meta.json record, after writing the truth files of its artistic image."""
    import cv2

    truth = {"mask": "truth_mask.png", "flow": "truth_flow.npy", "classes": {}}
    save_png(out_dir / truth["mask"], (result.truth_labels > 0).astype(np.uint8) * 255)
    for name, mask in result.truth_masks().items():
        truth["classes"][name] = f"truth_{name}.png"
        save_png(out_dir / truth["classes"][name], mask.astype(np.uint8) * 255)
    np.save(out_dir / truth["flow"], result.truth_flow)
    model = {"profile": PROCEDURAL_PROFILE, "device": "cpu", "dtype": "float32"}
    meta = twin_meta(rewrite, seed, settings, result, model, {"numpy": np.__version__, "opencv": cv2.__version__})
    world = settings.procedural
    meta["procedural"] = {
        **dataclasses.asdict(world), "kinds": [region.name for region in result.scene.regions],
        "regions": [{"name": region.name, "velocity": list(region.velocity), "angle_degrees": round(region.angle, 3)}
                    for region in result.scene.regions],
        "direction_angle": result.angle, "caption": result.scene.caption, "style": result.style.to_dict(),
        "warp": {"amplitude_px": world.warp_px, "seed": result.warp_seed}}
    meta["truth"] = truth
    return meta


def write_pair(result, out_dir: Path, text: dict[str, str] | None = None) -> None:
    """artistic.png, realistic.png (carrying the PNG ``text``) and attention.npy of twins ``result`` into
    ``out_dir`` (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    save_png(out_dir / "artistic.png", result.artistic, text)
    save_png(out_dir / "realistic.png", result.realistic, text)
    np.save(out_dir / "attention.npy", result.attention)


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


def procedural_profile(params: dict) -> bool:
    """Whether ``params["models"]`` selects the procedural world (no diffusion model: the twins step is light)."""
    return (params.get("models") or {}).get("profile", ModelOptions.profile) == PROCEDURAL_PROFILE


TWINS = ItemStep("twins", twins_item, num_gpus=1.0, holds_models=True, light=procedural_profile)
ATTENTION = ItemStep("attention", attention_item, light=True)


