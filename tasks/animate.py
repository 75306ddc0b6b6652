"""The ``animate`` step and the writer of a finished cinemagraph (video, flow picture, meta.json)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from stages.engine import LoopRenderer
from stages.eulerian import read_motion
from stages.flowfield import Hint, dense_flow, flow_to_rgb
from stages.images import load_mask, load_rgb, save_png
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


def hints_from_flow(flow: np.ndarray, mask: np.ndarray) -> list[Hint]:
    """One hint per connected region of ``mask``: the region's mean flow at its centroid."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    hints = []
    for label in range(1, count):
        rows, cols = np.nonzero(labels == label)
        hints.append(Hint(float(cols.mean()), float(rows.mean()),
                          float(flow[0, rows, cols].mean()), float(flow[1, rows, cols].mean())))
    return hints


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


def animate_item(item: Item, params: dict, out_dir: Path) -> dict:
    """Animate one clip from hints read off its motion file; score it against its ground-truth video."""
    image = load_rgb(item.inputs["image"])
    mask = load_mask(item.inputs["mask"], image.shape[:2])
    hints = [Hint(h.x, h.y, h.dx * params["speed"], h.dy * params["speed"])
             for h in hints_from_flow(read_motion(item.inputs["motion"]), mask)]
    flow = dense_flow(mask, hints, params["smoothness"])
    rendered = render_frames(LoopRenderer(image, mask, flow, params["frames"], params["feather_px"]))
    meta = write_cinemagraph(out_dir / f"{item.id}.mp4", rendered, flow, params["fps"],
                             {"id": item.id, "motion": "hints from the clip's motion file",
                              "renderer": "softmax splatting (motion engine)",
                              "hints": [h.__dict__ for h in hints]})
    np.savez_compressed(out_dir / f"{item.id}_flow.npz", flow=flow)
    scores = loop_metrics(rendered, read_video(item.inputs["video"]), mask, image)
    return {**{k: v for k, v in meta.items() if k != "hints"}, **scores}


ANIMATE = ItemStep("animate", animate_item,
                   code=("stages.engine", "stages.flowfield", "stages.video", "stages.eulerian"))
