"""Pictures of the mask stage: label maps in distinct colours and masks over an image (uint8 (H, W, 3))."""

from __future__ import annotations

import cv2
import numpy as np

from stages.masks.selection import upsample_nearest


def palette(count: int) -> np.ndarray:
    """``count`` distinct colours, uint8 (count, 3), the same for the same count (golden-ratio hues)."""
    hues = ((np.arange(count) * 0.618034) % 1.0 * 180).astype(np.uint8)
    hsv = np.stack([hues, np.full(count, 200, np.uint8), np.full(count, 230, np.uint8)], axis=1)
    return cv2.cvtColor(hsv[None], cv2.COLOR_HSV2RGB)[0]


def label_picture(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """int (h, w) labels (−1 = none, drawn black) as colours at ``size`` (H, W), nearest upsampling."""
    colours = np.concatenate([palette(int(labels.max()) + 1), np.zeros((1, 3), np.uint8)])
    return colours[upsample_nearest(labels, size)]


def overlay(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = (255, 40, 40),
            opacity: float = 0.5) -> np.ndarray:
    """``image`` with bool (H, W) ``mask`` tinted in ``colour`` at ``opacity``."""
    tinted = image.astype(np.float32)
    tinted[mask] = (1 - opacity) * tinted[mask] + opacity * np.array(colour, np.float32)
    return tinted.round().astype(np.uint8)
