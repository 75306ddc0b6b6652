"""The ``animate`` step and the writer of a finished cinemagraph (video, flow picture, meta.json)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
from tqdm import tqdm

from stages import learned
from stages.motion.engine import LoopRenderer
from stages.scenes.eulerian import read_motion
from stages.files import file_digest
from stages.motion.flowfield import Hint, dense_flow, flow_to_rgb, hints_from_flow, mean_flow_angle
from stages.images import load_mask, load_rgb, save_png
from stages.learned.frame_net import FrameNet
from stages.learned.inference import FlowPredictor, LearnedRenderer, load_frame_model
from stages.video import read_video, write_video
from tasks.batch import Item, ItemStep


def render_frames(renderer: LoopRenderer) -> np.ndarray:
    """Render every frame of the loop with a progress bar → uint8 (N, H, W, 3)."""
    return np.stack(list(tqdm(renderer, total=len(renderer), desc="rendering", unit="frame", leave=False)))


def write_cinemagraph(path: Path, frames: np.ndarray, flow: np.ndarray, fps: float, meta: dict) -> dict:
    """Write ``frames`` to ``path`` (format by suffix), ``<stem>_flow.png`` and ``<stem>_meta.json`` beside it."""
    write_video(path, frames, fps=fps)
    save_png(path.with_name(f"{path.stem}_flow.png"), flow_to_rgb(flow))
    meta = {**meta, "frames": len(frames), "fps": fps, "video": path.name, "flow_picture": f"{path.stem}_flow.png"}
    path.with_name(f"{path.stem}_meta.json").write_text(json.dumps(meta, indent=2))
    return meta


def loop_metrics(frames: np.ndarray, reference: np.ndarray, mask: np.ndarray, image: np.ndarray) -> dict:
    """PSNR (dB) inside the mask against ``reference`` frames, max static error outside, loop seam error.

    frames, reference: uint8 (N, H, W, 3); mask: bool (H, W); image: uint8 (H, W, 3).
    """
    count = min(len(frames), len(reference))
    moving = frames[:count][:, mask].astype(np.float64)
    mse = np.mean((moving - reference[:count][:, mask].astype(np.float64)) ** 2)
    static = np.abs(frames[:, ~mask].astype(np.int16) - image[~mask].astype(np.int16)).max() if (~mask).any() else 0
    return {"psnr_moving": float(10 * np.log10(255.0**2 / max(mse, 1e-10))),
            "static_max_error": int(static),
            "seam_error": float(np.abs(frames[-1].astype(np.float64) - frames[0]).mean())}


def item_flow(item: Item, params: dict, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, dict]:
    """The flow (2, H, W) animating an item and what to record about it.

    ``params["motion"]``: ``hints`` (default: one hint per region read off the clip's motion file, made dense)
    or ``learned`` (G_flow from the item's ``flow_model`` input, given the clip's caption or, for the
    directional variant, the direction of its motion file's mean flow).
    """
    motion = read_motion(item.inputs["motion"])
    if params.get("motion", "hints") == "hints":
        hints = [Hint(h.x, h.y, h.dx * params["speed"], h.dy * params["speed"])
                 for h in hints_from_flow(motion, mask)]
        return dense_flow(mask, hints, params["smoothness"]), {"motion": "hints from the clip's motion file",
                                                               "hints": [h.__dict__ for h in hints]}
    predictor = flow_predictor(item.inputs["flow_model"], params.get("device", "cpu"))
    flow = predictor.predict(image, mask, caption=item.values.get("caption"), angle=mean_flow_angle(motion, mask),
                             speed=params["speed"],
                             max_flow=params.get("max_flow"))
    return flow, {"motion": f"G_flow ({predictor.conditioning}-conditioned)",
                  "flow_model": str(item.inputs["flow_model"].parent)}


def make_renderer(image: np.ndarray, mask: np.ndarray, flow: np.ndarray, frames: int, feather_px: float = 3.0,
                  device: str = "cpu", model: FrameNet | None = None) -> tuple[LoopRenderer | LearnedRenderer, dict]:
    """The renderer of a loop — the motion engine, or G_frame when ``model`` is given — and what to record
    about it. image uint8 (H, W, 3), mask bool (H, W), flow (2, H, W) pixels per frame."""
    if model is None:
        return (LoopRenderer(image, mask, flow, frames, feather_px, device=device),
                {"renderer": "softmax splatting (motion engine)"})
    return LearnedRenderer(model, image, mask, flow, frames, feather_px), {"renderer": "G_frame"}


def item_renderer(item: Item, params: dict, image: np.ndarray, mask: np.ndarray,
                  flow: np.ndarray) -> tuple[LoopRenderer | LearnedRenderer, dict]:
    """The renderer of an item's loop (``params["renderer"]``: ``engine`` (default) or ``learned``, G_frame
    from the item's ``frame_model`` input) and what to record about it."""
    device = params.get("device", "cpu")
    if params.get("renderer", "engine") == "engine":
        return make_renderer(image, mask, flow, params["frames"], params["feather_px"], device)
    model = frame_model(item.inputs["frame_model"], device)
    renderer, record = make_renderer(image, mask, flow, params["frames"], params["feather_px"], device, model)
    return renderer, {**record, "frame_model": str(item.inputs["frame_model"].parent)}


@lru_cache(maxsize=2)
def _cached_flow_predictor(folder: str, digest: str, device: str) -> FlowPredictor:
    return FlowPredictor(folder, device)


@lru_cache(maxsize=2)
def _cached_frame_model(folder: str, digest: str, device: str) -> FrameNet:
    return load_frame_model(folder, device)


def flow_predictor(weights: Path, device: str) -> FlowPredictor:
    """G_flow of the checkpoint holding ``weights``, loaded once per process and weights digest."""
    return _cached_flow_predictor(str(Path(weights).parent), file_digest(weights), device)


def frame_model(weights: Path, device: str) -> FrameNet:
    """G_frame of the checkpoint holding ``weights``, loaded once per process and weights digest."""
    return _cached_frame_model(str(Path(weights).parent), file_digest(weights), device)


def learned_inputs(params: dict) -> dict[str, Path]:
    """Checkpoint weight files an animate batch reads (their digests join every item's cache key)."""
    inputs = {}
    if params.get("motion", "hints") == "learned":
        inputs["flow_model"] = Path(params["flow_model"]) / "g_flow.safetensors"
        inputs["flow_model_config"] = Path(params["flow_model"]) / "g_flow.json"
    if params.get("renderer", "engine") == "learned":
        inputs["frame_model"] = Path(params["frame_model"]) / "g_frame.safetensors"
        inputs["frame_model_config"] = Path(params["frame_model"]) / "g_frame.json"
    return inputs


def animate_item(item: Item, params: dict, out_dir: Path) -> dict:
    """Animate one clip (motion and renderer per ``params``); score it against its ground-truth video."""
    image = load_rgb(item.inputs["image"])
    mask = load_mask(item.inputs["mask"], image.shape[:2])
    flow, motion = item_flow(item, params, image, mask)
    renderer, rendering = item_renderer(item, params, image, mask, flow)
    rendered = render_frames(renderer)
    meta = write_cinemagraph(out_dir / f"{item.id}.mp4", rendered, flow, params["fps"],
                             {"id": item.id, **motion, **rendering})
    np.savez_compressed(out_dir / f"{item.id}_flow.npz", flow=flow)
    scores = loop_metrics(rendered, read_video(item.inputs["video"]), mask, image)
    return {**{k: v for k, v in meta.items() if k != "hints"}, **scores}


ANIMATE = ItemStep("animate", animate_item,
                   code=("stages.motion.engine", "stages.motion.flowfield", "stages.video", "stages.scenes.eulerian"))
# The same step with the learned networks: their code joins the cache key (and their weights the inputs).
ANIMATE_LEARNED = ItemStep("animate_learned", animate_item,
                           code=(*ANIMATE.code, "stages.diffusion.models", *learned.MODULES))
