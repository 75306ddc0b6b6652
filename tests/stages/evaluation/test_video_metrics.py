"""Static-consistency and loop metrics on synthetic videos with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d

from stages.evaluation.video_metrics import (SSIM_C1, SSIM_C2, estimate_moving_mask, load_lpips, ms_ssim, seam_ratio,
                                  static_drift, video_metrics)

HEIGHT, WIDTH, FRAMES = 48, 64, 24


def looping_video(cycles: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A still textured background with a band of waves moving right, ``cycles`` periods over the clip.

    With cycles = 1 the wave comes back exactly where it started: a perfect loop. → (frames, moving mask).
    """
    rng = np.random.default_rng(seed)
    background = rng.integers(40, 200, (HEIGHT, WIDTH, 3)).astype(np.float64)
    moving = np.zeros((HEIGHT, WIDTH), bool)
    moving[16:32] = True
    columns = np.arange(WIDTH)
    frames = []
    for t in range(FRAMES):
        frame = background.copy()
        wave = 128 + 100 * np.sin(2 * np.pi * (columns / 16.0 - cycles * t / FRAMES))
        frame[16:32] = wave[None, :, None]
        frames.append(frame)
    return np.stack(frames).round().astype(np.uint8), moving


def test_perfect_loop_scores_seam_ratio_one_and_no_static_change():
    frames, moving = looping_video()
    metrics = video_metrics(frames, frames[0], moving)
    assert metrics["seam_ratio"] == pytest.approx(1.0, abs=0.05)
    assert metrics["static_drift"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["static_flicker"] == 0.0
    assert metrics["static_rmse"] == 0.0
    assert metrics["static_ms_ssim"] == pytest.approx(1.0, abs=1e-9)
    assert metrics["motion_energy"] > 10.0
    assert metrics["static_fraction"] == pytest.approx(2 / 3)


def test_jump_at_the_seam_scores_clearly_worse():
    frames, moving = looping_video(cycles=0.5)  # half a period: the last frame is far from the first
    ratio, seam, typical = seam_ratio(frames)
    assert ratio > 5.0 and seam > 5 * typical


def test_flickering_background_scores_clearly_worse():
    frames, moving = looping_video()
    clean = video_metrics(frames, frames[0], moving)
    rng = np.random.default_rng(1)
    offsets = rng.choice([-12, 12], size=FRAMES)
    offsets[0] = 0
    flickering = frames.astype(np.int16)
    flickering[:, ~moving] += offsets[:, None, None]
    flickering = np.clip(flickering, 0, 255).astype(np.uint8)
    noisy = video_metrics(flickering, frames[0], moving)
    assert noisy["static_flicker"] > 10.0 > clean["static_flicker"]
    assert noisy["static_rmse"] == pytest.approx(12.0 * (FRAMES - 1) / FRAMES, rel=1e-6)
    assert noisy["static_ms_ssim"] < 0.999 < clean["static_ms_ssim"]
    assert noisy["motion_energy"] == pytest.approx(clean["motion_energy"])


def test_drift_measures_a_linear_change_of_the_static_region():
    frames, moving = looping_video()
    drifting = frames.astype(np.int16)
    drifting[:, ~moving] += np.arange(FRAMES)[:, None, None]  # +1 per frame: FRAMES − 1 over the clip
    drifting = drifting.astype(np.uint8)
    assert static_drift(drifting, ~moving) == pytest.approx(FRAMES - 1, rel=1e-9)


def test_still_video_is_a_seamless_loop():
    frames = np.full((5, 8, 8, 3), 77, np.uint8)
    assert seam_ratio(frames)[0] == pytest.approx(1.0)


def reference_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM of two gray images via SciPy's Gaussian filter (11 taps, σ 1.5), valid region only."""
    def blur(image):
        out = gaussian_filter1d(gaussian_filter1d(image, 1.5, axis=0, truncate=3.5), 1.5, axis=1, truncate=3.5)
        return out[5:-5, 5:-5]

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    ssim = (2 * mx * my + SSIM_C1) * (2 * cxy + SSIM_C2) / ((mx**2 + my**2 + SSIM_C1) * (vx + vy + SSIM_C2))
    return float(ssim.mean())


def test_single_scale_ssim_matches_an_independent_computation():
    rng = np.random.default_rng(2)
    gray = rng.integers(0, 256, (40, 50)).astype(np.float64)
    other = np.clip(gray + rng.normal(0, 30, gray.shape), 0, 255).round()
    x = np.repeat(gray[:, :, None], 3, axis=2).astype(np.uint8)
    y = np.repeat(other[:, :, None], 3, axis=2).astype(np.uint8)
    assert ms_ssim(x, y, max_scales=1)[0] == pytest.approx(reference_ssim(gray, other), rel=1e-9)


def test_ms_ssim_of_flat_images_is_the_luminance_term_at_the_coarsest_scale():
    x, y = np.full((96, 96, 3), 100, np.uint8), np.full((96, 96, 3), 110, np.uint8)
    luminance = (2 * 100 * 110 + SSIM_C1) / (100**2 + 110**2 + SSIM_C1)
    # 96 px allows 4 scales (96, 48, 24, 12); exponents renormalised over the first four weights.
    exponent = 0.2363 / (0.0448 + 0.2856 + 0.3001 + 0.2363)
    assert ms_ssim(x, y)[0] == pytest.approx(luminance**exponent, rel=1e-12)


def test_ms_ssim_ignores_differences_inside_the_left_out_region():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    y = x.copy()
    y[:, :20] = 255 - y[:, :20]
    region = np.zeros((64, 64), bool)
    region[:, 20:] = True
    assert ms_ssim(x, y, region)[0] == pytest.approx(1.0, abs=1e-12)
    assert ms_ssim(x, y)[0] < 0.9


def test_estimated_mask_finds_the_moving_band():
    frames, moving = looping_video()
    estimate = estimate_moving_mask(frames)
    assert (estimate == moving).mean() > 0.98


class MeanAbsoluteDifference(torch.nn.Module):
    """A stand-in perceptual distance with a known value, saved as TorchScript like a real LPIPS would be."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x - y).abs().mean(dim=(1, 2, 3))


def test_lpips_from_a_local_torchscript_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CINEMAGRAPH_MODELS", str(tmp_path))
    assert load_lpips() is None  # absent: the metric is left out, not an error
    path = tmp_path / "lpips" / "lpips.pt"
    path.parent.mkdir()
    torch.jit.script(MeanAbsoluteDifference()).save(str(path))
    frames, moving = looping_video()
    shifted = frames.copy()
    shifted[:, ~moving] += 10  # +10 everywhere static: the moving band is replaced by the input's anyway
    metrics = video_metrics(shifted, frames[0], moving, lpips=load_lpips())
    assert metrics["static_lpips"] == pytest.approx(10 / 127.5 * (~moving).mean(), rel=1e-5)
