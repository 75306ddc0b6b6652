"""Dense Eulerian flow fields from sparse hints or a direction, and their colour-wheel pictures.

A hint is a point with a motion vector; a mask marks the region that moves. Each connected region of
the mask takes the hints that lie in it (a region without hints takes all of them), interpolates them with
Gaussian-weighted averaging (a softmax over squared distances, so it never underflows) and is zero outside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np

from stages.text.directions import angle_to_vector, vector_to_angle
from stages.errors import InputError


@dataclass(frozen=True)
class Hint:
    """A motion hint: position (x, y) in pixels and vector (dx, dy) in pixels per frame (y down)."""

    x: float
    y: float
    dx: float
    dy: float

    @classmethod
    def parse(cls, text: str) -> "Hint":
        """Parse ``"X,Y,DX,DY"`` (as given on the command line)."""
        try:
            x, y, dx, dy = (float(part) for part in text.split(","))
        except ValueError:
            raise InputError(f"bad hint {text!r}: write X,Y,DX,DY, e.g. 120,80,1.5,0") from None
        if not np.all(np.isfinite([x, y, dx, dy])):
            raise InputError(f"bad hint {text!r}: every number must be finite")
        return cls(x, y, dx, dy)


def check_mask(mask: np.ndarray) -> np.ndarray:
    """Return ``mask`` as bool (H, W), raising InputError when it selects nothing."""
    mask = np.asarray(mask).astype(bool)
    if mask.ndim != 2:
        raise InputError(f"a mask must be a single-channel (H, W) image, got shape {mask.shape}")
    if not mask.any():
        raise InputError("the mask is empty: paint the region to animate in white on black")
    return mask


def region_hints(mask: np.ndarray, angle_degrees: float, speed: float = 1.0) -> list[Hint]:
    """One hint per connected region of ``mask``, at its centroid, pointing at ``angle_degrees``.

    ``speed`` is the vector length in pixels per frame.
    """
    dx, dy = angle_to_vector(angle_degrees)
    return [Hint(float(cols.mean()), float(rows.mean()), speed * dx, speed * dy)
            for rows, cols in _regions(check_mask(mask))]


def hints_from_flow(flow: np.ndarray, mask: np.ndarray) -> list[Hint]:
    """One hint per connected region of ``mask`` (H, W): the region's mean ``flow`` (2, H, W) at its centroid."""
    return [Hint(float(cols.mean()), float(rows.mean()), float(flow[0, rows, cols].mean()),
                 float(flow[1, rows, cols].mean())) for rows, cols in _regions(mask)]


def mean_flow_angle(flow: np.ndarray, mask: np.ndarray) -> float:
    """Viewer-space angle in degrees [0, 360) of the mean of ``flow`` (2, H, W) inside ``mask`` (H, W)."""
    return vector_to_angle(float(flow[0][mask].mean()), float(flow[1][mask].mean()))


def _regions(mask: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(rows, cols) of the pixels of each 8-connected region of ``mask``."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    for label in range(1, count):
        yield np.nonzero(labels == label)


def dense_flow(mask: np.ndarray, hints: list[Hint], smoothness: float = 0.25) -> np.ndarray:
    """Interpolate ``hints`` over ``mask`` → float32 (2, H, W) flow, pixels per frame, zero outside.

    ``smoothness`` is the Gaussian's standard deviation as a fraction of the larger image side.
    """
    mask = check_mask(mask)
    if not hints:
        raise InputError("no motion given: pass a direction or at least one hint")
    height, width = mask.shape
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    owner = [_region_of(labels, hint) for hint in hints]
    sigma = max(smoothness * max(height, width), 1.0)
    flow = np.zeros((2, height, width), np.float32)
    for label in range(1, count):
        chosen = [h for h, o in zip(hints, owner) if o == label] or hints
        rows, cols = np.nonzero(labels == label)
        flow[:, rows, cols] = _interpolate(chosen, cols, rows, sigma)
    return flow


def _region_of(labels: np.ndarray, hint: Hint) -> int:
    """Label of the region holding the hint, or of the region nearest to it."""
    height, width = labels.shape
    col, row = int(round(hint.x)), int(round(hint.y))
    if 0 <= row < height and 0 <= col < width and labels[row, col] > 0:
        return int(labels[row, col])
    rows, cols = np.nonzero(labels)
    nearest = np.argmin((rows - hint.y) ** 2 + (cols - hint.x) ** 2)
    return int(labels[rows[nearest], cols[nearest]])


def _interpolate(hints: list[Hint], cols: np.ndarray, rows: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-softmax average of hint vectors at pixels (cols, rows) → (2, K)."""
    positions = np.array([[h.x, h.y] for h in hints], np.float64)
    vectors = np.array([[h.dx, h.dy] for h in hints], np.float64)
    logits = -((cols[None] - positions[:, :1]) ** 2 + (rows[None] - positions[:, 1:]) ** 2) / (2 * sigma**2)
    weights = np.exp(logits - logits.max(axis=0, keepdims=True))
    weights /= weights.sum(axis=0, keepdims=True)
    return (vectors.T @ weights).astype(np.float32)


def check_flow(flow: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Validate a user-supplied flow: float (2, H, W) matching ``shape`` (H, W), every value finite."""
    flow = np.asarray(flow)
    if flow.ndim == 4 and flow.shape[0] == 1:
        flow = flow[0]
    if flow.ndim != 3 or flow.shape[0] != 2 or flow.shape[1:] != tuple(shape):
        raise InputError(f"the flow must have shape (2, {shape[0]}, {shape[1]}), got {flow.shape}")
    if not np.all(np.isfinite(flow)):
        raise InputError("the flow holds NaN or infinite values; recompute it or pass a direction instead")
    return flow.astype(np.float32)


def flow_to_rgb(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-wheel picture of a flow: hue = direction, saturation = speed → uint8 (H, W, 3).

    Hue follows the viewer-space angle (0° = left to right = red, 90° = upwards = yellow-green, ...).
    """
    dx, dy = flow[0].astype(np.float32), flow[1].astype(np.float32)
    magnitude = np.hypot(dx, dy)
    scale = max_magnitude or float(magnitude.max()) or 1.0
    hue = (np.degrees(np.arctan2(-dy, dx)) % 360.0) / 2.0  # OpenCV hue is 0..180
    hsv = np.stack([hue, np.clip(magnitude / scale, 0, 1) * 255.0, np.full_like(hue, 255.0)], axis=2)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
