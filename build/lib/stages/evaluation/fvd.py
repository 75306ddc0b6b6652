"""Fréchet Video Distance (Unterthiner et al. 2018) between a real and a generated set of videos.

Each video → the frames of a protocol (FVD16: ``frames[::3][:16]``; FVD60: ``frames[:60]``) → resized to
224×224 (bilinear) and scaled to [-1, 1] → I3D logits (400-d, averaged over time). Each set of logits is
summarised by its mean and covariance, and the Fréchet distance between the two Gaussians is computed in
float64 with a symmetric matrix square root. FVD falls as the number of videos N grows, so every score
carries N, and scores with different N (or protocol, or detector) refuse to be compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F

from stages.errors import InputError
from stages.evaluation.i3d import FEATURE_DIM, SIZE, Detector


@dataclass(frozen=True)
class Protocol:
    """Which frames a protocol feeds to I3D: ``frames[::stride][:length]``."""

    name: str
    stride: int
    length: int

    @property
    def frames_needed(self) -> int:
        """The shortest video the protocol accepts, in frames."""
        return (self.length - 1) * self.stride + 1


PROTOCOLS = {"fvd16": Protocol("fvd16", 3, 16), "fvd60": Protocol("fvd60", 1, 60)}


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name`` (``fvd16`` or ``fvd60``)."""
    if name not in PROTOCOLS:
        raise InputError(f"unknown FVD protocol {name!r}: use one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def select_frames(frames: np.ndarray, protocol: Protocol) -> np.ndarray:
    """The protocol's frames of uint8 (N, H, W, 3) → (length, H, W, 3); too short a video → InputError."""
    if len(frames) < protocol.frames_needed:
        raise InputError(f"{protocol.name} needs at least {protocol.frames_needed} frames, the video has "
                         f"{len(frames)}")
    return frames[:: protocol.stride][: protocol.length]


def preprocess(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) → float32 (3, T, 224, 224) in [-1, 1] (bilinear resize, half-pixel centres)."""
    video = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    video = F.interpolate(video, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    return (video / 127.5 - 1.0).clamp_(-1.0, 1.0).permute(1, 0, 2, 3).contiguous()


def video_features(detector: Detector, videos: Iterable[np.ndarray], protocol: Protocol,
                   batch_size: int = 4) -> np.ndarray:
    """I3D logits float64 (N, 400) of uint8 videos (each (frames, H, W, 3)) under ``protocol``."""
    features, batch = [], []
    for frames in videos:
        batch.append(preprocess(select_frames(frames, protocol)))
        if len(batch) == batch_size:
            features.append(detector(torch.stack(batch)).double().numpy())
            batch = []
    if batch:
        features.append(detector(torch.stack(batch)).double().numpy())
    return np.concatenate(features) if features else np.zeros((0, FEATURE_DIM))


def gaussian_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D), float64, of features (N, D); N >= 2."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise InputError(f"FVD needs at least 2 videos per set, got {len(features)}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (eigenvalues clipped at 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    """‖μa − μb‖² + tr(Σa + Σb − 2 (Σa^½ Σb Σa^½)^½), in float64.

    tr((Σa Σb)^½) is taken through the symmetric matrix Σa^½ Σb Σa^½ (same eigenvalues as Σa Σb), whose
    square root is real and well defined even when the covariances are singular (N < D).
    """
    mean_a, mean_b = np.asarray(mean_a, np.float64), np.asarray(mean_b, np.float64)
    cov_a, cov_b = np.asarray(cov_a, np.float64), np.asarray(cov_b, np.float64)
    root_a = _sqrt_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2.0), 0.0, None)).sum()
    distance = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross
    return float(max(distance, 0.0))


def fvd_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet distance between two feature sets (N, D) and (M, D)."""
    return frechet_distance(*gaussian_statistics(real), *gaussian_statistics(fake))


@dataclass(frozen=True)
class FVDScore:
    """One FVD value with what it depends on: protocol, set sizes and the detector's checksum."""

    protocol: str
    value: float
    n_real: int
    n_fake: int
    detector_sha256: str

    def check_comparable(self, other: FVDScore) -> None:
        """Raise InputError unless ``other`` was measured the same way (protocol, N, detector)."""
        for field in ("protocol", "n_real", "n_fake", "detector_sha256"):
            mine, theirs = getattr(self, field), getattr(other, field)
            if mine != theirs:
                raise InputError(f"FVD scores are not comparable: {field} differs ({mine} vs {theirs}); FVD "
                                 "depends on the number of videos and the detector, so compare only scores "
                                 "measured on equally many videos with the same detector")

    def difference(self, other: FVDScore) -> float:
        """``self.value - other.value`` after checking that the two are comparable."""
        self.check_comparable(other)
        return self.value - other.value


def score(real: np.ndarray, fake: np.ndarray, protocol: str, detector_sha256: str) -> FVDScore:
    """FVDScore of feature sets real (N, 400) and fake (M, 400)."""
    return FVDScore(protocol, fvd_from_features(real, fake), len(real), len(fake), detector_sha256)
