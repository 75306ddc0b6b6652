"""Training clips for G_flow and G_frame, read from the real Eulerian dataset or from our synthetic scenes.

Both use the Eulerian layout (see ``stages.scenes.eulerian``): per clip ``<id>_input.jpg|png``, ``<id>_gt.mp4`` and
``<id>_motion.pth`` (read safely, never by plain unpickling). Splits are either sub-folders
(``root/train``, ``root/validation``: the real dataset) or listed in ``root/splits.json`` (synthetic scenes,
one folder per clip). Captions come from ``captions.json`` ({id: caption}) or ``captions.txt`` (lines
``<id>: caption``, split at the first colon, so captions may contain colons) beside the clips or at the root.

A sample is a dict: ``image`` float32 (3, h, w) in [0, 1], ``mask`` (1, h, w) in {0, 1} (pixels whose
ground-truth speed exceeds a threshold), ``flow`` (2, h, w) in pixels per frame, ``sign_free`` (1, h, w) in {0, 1}
(moving pixels whose sign was left to chance, :data:`SIGN_FREE_SUFFIX`), ``caption``, ``id``, and
on request ``hint`` (2, h, w), the unit direction of each moving region spread over it, and the frames
G_frame learns from: ``last`` (the clip's last frame, N = ``span``), ``target`` (frame ``step``, 0 < step < N)
and ``feather`` (1, h, w), the compositing weight of the moving region.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from stages.motion.engine import feather_weights
from stages.errors import InputError
from stages.options import pick
from stages.scenes.eulerian import Clip, list_clips, read_motion
from stages.motion.flowfield import Hint, dense_flow, hints_from_flow
from stages.images import load_mask, load_rgb, to_tensor
from stages.video import read_video
from stages.values import Range, ruled

FLOW_SCALE = 64.0  # G_flow predicts flow / FLOW_SCALE (method §6)
SIGN_FREE_SUFFIX = "_signfree.png"
"""Optional per clip (``<id>_signfree.png``, white where the sign of the motion was left to chance: the offline
world's scenes write it); a clip without one is determined everywhere."""


def find_clips(root: str | Path, split: str) -> list[Clip]:
    """The clips of ``split`` under ``root`` (split sub-folder or ``splits.json``), captions attached."""
    root = Path(root)
    if not (root / split).is_dir() and not (root / "splits.json").is_file():
        raise InputError(f"{root} has neither a {split}/ folder nor a splits.json: point the training data at "
                         "the Eulerian dataset's root or at a synthetic set (cinemagraph pipeline synth_train)")
    clips = list_clips(root, split)
    if not clips:
        raise InputError(f"no clips of split {split!r} under {root} (each needs _input, _gt.mp4 and _motion.pth)")
    return clips


def motion_mask(flow: np.ndarray, threshold: float) -> np.ndarray:
    """Training mask bool (H, W): pixels whose flow (2, H, W) is faster than ``threshold`` pixels per frame."""
    return np.hypot(flow[0], flow[1]) > threshold


def direction_hint(flow: np.ndarray, mask: np.ndarray, smoothness: float) -> np.ndarray:
    """Dense direction hint float32 (2, H, W): each region's mean flow direction as a unit vector at its
    centroid, spread over the region (``dense_flow``); zero outside ``mask`` and where nothing moves."""
    hints = [Hint(hint.x, hint.y, hint.dx / length, hint.dy / length) for hint in hints_from_flow(flow, mask)
             if (length := float(np.hypot(hint.dx, hint.dy))) > 0]
    return dense_flow(mask, hints, smoothness) if hints else np.zeros_like(flow, dtype=np.float32)


def mirror_flow(flow: np.ndarray) -> np.ndarray:
    """The flow (2, H, W) of the left-right mirrored picture: columns reversed, the x component's sign changed."""
    mirrored = np.flip(flow, axis=2).copy()
    mirrored[0] *= -1.0
    return mirrored


def flip_horizontal(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Mirror left-right the images (H, W, 3) and the ``flow`` (2, H, W), whose x component changes sign."""
    flipped = {name: np.flip(array, axis=1).copy() for name, array in arrays.items() if name != "flow"}
    return {**flipped, "flow": mirror_flow(arrays["flow"])}


def mirror_caption(caption: str) -> str:
    """The caption of the mirrored clip: "left" and "right" (also in "leftwards", "rightward") swap places."""
    swap = {"left": "right", "right": "left", "Left": "Right", "Right": "Left", "LEFT": "RIGHT", "RIGHT": "LEFT"}
    return re.sub(r"(?<![A-Za-z])(left|right)(?=(wards?)?(?![A-Za-z]))", lambda m: swap[m.group(0)], caption,
                  flags=re.IGNORECASE)


@dataclass(frozen=True)
class ClipOptions:
    """How clips become samples."""

    crop: int | None = None
    """Side of the square crop, pixels; None: the whole (resized) image."""
    resize_short: int | None = None
    """Resize so the shorter side has this many pixels before cropping (flows scale along); None: keep."""
    mask_threshold: float = 0.1
    """Pixels per frame above which the ground-truth flow counts as moving."""
    hint: bool = False
    """Also compute the dense direction hint (directional G_flow)."""
    hint_smoothness: float = 0.25
    """Gaussian width of the hint's spread, fraction of the larger side."""
    frames: bool = False
    """Also load the last and a target frame of the ground-truth video (G_frame)."""
    feather_px: float = 3.0
    """Width of the feathered edge of the compositing weight, pixels."""
    cache: bool = True
    """Keep decoded clips in memory (fine for small synthetic sets; off for the real dataset)."""


@dataclass(frozen=True)
class StageDataOptions:
    """The knobs of a training stage (``train_flow``, ``train_frame``) that say how its clips are read."""

    network: str = "small"
    """Size preset: small (CPU minutes) or paper."""
    crop: int | None = ruled(64, Range(16, 4096, integer=True))
    resize_short: int | None = None
    mask_threshold: float = ruled(0.1, Range(0))
    cache: bool = True

    SECTION: ClassVar[str] = ""
    """The params section these options come from (in error messages)."""
    PRESETS: ClassVar[dict] = {}
    """The network size presets ``network`` may name."""

    @classmethod
    def from_params(cls, section: dict):
        """Options from the keys of a params section that this class has; InputError for an unknown network."""
        options = pick(cls, section)
        if options.network not in cls.PRESETS:
            raise InputError(f"{cls.SECTION}.network must be one of {', '.join(cls.PRESETS)}, "
                             f"got {options.network!r}")
        return options

    def clip_extras(self) -> dict:
        """The stage's own ClipOptions fields."""
        return {}

    def clips(self, crop: int | None) -> ClipOptions:
        """How to read the clips with square crops of side ``crop`` (None: whole clips)."""
        return ClipOptions(crop=crop, resize_short=self.resize_short, mask_threshold=self.mask_threshold,
                           cache=self.cache, **self.clip_extras())


class EulerianClips(Dataset):
    """The clips of one split as training samples.

    ``augment``: random crops, horizontal flips (the x flow changes sign and "left"/"right" swap in the
    caption) and random target frames (training); otherwise the centre crop and a fixed target frame per
    clip (validation, reproducible).
    """

    def __init__(self, root: str | Path, split: str, options: ClipOptions = ClipOptions(), augment: bool = True,
                 seed: int = 0):
        self.clips = find_clips(root, split)
        self.options, self.augment = options, augment
        self._rng = np.random.default_rng(seed)
        self._cache: dict[str, dict[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.clips)

    def reseed(self, seed: int) -> None:
        """Restart the augmentation random stream (each data-loading worker calls this with its own seed)."""
        self._rng = np.random.default_rng(seed)

    def captions_missing(self) -> list[str]:
        """Ids of clips without a caption."""
        return [clip.id for clip in self.clips if not clip.caption]

    def load_clip(self, index: int) -> dict[str, np.ndarray]:
        """Whole arrays of clip ``index`` (resized when asked): image uint8 (H, W, 3), flow (2, H, W) and, with
        ``frames``, video uint8 (N, H, W, 3)."""
        clip = self.clips[index]
        if clip.id in self._cache:
            return self._cache[clip.id]
        image, flow = load_rgb(clip.image), read_motion(clip.motion)
        if flow.shape[1:] != image.shape[:2]:
            raise InputError(f"{clip.id}: motion {flow.shape[1:]} and image {image.shape[:2]} differ in size")
        arrays = {"image": image, "flow": flow}
        sign_free = clip.motion.with_name(f"{clip.id}{SIGN_FREE_SUFFIX}")
        if sign_free.is_file():
            arrays["sign_free"] = load_mask(sign_free, image.shape[:2])
        if self.options.frames:
            video = read_video(clip.video)
            if video.shape[1:3] != image.shape[:2] or len(video) < 3:
                raise InputError(f"{clip.id}: the video must have at least 3 frames of the image's size")
            arrays["video"] = video
        arrays = _resize(arrays, self.options.resize_short)
        if self.options.cache:
            self._cache[clip.id] = arrays
        return arrays

    def __getitem__(self, index: int) -> dict:
        clip = self.clips[index]
        full = self.load_clip(index)
        rng = self._rng if self.augment else np.random.default_rng(index)
        height, width = full["image"].shape[:2]
        side = self.options.crop
        if side is not None and (side > height or side > width):
            raise InputError(f"{clip.id}: crop {side} is larger than the clip ({width}x{height}); lower the crop "
                             "or raise resize_short")
        top = left = 0
        crop_h, crop_w = (side, side) if side else (height, width)
        if side:
            top, left = ((int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1)))
                         if self.augment else ((height - side) // 2, (width - side) // 2))
        window = (slice(top, top + crop_h), slice(left, left + crop_w))
        arrays = {"image": full["image"][window], "flow": full["flow"][(slice(None), *window)]}
        if "sign_free" in full:
            arrays["sign_free"] = full["sign_free"][window]
        sample: dict = {"id": clip.id, "caption": clip.caption or ""}
        if self.options.frames:
            video = full["video"]
            span = len(video) - 1
            step = int(rng.integers(1, span)) if self.augment else 1 + (7 * index) % (span - 1)
            arrays["last"], arrays["target"] = video[span][window], video[step][window]
            sample.update(step=step, span=span)
        if self.augment and rng.random() < 0.5:
            arrays = flip_horizontal(arrays)
            sample["caption"] = mirror_caption(sample["caption"])
        mask = motion_mask(arrays["flow"], self.options.mask_threshold)
        sign_free = arrays.get("sign_free", np.zeros_like(mask)) & mask
        sample.update(image=to_tensor(arrays["image"])[0], flow=torch.from_numpy(np.ascontiguousarray(arrays["flow"])),
                      mask=torch.from_numpy(mask[None].astype(np.float32)),
                      sign_free=torch.from_numpy(sign_free[None].astype(np.float32)))
        if self.options.hint:
            hint = direction_hint(arrays["flow"], mask, self.options.hint_smoothness)
            sample["hint"] = torch.from_numpy(hint)
        if self.options.frames:
            sample.update(last=to_tensor(arrays["last"])[0], target=to_tensor(arrays["target"])[0],
                          feather=torch.from_numpy(feather_weights(mask, self.options.feather_px)[None]))
        return sample


def _resize(arrays: dict[str, np.ndarray], short: int | None) -> dict[str, np.ndarray]:
    """Resize image, video and flow so the shorter side is ``short`` pixels; flow vectors scale along."""
    height, width = arrays["image"].shape[:2]
    if short is None or short == min(height, width):
        return arrays
    scale = short / min(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = {"image": cv2.resize(arrays["image"], size, interpolation=interpolation),
               "flow": np.stack([cv2.resize(c, size, interpolation=interpolation) for c in arrays["flow"]]) * scale}
    if "sign_free" in arrays:
        resized["sign_free"] = cv2.resize(arrays["sign_free"].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    if "video" in arrays:
        resized["video"] = np.stack([cv2.resize(f, size, interpolation=interpolation) for f in arrays["video"]])
    return resized
