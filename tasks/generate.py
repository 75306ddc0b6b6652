"""From twins and their mask to a cinemagraph: the ``flow`` and ``video`` steps.

Per item (one prompt), after ``twins`` (``data/twins/<id>/``) and ``mask`` (``data/mask/<id>/``):
- flow → ``flow.npy`` (float32 (2, H, W), pixels per frame: the motion source's flow times ``flow.scale``),
  ``flow.png`` (its picture) and ``motion.json`` (the source, the scale, and what moved each part of the mask:
  G_flow, the prompt's direction phrase, or the class's default);
- video → ``cinemagraph.<format>`` for every format asked (mp4, gif, webm, npz), with
  ``cinemagraph_flow.png`` and ``cinemagraph_meta.json`` beside it. Frame 0 and frame N are the artistic
  image; outside the mask every frame equals it.

Both call the pipeline's motion source (``stages.motion.sources``) and renderer (``stages.motion.render``).
"""

from __future__ import annotations

import json
from pathlib import Path
import numpy as np

from stages.images import load_mask, load_rgb, save_png
from stages.learned.loading import checkpoint_files, small_weights
from stages.motion.flowfield import flow_to_rgb
from stages.motion.render import VIDEO_STEM, VideoOptions, render_loop, video_options, write_cinemagraph
from stages.motion.sources import MotionRequest, flow_options, motion_source
from stages.video import write_video
from tasks.batch import Item, ItemStep
from tasks.checkpoints import checkpoint_inputs


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


def motion_inputs(twins_meta: dict, mask_record: dict, mask_regions: Path, realistic: Path | None
                  ) -> tuple[np.ndarray | None, np.ndarray, list[dict], MotionRequest]:
    """What a motion source reads for one prompt: the realistic twin uint8 (H, W, 3) (None without its path),
    the part of every mask pixel int (H, W) (0 = static), the parts' ids and classes, and the request."""
    request = MotionRequest(twins_meta["prompt"], twins_meta.get("region"), twins_meta.get("direction"),
                            twins_meta.get("seed", 0))
    region_ids = load_rgb(mask_regions)[..., 0].astype(np.int32)
    return (load_rgb(realistic) if realistic else None), region_ids, mask_record["regions"], request


def flow_item(item: Item, params: dict, out_dir: Path) -> dict:
    """The flow of one prompt from its twins and mask (``params``: the ``flow`` section)."""
    inputs = motion_inputs(json.loads(item.inputs["twins_meta"].read_text()),
                           json.loads(item.inputs["mask_record"].read_text()), item.inputs["mask_regions"],
                           item.inputs["realistic"])
    flow, record = motion_source(flow_options(params))(*inputs)
    write_flow(out_dir, flow, record)
    moving = inputs[1] > 0
    return {"source": record["source"], "parts": len(record["parts"]),
            "mean_speed": round(float(np.hypot(*flow)[moving].mean()), 4) if moving.any() else 0.0}


def video_item(item: Item, params: dict, out_dir: Path) -> dict:
    """The cinemagraph of one prompt from its artistic image, mask and flow (``params``: the ``video`` section)."""
    options = video_options(params)
    artistic = load_rgb(item.inputs["artistic"])
    mask = load_mask(item.inputs["mask"], artistic.shape[:2])
    flow = np.load(item.inputs["flow"], allow_pickle=False)
    motion = json.loads(item.inputs["motion"].read_text())
    frames, rendering = render_loop(options, artistic, mask, flow)
    written = write_loop(frames, flow, options, out_dir,
                         {"id": item.id, "motion": motion["source"], "parts": motion["parts"], **rendering})
    return {"video": written["video"], "renderer": written["renderer"], "frames": written["frames"]}


def flow_model_inputs(section: dict) -> dict[str, Path]:
    """The G_flow checkpoint files the ``flow`` section names (inputs of every flow item; none for the other
    sources)."""
    options = flow_options(section)
    return checkpoint_inputs("flow_model", options.flow_model if options.source == "g_flow" else None)


def frame_model_inputs(section: dict) -> dict[str, Path]:
    """The G_frame checkpoint files the ``video`` section names (inputs of every video item; none without one)."""
    return checkpoint_inputs("frame_model", video_options(section).frame_model)


def small_g_flow(section: dict | None) -> bool:
    """The flow step's ``light`` rule: light unless its source is a G_flow of more than a few MB
    (stages.learned.loading.small_weights)."""
    options = flow_options(section)
    return options.source != "g_flow" or small_weights(checkpoint_files("flow_model", options.flow_model)[0])


def small_g_frame(section: dict | None) -> bool:
    """The video step's ``light`` rule: light unless the section names a G_frame of more than a few MB."""
    folder = (section or {}).get("frame_model")
    return folder is None or small_weights(checkpoint_files("frame_model", folder)[0])


FLOW = ItemStep("flow", flow_item, holds_models=True, light=small_g_flow)  # G_flow by default
VIDEO = ItemStep("video", video_item, holds_models=True, light=small_g_frame)  # G_frame, when configured
