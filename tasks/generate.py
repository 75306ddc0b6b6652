"""From twins and their mask to a cinemagraph: the ``flow`` and ``video`` steps, and one prompt end to end.

Per item (one prompt), after ``twins`` (``data/twins/<id>/``) and ``mask`` (``data/mask/<id>/``):
- flow → ``flow.npy`` (float32 (2, H, W), pixels per frame), ``flow.png`` (its picture) and ``motion.json``
  (which source moved each part of the mask: G_flow, the prompt's direction phrase, or the class's default);
- video → ``cinemagraph.<format>`` for every format asked (mp4, gif, webm, npz), with
  ``cinemagraph_flow.png`` and ``cinemagraph_meta.json`` beside it. Frame 0 and frame N are the artistic
  image; outside the mask every frame equals it.

:func:`generate` calls the whole pipeline for one prompt in this process (``cinemagraph generate``) and writes
every intermediate result with the same writers as the batch steps, and ``index.html`` showing them.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Callable

import numpy as np

from stages.errors import InputError
from stages.images import image_size, load_mask, load_rgb, save_png
from stages.masks.pictures import overlay
from stages.motion.flowfield import flow_to_rgb
from stages.motion.render import VIDEO_STEM, VideoOptions, write_cinemagraph
from stages.pipeline import CinemagraphOutput, CinemagraphPipeline, GivenMask, MotionRequest
from stages.video import write_video
from tasks.batch import Item, ItemStep
from tasks.gallery import GALLERY_STYLE, gallery_card


def write_flow(out_dir: Path, flow: np.ndarray, record: dict) -> None:
    """flow.npy, flow.png and motion.json into ``out_dir``."""
    np.save(out_dir / "flow.npy", flow)
    save_png(out_dir / "flow.png", flow_to_rgb(flow))
    (out_dir / "motion.json").write_text(json.dumps(record, indent=2))


def write_loop(frames: np.ndarray, flow: np.ndarray, options: VideoOptions, out_dir: Path, meta: dict) -> dict:
    """``cinemagraph.<format>`` of uint8 (N, H, W, 3) ``frames`` for every format; beside the one a browser plays
    first, the flow picture and meta.json → that meta."""
    shown = options.shown_format()
    for name in options.formats:
        if name != shown:
            write_video(out_dir / f"{VIDEO_STEM}.{name}", frames, fps=options.fps)
    return write_cinemagraph(out_dir / f"{VIDEO_STEM}.{shown}", frames, flow, options.fps,
                             {**meta, "videos": [f"{VIDEO_STEM}.{name}" for name in options.formats]})


# --- batch steps ---------------------------------------------------------------------------------------


def flow_item(item: Item, params: dict, out_dir: Path) -> dict:
    """The flow of one prompt from its twins and mask (``params``: the ``flow`` section)."""
    twins_meta = json.loads(item.inputs["twins_meta"].read_text())
    mask_record = json.loads(item.inputs["mask_record"].read_text())
    region_ids = load_rgb(item.inputs["mask_regions"])[..., 0].astype(np.int32)
    request = MotionRequest(twins_meta["prompt"], twins_meta.get("region"), twins_meta.get("direction"),
                            twins_meta.get("seed", 0))
    pipeline = CinemagraphPipeline.from_params({"flow": params})
    flow, record = pipeline.make_flow(load_rgb(item.inputs["realistic"]), region_ids, mask_record["regions"], request)
    write_flow(out_dir, flow, record)
    return {"source": record["source"], "parts": len(record["parts"]),
            "mean_speed": round(float(np.hypot(*flow)[region_ids > 0].mean()), 4)}


def video_item(item: Item, params: dict, out_dir: Path) -> dict:
    """The cinemagraph of one prompt from its artistic image, mask and flow (``params``: the ``video`` section)."""
    pipeline = CinemagraphPipeline.from_params({"video": params})
    artistic = load_rgb(item.inputs["artistic"])
    mask = load_mask(item.inputs["mask"], artistic.shape[:2])
    flow = np.load(item.inputs["flow"], allow_pickle=False)
    motion = json.loads(item.inputs["motion"].read_text())
    frames, rendering = pipeline.render(artistic, mask, flow)
    written = write_loop(frames, flow, pipeline.settings.video, out_dir,
                         {"id": item.id, "motion": motion["source"], "parts": motion["parts"], **rendering})
    return {"video": written["video"], "renderer": written["renderer"], "frames": written["frames"]}


def without(model_key: str) -> Callable[[dict], bool]:
    """A step's ``light`` rule: light unless its section names a network under ``model_key``."""
    return lambda section: (section or {}).get(model_key) is None


FLOW = ItemStep("flow", flow_item, holds_models=True, light=without("flow_model"))  # G_flow, when configured
VIDEO = ItemStep("video", video_item, holds_models=True, light=without("frame_model"))  # G_frame, when configured


# --- one prompt in this process -----------------------------------------------------------------------


def generate(prompt: str, out_dir: Path, params: dict, region: str | None = None, direction: str | None = None,
             seed: int | None = None, image: Path | None = None, mask: Path | None = None) -> dict:
    """The pipeline for one prompt, every intermediate result written into ``out_dir`` → the loop's meta.

    ``image``: animate this picture instead of generating one (on ``procedural`` it is its own twin, on a
    diffusion profile it is DDIM-inverted); ``mask``: a PNG (white = moves) of the picture's size (or the
    twins' size without ``image``) instead of clustering and segmentation. ``params``: the parsed params
    (sections rewrite, models, twins, attention, inversion, mask, flow, video; missing ones = defaults).
    """
    pipeline = CinemagraphPipeline.from_params(params)
    picture = load_rgb(image) if image is not None else None
    if picture is not None and (picture.shape[0] < 32 or picture.shape[1] < 32):
        raise InputError(f"{image} is {picture.shape[1]}x{picture.shape[0]}: give a picture of at least 32x32")
    given = None
    if mask is not None:
        if not Path(mask).is_file():
            raise InputError(f"mask not found: {mask}")
        settings = pipeline.settings.twins
        given = load_mask(mask, image_size(image) if image is not None else (settings.height, settings.width))
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


def write_all_twins(result: CinemagraphOutput, pipeline: CinemagraphPipeline, image: Path | None,
                    out_dir: Path) -> dict:
    """The twins' files of one generated cinemagraph → the twins' meta."""
    from tasks.twins import write_picture_twins, write_twins

    if image is None:
        return write_twins(result.twins, result.rewrite, result.seed, pipeline, out_dir)
    return write_picture_twins(result.twins, image.name, result.rewrite, result.seed, pipeline, out_dir)


def write_mask(result: CinemagraphOutput, pipeline: CinemagraphPipeline, mask: Path | None, out_dir: Path) -> dict:
    """The mask's files of one generated cinemagraph → mask.json's record."""
    from stages.masks.segmenters import vocabulary_for
    from tasks.masks import mask_record, output_paths, write_outputs

    artistic = result.twins.artistic
    if isinstance(result.mask, GivenMask):
        return write_given_mask(result.mask, artistic, Path(mask).name, out_dir)
    size = artistic.shape[:2]
    record = mask_record(result.mask, tuple(result.twins.attention_grid), size, vocabulary_for(result.rewrite.region),
                         pipeline.settings.mask, pipeline.settings.segmenter)
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
