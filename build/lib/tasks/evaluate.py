"""The ``evaluate`` step: one video → its static/loop metrics and its I3D features for each FVD protocol.

Item inputs: ``video``; optional ``image`` (the input the video was made from; else its first frame),
``mask`` (PNG, white = moving), ``mask_video`` (a video to estimate the moving region from, when there is
no mask: the ground truth of the same clip), ``detector`` and ``lpips`` (model files, so their digests key
the cache). Item values: ``set`` ("real" or "fake"), ``video_id``, ``mask_source``, ``reference_source``.
Writes ``features.npz`` (one (400,) float64 array per protocol the video is long enough for) and
``mask.png`` (the moving region used).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from stages.evaluation.fvd import get_protocol, video_features
from stages.evaluation.i3d import load_detector
from stages.images import load_mask, load_rgb, save_png
from stages.video import read_video, write_npz
from stages.evaluation.video_metrics import estimate_moving_mask, load_lpips, video_metrics
from stages.values import Range, ruled
from tasks.batch import Item, ItemStep


@dataclass(frozen=True)
class EvaluateOptions:
    """The ``evaluate`` section: FVD against real videos, and per-video static and loop metrics."""

    i3d: str | None = "random"
    """I3D detector: a TorchScript or state-dict file; random = offline checks only (its FVDs are not comparable
    to published ones); null = $CINEMAGRAPH_MODELS/i3d/i3d_kinetics400.pt."""
    protocols: tuple[str, ...] = field(default=("fvd16", "fvd60"))
    """FVD16: frames[::3][:16]; FVD60: frames[:60]."""
    margin: int = ruled(0, Range(0, 10000, integer=True))
    """pixels around the moving region left out of the static metrics."""
    mask_threshold: float = ruled(2.0, Range(0, 255))
    """temporal standard deviation (0-255) above which a pixel moves, when a mask must be estimated."""
    lpips: str | None = None
    """TorchScript LPIPS file; null = $CINEMAGRAPH_MODELS/lpips/lpips.pt when present."""


def fit(image: np.ndarray, shape: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """``image`` (H, W[, C]) resized to ``shape`` (H, W) if it differs (area averaging, or nearest for masks)."""
    if image.shape[:2] == tuple(shape):
        return image
    interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    return cv2.resize(image, (shape[1], shape[0]), interpolation=interpolation)


def moving_region(item: Item, frames: np.ndarray, threshold: float) -> np.ndarray:
    """The moving region bool (H, W) of the item: its mask file, else estimated (see the module docstring)."""
    shape = frames.shape[1:3]
    if "mask" in item.inputs:
        return fit(load_mask(item.inputs["mask"]).astype(np.uint8), shape, nearest=True) > 0
    source = read_video(item.inputs["mask_video"]) if "mask_video" in item.inputs else frames
    return fit(estimate_moving_mask(source, threshold).astype(np.uint8), shape, nearest=True) > 0


def evaluate_video(item: Item, params: dict, out_dir: Path) -> dict:
    """Metrics and FVD features of one video (params: the ``evaluate`` section of params.yaml)."""
    frames = read_video(item.inputs["video"])
    shape = frames.shape[1:3]
    image = fit(load_rgb(item.inputs["image"]), shape) if "image" in item.inputs else frames[0]
    moving = moving_region(item, frames, params["mask_threshold"])
    save_png(out_dir / "mask.png", moving)
    lpips = load_lpips(item.inputs["lpips"]) if "lpips" in item.inputs else None
    metrics = video_metrics(frames, image, moving, params["margin"], lpips)
    protocols = [get_protocol(name) for name in params["protocols"]]
    fitting = [protocol for protocol in protocols if len(frames) >= protocol.frames_needed]
    detector = load_detector(item.inputs.get("detector", params["i3d"])) if fitting else None
    features = {protocol.name: video_features(detector, [frames], protocol)[0] for protocol in fitting}
    write_npz(out_dir / "features.npz", **features)
    return {"set": item.values["set"], "video_id": item.values["video_id"], "frames": len(frames),
            "height": shape[0], "width": shape[1], "mask_source": item.values["mask_source"],
            "reference_source": item.values["reference_source"], "fvd_protocols": ",".join(features),
            "detector_sha256": detector.sha256 if detector else None, **metrics}


EVALUATE = ItemStep("evaluate", evaluate_video)
