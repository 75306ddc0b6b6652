"""One prompt end to end in this process (``cinemagraph generate``): the whole pipeline, then every
intermediate result written with the same writers as the batch steps, and ``index.html`` showing them."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from stages.errors import InputError
from stages.diffusion.procedural import PROVENANCE
from stages.images import image_size, load_mask, load_rgb, png_text, save_png
from stages.masks.pictures import overlay
from stages.masks.segmenters import vocabulary_for
from stages.pipeline import CinemagraphOutput, CinemagraphPipeline, GivenMask
from tasks.gallery import GALLERY_STYLE, gallery_card
from tasks.generate import write_flow, write_loop
from tasks.masks import mask_record, output_paths, write_outputs
from tasks.offline_models import flow_model_checkpoint, segmenter_checkpoint
from tasks.twins import write_picture_twins, write_twins



def generate(prompt: str, out_dir: Path, params: dict, region: str | None = None, direction: str | None = None,
             seed: int | None = None, image: Path | None = None, mask: Path | None = None) -> dict:
    """The pipeline for one prompt, every intermediate result written into ``out_dir`` → the loop's meta.

    ``image``: animate this picture instead of generating one (on ``procedural`` it is its own twin, on a
    diffusion profile it is DDIM-inverted); ``mask``: a PNG (white = moves) of the picture's size (or the
    twins' size without ``image``) instead of clustering and segmentation. ``params``: the parsed params
    (sections rewrite, models, twins, attention, inversion, mask, flow, video, and synth_train and train_flow
    for a G_flow trained on demand; missing ones = defaults).
    """
    pipeline = CinemagraphPipeline.from_params(params)  # every setting checked before any work
    picture, given = read_inputs(pipeline, image, mask)
    if mask is None and pipeline.settings.mask.segmenter.segmenter == "synthetic":
        if image is not None and not png_text(image).items() >= PROVENANCE.items():
            raise InputError(f"{image} is not a picture of the procedural world, the only one the offline segmenter "
                             "knows: give --mask (white where it moves), or set mask.segmenter to ade20k or clipseg "
                             "with their weights (docs/real-weights.md)")
        params = {**params, "mask": {**(params.get("mask") or {}), "checkpoint": segmenter_checkpoint(
            pipeline.settings.mask.segmenter.checkpoint)}}
    if pipeline.settings.flow.source == "g_flow":
        params = {**params, "flow": {**(params.get("flow") or {}), "flow_model": flow_model_checkpoint(
            pipeline.settings.flow.flow_model, params.get("synth_train") or {}, params.get("train_flow") or {})}}
    pipeline = CinemagraphPipeline.from_params(params)
    result = pipeline(prompt, image=picture, mask=given, region=region, direction=direction, seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    twins_meta = write_all_twins(result, pipeline, image, out_dir)
    mask_record = write_mask(result, pipeline, mask, out_dir)
    write_flow(out_dir, result.flow, result.motion)
    rewrite = result.rewrite
    meta = {"prompt": prompt, "twin_prompt": rewrite.twin_prompt, "region": rewrite.region,
            "direction": rewrite.direction, "seed": result.seed, "image": image.name if image else None,
            "twin_source": twins_meta.get("twin_source", "generated"), "inversion": twins_meta.get("inversion"),
            "model": twins_meta.get("model"), "mask": {k: mask_record.get(k) for k in ("segmenter", "method",
                                                                                      "n_clusters", "regions")},
            "motion": result.motion, "settings": {name: params.get(name) for name in ("mask", "flow", "video")}}
    written = write_loop(result.frames, result.flow, pipeline.settings.video, out_dir, {**meta, **result.rendering})
    write_page(out_dir, prompt, written)
    return written


def output_files() -> list[str]:
    """Every file :func:`generate` may write in its output folder."""
    from stages.motion.render import VIDEO_STEM
    from stages.scenes.landscapes import WORLD_KINDS
    from stages.video import VIDEO_SUFFIXES

    twins = ["artistic.png", "realistic.png", "attention.npy", "meta.json", "reconstruction.png", "truth_mask.png",
             "truth_flow.npy", *(f"truth_{kind}.png" for kind in WORLD_KINDS)]
    masks = [*output_paths(Path("mask.png")).values()]
    loop = [f"{VIDEO_STEM}{suffix}" for suffix in VIDEO_SUFFIXES]
    return [*twins, *(path.name for path in masks), "flow.npy", "flow.png", "motion.json", *loop,
            f"{VIDEO_STEM}_flow.png", f"{VIDEO_STEM}_meta.json", "index.html"]


def read_inputs(pipeline: CinemagraphPipeline, image: Path | None, mask: Path | None
                ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The user's picture (uint8 (H, W, 3); the pipeline checks its size) and mask (bool, the picture's size, or the twins'
    without a picture), each read and checked before any work; None for those not given."""
    picture = load_rgb(image) if image is not None else None
    if mask is None:
        return picture, None
    if not Path(mask).is_file():
        raise InputError(f"mask not found: {mask}")
    settings = pipeline.settings.twins.twins
    return picture, load_mask(mask, image_size(image) if image is not None else (settings.height, settings.width))


def write_all_twins(result: CinemagraphOutput, pipeline: CinemagraphPipeline, image: Path | None,
                    out_dir: Path) -> dict:
    """The twins' files of one generated cinemagraph → the twins' meta."""
    if image is None:
        return write_twins(result.twins, result.rewrite, result.seed, pipeline.settings.twins, out_dir)
    return write_picture_twins(result.twins, image, result.rewrite, result.seed, pipeline.settings.twins,
                               out_dir)


def write_mask(result: CinemagraphOutput, pipeline: CinemagraphPipeline, mask: Path | None, out_dir: Path) -> dict:
    """The mask's files of one generated cinemagraph → mask.json's record."""
    artistic = result.twins.artistic
    if isinstance(result.mask, GivenMask):
        return write_given_mask(result.mask, artistic, Path(mask).name, out_dir)
    size = artistic.shape[:2]
    record = mask_record(result.mask, tuple(result.twins.attention_grid), size, vocabulary_for(result.rewrite.region),
                         pipeline.settings.mask.selection, pipeline.settings.mask.segmenter)
    write_outputs(result.mask, artistic, record, output_paths(out_dir / "mask.png"))
    return record


def write_given_mask(given: GivenMask, artistic: np.ndarray, name: str, out_dir: Path) -> dict:
    """mask.png, mask_regions.png, mask_overlay.png and mask.json of a user's mask (file ``name``) → the record."""
    save_png(out_dir / "mask.png", given.mask)
    save_png(out_dir / "mask_regions.png", given.region_ids.astype(np.uint8))
    save_png(out_dir / "mask_overlay.png", overlay(artistic, given.mask))
    record = {"segmenter": f"given mask {name}", "regions": given.regions}
    (out_dir / "mask.json").write_text(json.dumps(record, indent=2))
    return record


def write_page(out_dir: Path, prompt: str, meta: dict) -> None:
    """``out_dir/index.html``: artistic, realistic, clusters, mask overlay, flow picture and the loop."""
    present = {name: "." for name in ("artistic.png", "realistic.png", "clusters.png", "mask_overlay.png", "flow.png")
               if (out_dir / name).is_file()}
    page = (f"<!doctype html><meta charset=utf-8><title>{html.escape(prompt)}</title><style>{GALLERY_STYLE}</style>"
            + gallery_card(meta["video"].rsplit(".", 1)[0], present, meta["video"], prompt))
    (out_dir / "index.html").write_text(page)
