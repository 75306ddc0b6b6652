"""Per-video metrics of a cinemagraph: how still its static part stays, how well it loops, how much it moves.

Inputs: frames uint8 (N, H, W, 3); the input image uint8 (H, W, 3) the video was made from; the moving
region, bool (H, W), True where things may move. Intensities are on the 0–255 scale throughout.

- ``psnr``: PSNR of frames against reference frames, optionally inside a region;

- ``static_rmse``: RMSE between each frame and the input over the static region, averaged over frames
  (StyleCineGAN's static-consistency RMSE);
- ``static_ms_ssim``: MS-SSIM between each frame and the input, over windows lying wholly in the static
  region, averaged over frames;
- ``static_lpips``: LPIPS between each frame (moving region replaced by the input's) and the input, when a
  local TorchScript LPIPS is given;
- ``static_flicker``: mean absolute change between consecutive frames over the static region;
- ``static_drift``: total linear change over the clip of the static region: per pixel, the least-squares
  slope of its intensity over time × (N − 1), absolute, averaged;
- ``seam_ratio``: the last → first frame difference relative to the median consecutive-frame difference
  (≈ 1 for a seamless loop, ≫ 1 for a jump at the seam);
- ``motion_energy``: mean absolute change between consecutive frames inside the moving region.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from stages.errors import InputError
from stages.diffusion.local_models import models_dir

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang, Simoncelli & Bovik 2003
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = (0.01 * 255.0) ** 2
SSIM_C2 = (0.03 * 255.0) ** 2
FRAME_CHUNK = 8


def estimate_moving_mask(frames: np.ndarray, threshold: float = 2.0) -> np.ndarray:
    """Moving region bool (H, W): pixels whose temporal standard deviation (gray, 0–255) exceeds ``threshold``.

    A 5×5 median filter removes isolated pixels (codec noise) and fills pin-holes.
    """
    gray = frames.mean(axis=3, dtype=np.float32)
    moving = (gray.std(axis=0) > threshold).astype(np.uint8) * 255
    return cv2.medianBlur(moving, 5) > 127


def static_region(moving: np.ndarray, margin: int = 0) -> np.ndarray:
    """bool (H, W): pixels farther than ``margin`` pixels from the moving region."""
    if margin <= 0:
        return ~moving
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    return cv2.dilate(moving.astype(np.uint8), kernel) == 0


def _gaussian_window() -> np.ndarray:
    """The normalised 1-D Gaussian (SSIM_WINDOW taps, σ = SSIM_SIGMA), float64."""
    offsets = np.arange(SSIM_WINDOW, dtype=np.float64) - SSIM_WINDOW // 2
    window = np.exp(-(offsets**2) / (2 * SSIM_SIGMA**2))
    return window / window.sum()


def _filter(image: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter of float64 (H, W[, C]), 'valid' region only → (H − 10, W − 10[, C])."""
    window = _gaussian_window()
    half = SSIM_WINDOW // 2
    filtered = cv2.sepFilter2D(image, cv2.CV_64F, window, window, borderType=cv2.BORDER_CONSTANT)
    return filtered[half:-half, half:-half]


def _ssim_maps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Luminance and contrast-structure maps of SSIM for float64 images x, y (H, W, C) on the 0–255 scale."""
    mu_x, mu_y = _filter(x), _filter(y)
    var_x = _filter(x * x) - mu_x**2
    var_y = _filter(y * y) - mu_y**2
    cov = _filter(x * y) - mu_x * mu_y
    luminance = (2 * mu_x * mu_y + SSIM_C1) / (mu_x**2 + mu_y**2 + SSIM_C1)
    contrast_structure = (2 * cov + SSIM_C2) / (var_x + var_y + SSIM_C2)
    return luminance, contrast_structure


def _halve(image: np.ndarray, reduce=np.mean) -> np.ndarray:
    """2×2 pooling of (H, W, ...) with ``reduce`` (an odd last row/column is dropped)."""
    height, width = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    blocks = image[:height, :width].reshape(height // 2, 2, width // 2, 2, *image.shape[2:])
    return reduce(blocks, axis=(1, 3))


def _ms_ssim_one(x: np.ndarray, y: np.ndarray, region: np.ndarray, scales: int) -> float:
    """MS-SSIM of one pair of float64 images (H, W, C) over ``region`` (see ``ms_ssim``)."""
    kept = []  # (exponent, mean contrast-structure, mean SSIM) of each scale with windows in the region
    for scale in range(scales):
        inside = _filter(region.astype(np.float64)) > 1.0 - 1e-9
        if inside.any():
            luminance, contrast_structure = _ssim_maps(x, y)
            kept.append((MS_SSIM_WEIGHTS[scale], contrast_structure[inside].mean(),
                         (luminance * contrast_structure)[inside].mean()))
        x, y, region = _halve(x), _halve(y), _halve(region, np.min)
    if not kept:
        return float("nan")
    total = sum(exponent for exponent, _, _ in kept)
    result = 1.0
    for index, (exponent, contrast_structure, ssim) in enumerate(kept):
        term = ssim if index == len(kept) - 1 else contrast_structure  # luminance only at the coarsest scale
        result *= max(term, 0.0) ** (exponent / total)
    return float(result)


def ms_ssim(x: np.ndarray, y: np.ndarray, region: np.ndarray | None = None, max_scales: int = 5) -> np.ndarray:
    """MS-SSIM per image of x, y uint8 (B, H, W, 3) or (H, W, 3), over ``region`` bool (H, W) → float64 (B,).

    Only windows lying wholly inside ``region`` count (at coarser scales, a pixel belongs to the region when
    all the pixels it averages do). Scales are halved while the image keeps at least 11 pixels a side (at most
    ``max_scales``); a scale with no window inside the region is left out, and the exponents of the scales
    used are renormalised to sum to 1. NaN when even the finest scale has no such window.
    """
    x = np.asarray(x, np.float64).reshape(-1, *np.shape(x)[-3:])
    y = np.asarray(y, np.float64).reshape(-1, *np.shape(y)[-3:])
    height, width = x.shape[1:3]
    if min(height, width) < SSIM_WINDOW:
        raise InputError(f"MS-SSIM needs images at least {SSIM_WINDOW} pixels a side, got {width}x{height}")
    region = np.ones((height, width), bool) if region is None else np.asarray(region, bool)
    scales = 1
    while scales < min(max_scales, len(MS_SSIM_WEIGHTS)) and min(height, width) >> scales >= SSIM_WINDOW:
        scales += 1
    return np.array([_ms_ssim_one(a, b, region, scales) for a, b in zip(x, y)])


def _chunks(count: int, size: int = FRAME_CHUNK) -> list[slice]:
    """Slices cutting ``count`` frames into chunks (bounds memory on long, large videos)."""
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]


def psnr(frames: np.ndarray, reference: np.ndarray, region: np.ndarray | None = None, peak: float = 255.0) -> float:
    """PSNR in dB of ``frames`` against ``reference`` (same shape: (N, H, W, 3), or (H, W, 3) for one
    picture), the squared error pooled over all frames and channels of the ``region`` pixels (bool (H, W);
    None: all). ``peak``: the largest intensity (255 for uint8, 1 for images in [0, 1])."""
    if region is not None:
        frames, reference = frames[..., region, :], reference[..., region, :]
    error = np.asarray(frames, np.float64) - np.asarray(reference, np.float64)
    return float(10 * np.log10(peak**2 / max(float(np.mean(error**2)), 1e-10)))


def static_rmse(frames: np.ndarray, image: np.ndarray, static: np.ndarray) -> float:
    """Mean over frames of the RMSE (0–255) between frame and ``image`` over the ``static`` pixels."""
    if not static.any():
        return float("nan")
    reference = image[static].astype(np.float64)
    errors = [np.sqrt(np.mean((frame[static].astype(np.float64) - reference) ** 2)) for frame in frames]
    return float(np.mean(errors))


def static_ms_ssim(frames: np.ndarray, image: np.ndarray, static: np.ndarray) -> float:
    """Mean over frames of the MS-SSIM between frame and ``image`` over the ``static`` region."""
    scores = [ms_ssim(frames[part], np.broadcast_to(image, frames[part].shape), static)
              for part in _chunks(len(frames))]
    return float(np.mean(np.concatenate(scores)))


def frame_differences(frames: np.ndarray, region: np.ndarray | None = None) -> np.ndarray:
    """Mean absolute difference (0–255) of each consecutive pair of frames over ``region`` → (N − 1,)."""
    if (region is not None and not region.any()) or len(frames) < 2:
        return np.zeros(0)
    differences, previous = [], None
    for frame in frames:  # one pair at a time: long, large videos stay within memory
        values = (frame if region is None else frame[region]).astype(np.int16)
        if previous is not None:
            differences.append(np.abs(values - previous).mean())
        previous = values
    return np.array(differences)


def mean_change(frames: np.ndarray, region: np.ndarray) -> float:
    """Mean absolute change between consecutive frames over ``region`` (0–255); NaN when there is none."""
    differences = frame_differences(frames, region)
    return float(differences.mean()) if differences.size else float("nan")


def static_flicker(frames: np.ndarray, static: np.ndarray) -> float:
    """Mean absolute change between consecutive frames over the static region (0–255)."""
    return mean_change(frames, static)


def static_drift(frames: np.ndarray, static: np.ndarray) -> float:
    """Mean over static pixels of |least-squares slope of intensity over time| × (N − 1), 0–255."""
    if not static.any() or len(frames) < 2:
        return float("nan")
    time = np.arange(len(frames), dtype=np.float64) - (len(frames) - 1) / 2.0  # centred: Σ time = 0
    weighted = np.zeros(int(static.sum()))
    for offset, frame in zip(time, frames):
        weighted += offset * frame[static].mean(axis=-1, dtype=np.float64)  # gray
    slopes = weighted / np.sum(time**2)
    return float(np.mean(np.abs(slopes)) * (len(frames) - 1))


def seam_ratio(frames: np.ndarray, eps: float = 1e-6) -> tuple[float, float, float]:
    """(ratio, seam difference, typical difference): last → first frame difference over the median consecutive one.

    Differences are mean absolute (0–255) over the whole frame; a still video counts as seamless (ratio 1).
    """
    if len(frames) < 3:
        raise InputError(f"the loop seam needs at least 3 frames, the video has {len(frames)}")
    typical = float(np.median(frame_differences(frames)))
    seam = float(frame_differences(frames[[-1, 0]])[0])
    return (seam + eps) / (typical + eps), seam, typical


def motion_energy(frames: np.ndarray, moving: np.ndarray) -> float:
    """Mean absolute change between consecutive frames inside the moving region (0–255)."""
    return mean_change(frames, moving)


PerceptualMetric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def default_lpips_path() -> Path:
    """Where a TorchScript LPIPS is looked for: ``$CINEMAGRAPH_MODELS/lpips/lpips.pt``."""
    return models_dir() / "lpips" / "lpips.pt"


def load_lpips(path: str | Path | None = None) -> PerceptualMetric | None:
    """A TorchScript LPIPS ``(x, y) -> distances`` on float32 (B, 3, H, W) in [-1, 1], or None if absent.

    ``path`` defaults to ``default_lpips_path()``; a named file that does not exist raises InputError.
    """
    file = Path(path).expanduser() if path else default_lpips_path()
    if not file.is_file():
        if path:
            raise InputError(f"LPIPS model not found: {file} (give a TorchScript LPIPS or leave it out)")
        return None
    stat = file.stat()
    return _load_lpips_file(str(file.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=2)
def _load_lpips_file(path: str, size: int, mtime_ns: int) -> PerceptualMetric:
    """Load a TorchScript LPIPS (memoised on its path, size and modification time: once per process)."""
    return torch.jit.load(path, map_location="cpu").eval()


@torch.no_grad()
def static_lpips(frames: np.ndarray, image: np.ndarray, static: np.ndarray, metric: PerceptualMetric) -> float:
    """Mean LPIPS between each frame, its moving region replaced by ``image``'s, and ``image``."""
    def to_input(batch: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float() / 127.5 - 1.0

    distances = []
    for part in _chunks(len(frames)):
        masked = np.where(static[None, :, :, None], frames[part], image[None])
        reference = np.broadcast_to(image, masked.shape)
        distances.append(metric(to_input(masked), to_input(reference)).reshape(-1).double().numpy())
    return float(np.mean(np.concatenate(distances)))


def video_metrics(frames: np.ndarray, image: np.ndarray, moving: np.ndarray, margin: int = 0,
                  lpips: PerceptualMetric | None = None) -> dict[str, float]:
    """Every metric of the module docstring for one video → {name: value} (NaN where undefined).

    frames: uint8 (N, H, W, 3); image: uint8 (H, W, 3); moving: bool (H, W); ``margin``: pixels around the
    moving region left out of the static metrics.
    """
    if frames.ndim != 4 or frames.shape[1:3] != image.shape[:2] or moving.shape != image.shape[:2]:
        raise InputError(f"frames {frames.shape[1:3]}, input image {image.shape[:2]} and mask {moving.shape} "
                         "must have the same height and width")
    static = static_region(moving, margin)
    ratio, seam, typical = seam_ratio(frames)
    return {
        "static_fraction": float(static.mean()),
        "static_rmse": static_rmse(frames, image, static),
        "static_ms_ssim": static_ms_ssim(frames, image, static),
        "static_lpips": static_lpips(frames, image, static, lpips) if lpips is not None else float("nan"),
        "static_flicker": static_flicker(frames, static),
        "static_drift": static_drift(frames, static),
        "seam_ratio": ratio,
        "seam_difference": seam,
        "typical_difference": typical,
        "motion_energy": motion_energy(frames, moving),
    }
