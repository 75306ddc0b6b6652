"""The ``animate`` step: one clip of a scene folder animated (stages.motion.render) and scored against its ground truth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.scenes.eulerian import read_motion
from stages.motion.flowfield import hints_from_flow, mean_flow_angle
from stages.motion.render import Motion, make_renderer, motion_flow, render_frames, write_cinemagraph
from stages.images import load_mask, load_rgb
from stages.evaluation.video_metrics import psnr
from stages.video import read_video, write_npz
from tasks.batch import Item, ItemStep
from stages.learned.loading import flow_predictor, frame_model, small_weights
from stages.values import DEVICE, FEATHER, FPS, FRAMES, MAX_FLOW, SMOOTHNESS, SPEED, ruled
from tasks.checkpoints import checkpoint_inputs


def loop_metrics(frames: np.ndarray, reference: np.ndarray, mask: np.ndarray, image: np.ndarray) -> dict:
    """PSNR (dB) inside the mask against ``reference`` frames, max static error outside, loop seam error.

    frames, reference: uint8 (N, H, W, 3); mask: bool (H, W); image: uint8 (H, W, 3).
    """
    count = min(len(frames), len(reference))
    static = np.abs(frames[:, ~mask].astype(np.int16) - image[~mask].astype(np.int16)).max() if (~mask).any() else 0
    return {"psnr_moving": psnr(frames[:count], reference[:count], mask),
            "static_max_error": int(static),
            "seam_error": float(np.abs(frames[-1].astype(np.float64) - frames[0]).mean())}


@dataclass(frozen=True)
class AnimateOptions:
    """The ``animate`` / ``animate_learned`` sections: how every clip of a scene folder is animated."""

    frames: int = ruled(60, FRAMES)
    """frames per loop (the paper: 60 for the real-domain evaluation, 120 for art)."""
    fps: float = ruled(30, FPS)
    """frames per second."""
    speed: float = ruled(1.0, SPEED)
    """multiplies the flow (pixels per frame)."""
    smoothness: float = ruled(0.25, SMOOTHNESS)
    """Gaussian width of hint interpolation, fraction of the larger image side."""
    feather_px: float = ruled(3.0, FEATHER)
    """width of the feathered edge where the moving region meets the static one, pixels."""
    motion: str = "hints"
    """hints (read off the clip's motion file) or learned (G_flow)."""
    renderer: str = "engine"
    """engine (softmax splatting) or learned (G_frame)."""
    flow_model: str = "data/models/g_flow"
    """G_flow checkpoint folder (motion: learned)."""
    frame_model: str = "data/models/g_frame"
    """G_frame checkpoint folder (renderer: learned)."""
    max_flow: float | None = ruled(None, MAX_FLOW)
    """clamp G_flow's flow to ±this (pixels per frame); None: no clamp."""
    device: str = ruled("cpu", DEVICE)
    """torch device of the networks and the engine."""


def item_motion(item: Item, params: dict, mask: np.ndarray) -> tuple[Motion, dict]:
    """The source of motion of an item and what to record about it.

    ``params["motion"]``: ``hints`` (default: one hint per region read off the clip's motion file, made dense)
    or ``learned`` (G_flow from the item's ``flow_model`` input, given the clip's caption or, for the
    directional variant, the direction of its motion file's mean flow).
    """
    motion = read_motion(item.inputs["motion"])
    if params.get("motion", "hints") == "hints":
        return Motion(hints=tuple(hints_from_flow(motion, mask)), speed=params["speed"],
                      smoothness=params["smoothness"]), {"motion": "hints from the clip's motion file"}
    predictor = flow_predictor(item.inputs["flow_model"], params.get("device", "cpu"))
    return Motion(flow_model=predictor, caption=item.values.get("caption"), angle=mean_flow_angle(motion, mask),
                  speed=params["speed"], max_flow=params.get("max_flow")), {
        "flow_model": str(item.inputs["flow_model"].parent)}


def item_renderer(item: Item, params: dict, image: np.ndarray, mask: np.ndarray,
                  flow: np.ndarray) -> tuple[object, dict]:
    """The renderer of an item's loop (``params["renderer"]``: ``engine`` (default) or ``learned``, G_frame
    from the item's ``frame_model`` input) and what to record about it."""
    device = params.get("device", "cpu")
    if params.get("renderer", "engine") == "engine":
        return make_renderer(image, mask, flow, params["frames"], params["feather_px"], device)
    model = frame_model(item.inputs["frame_model"], device)
    renderer, record = make_renderer(image, mask, flow, params["frames"], params["feather_px"], device, model)
    return renderer, {**record, "frame_model": str(item.inputs["frame_model"].parent)}


def learned_inputs(params: dict) -> dict[str, Path]:
    """Checkpoint weight files an animate batch reads (their digests join every item's cache key)."""
    learned_motion = params.get("motion", "hints") == "learned"
    learned_frames = params.get("renderer", "engine") == "learned"
    return {**checkpoint_inputs("flow_model", params["flow_model"] if learned_motion else None),
            **checkpoint_inputs("frame_model", params["frame_model"] if learned_frames else None)}


def animate_item(item: Item, params: dict, out_dir: Path) -> dict:
    """Animate one clip (motion and renderer per ``params``); score it against its ground-truth video."""
    image = load_rgb(item.inputs["image"])
    mask = load_mask(item.inputs["mask"], image.shape[:2])
    motion, source = item_motion(item, params, mask)
    flow, motion = motion_flow(motion, image, mask)
    motion.update(source)
    renderer, rendering = item_renderer(item, params, image, mask, flow)
    rendered = render_frames(renderer)
    meta = write_cinemagraph(out_dir / f"{item.id}.mp4", rendered, flow, params["fps"],
                             {"id": item.id, **motion, **rendering})
    write_npz(out_dir / f"{item.id}_flow.npz", compress=True, flow=flow)
    scores = loop_metrics(rendered, read_video(item.inputs["video"]), mask, image)
    return {**{k: v for k, v in meta.items() if k != "hints"}, **scores}


def small_learned_networks(params: dict) -> bool:
    """The animate_learned step's ``light`` rule: the networks it reads are small (a few MB each:
    stages.learned.loading.small_weights)."""
    inputs = learned_inputs(params)
    return small_weights(*(inputs[name] for name in ("flow_model", "frame_model") if name in inputs))


ANIMATE = ItemStep("animate", animate_item)
# The same step with the learned networks (their weights join the inputs).
ANIMATE_LEARNED = ItemStep("animate_learned", animate_item, holds_models=True, light=small_learned_networks)
