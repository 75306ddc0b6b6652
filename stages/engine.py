"""The motion engine: Euler integration, symmetric softmax splatting, hole filling and compositing.

Given an image, a moving-region mask and an Eulerian flow F (constant over time), frame n of an N-frame loop
forward-warps the image by the integrated displacement F_{0→n} and backward-warps it by F_{N→n}, blends the
two with α_n = 1 − n/N (softmax splatting, weights exp(Z)), fills the few remaining holes and composites the
static region from the input with a feathered mask. Frame 0 and frame N are the input: the loop is seamless.

Only the pixels of the mask are integrated and splatted, so the cost scales with the moving area.
Pure PyTorch: runs on CPU or GPU.
"""

from __future__ import annotations

from typing import Iterator

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from stages.errors import InputError
from stages.flowfield import check_mask


def sample_bilinear(field: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Sample ``field`` (C, H, W) at ``points`` (K, 2) pixel coordinates (x, y) → (K, C); zero outside."""
    _, height, width = field.shape
    scale = points.new_tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)])
    grid = (points * scale - 1.0).view(1, 1, -1, 2)
    sampled = F.grid_sample(field[None], grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return sampled[0, :, 0].T


def euler_displacements(flow: torch.Tensor, points: torch.Tensor, steps: int) -> Iterator[torch.Tensor]:
    """Yield D_0 = 0, D_1, ..., D_steps (each (K, 2)) with D_n = D_{n−1} + F(p + D_{n−1}) — O(steps) work.

    ``flow``: (2, H, W) pixels per frame; ``points``: (K, 2) start positions (x, y).
    """
    displacement = torch.zeros_like(points)
    yield displacement
    for _ in range(steps):
        displacement = displacement + sample_bilinear(flow, points + displacement)
        yield displacement


def splat_bilinear(target_size: int, width: int, points: torch.Tensor, values: torch.Tensor,
                   weights: torch.Tensor) -> torch.Tensor:
    """Softmax-splat ``values`` (K, C) with ``weights`` (K,) at ``points`` (K, 2) → (target_size, C + 1).

    The result holds Σ w·v in the first C columns and Σ w in the last, over a row-major image of
    ``width`` columns (``target_size`` = H·W); points outside the image are dropped.
    """
    height = target_size // width
    x0, y0 = torch.floor(points[:, 0]), torch.floor(points[:, 1])
    fx, fy = points[:, 0] - x0, points[:, 1] - y0
    payload = torch.cat([values * weights[:, None], weights[:, None]], dim=1)
    accumulator = payload.new_zeros(target_size, payload.shape[1])
    for dx, dy, share in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                          (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        cx, cy = x0 + dx, y0 + dy
        inside = (cx >= 0) & (cx < width) & (cy >= 0) & (cy < height) & (share > 0)
        index = (cy[inside] * width + cx[inside]).long()
        accumulator.index_add_(0, index, payload[inside] * share[inside, None])
    return accumulator


def fill_holes(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Fill pixels of zero weight from their surroundings by a push-pull pyramid.

    ``values``: (C, H, W) weighted means where ``weights`` (H, W) > 0; returns (C, H, W) with every pixel set.
    """
    known = (weights > 0).to(values.dtype)
    if bool(known.all()) or not bool(known.any()):
        return values
    levels = [(values * known, known)]
    while min(levels[-1][1].shape[-2:]) > 1 and not bool((levels[-1][1] > 0).all()):
        summed, count = levels[-1]
        levels.append((F.avg_pool2d(summed[None], 2, ceil_mode=True)[0],
                       F.avg_pool2d(count[None, None], 2, ceil_mode=True)[0, 0]))
    summed, count = levels[-1]
    filled = summed / count.clamp_min(1e-12)
    for summed, count in reversed(levels[:-1]):
        coarse = F.interpolate(filled[None], size=count.shape, mode="bilinear", align_corners=False)[0]
        here = summed / count.clamp_min(1e-12)
        filled = torch.where(count > 0, here, coarse)
    return filled


def feather_weights(mask: np.ndarray, feather_px: float) -> np.ndarray:
    """Compositing weight S (H, W) float32: 0 outside the mask, rising to 1 at ``feather_px`` inside."""
    if feather_px <= 0:
        return mask.astype(np.float32)
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    return np.clip(distance / feather_px, 0.0, 1.0).astype(np.float32)


class LoopRenderer:
    """Render the frames of a seamless N-frame loop of ``image`` moving along ``flow`` inside ``mask``.

    image: uint8 (H, W, 3); mask: bool (H, W); flow: float32 (2, H, W) pixels per frame;
    importance: optional float (H, W) Z for softmax splatting (higher wins where pixels collide).
    Iterate to get N uint8 (H, W, 3) frames; ``frame(n)`` renders any 0 ≤ n ≤ N (frame N = frame 0).
    """

    def __init__(self, image: np.ndarray, mask: np.ndarray, flow: np.ndarray, frames: int = 120,
                 feather_px: float = 3.0, importance: np.ndarray | None = None,
                 device: str | torch.device = "cpu"):
        if frames < 2:
            raise InputError(f"a loop needs at least 2 frames, got {frames}")
        mask = check_mask(mask)
        if image.shape[:2] != mask.shape or flow.shape[1:] != mask.shape:
            raise InputError(f"image {image.shape[:2]}, mask {mask.shape} and flow {flow.shape[1:]} differ in size")
        self.frames, self.device = frames, torch.device(device)
        self.image = image
        self.height, self.width = mask.shape
        self._box = _bounding_box(mask, pad=2)
        rows, cols = np.nonzero(mask)
        self._mask_index = torch.from_numpy(rows * self.width + cols).to(self.device)
        self._points = torch.from_numpy(np.stack([cols, rows], 1).astype(np.float32)).to(self.device)
        pixels = torch.from_numpy(image.reshape(-1, 3)).to(self.device).float() / 255.0
        self._pixels = pixels
        self._values = pixels[self._mask_index]
        z = torch.zeros(len(rows), device=self.device) if importance is None else \
            torch.from_numpy(np.asarray(importance, np.float32)[rows, cols]).to(self.device)
        self._exp_z = torch.exp(z - z.max())
        self._flow = torch.from_numpy(np.ascontiguousarray(flow, np.float32)).to(self.device)
        self._feather = torch.from_numpy(feather_weights(mask, feather_px)[rows, cols]).to(self.device)
        self._backward = torch.stack(list(euler_displacements(-self._flow, self._points, frames)))
        self._forward_state: tuple[int, Iterator[torch.Tensor], torch.Tensor] | None = None

    def __len__(self) -> int:
        return self.frames

    def __iter__(self) -> Iterator[np.ndarray]:
        for n in range(self.frames):
            yield self.frame(n)

    def _forward(self, n: int) -> torch.Tensor:
        """F_{0→n} for the mask pixels, advancing one cached integrator (restarted when n goes back)."""
        if self._forward_state is None or self._forward_state[0] > n:
            steps = euler_displacements(self._flow, self._points, self.frames)
            self._forward_state = (0, steps, next(steps))
        index, steps, displacement = self._forward_state
        while index < n:
            index, displacement = index + 1, next(steps)
        self._forward_state = (index, steps, displacement)
        return displacement

    @torch.inference_mode()
    def frame(self, n: int) -> np.ndarray:
        """Frame n (0 ≤ n ≤ N) as uint8 (H, W, 3)."""
        if not 0 <= n <= self.frames:
            raise InputError(f"frame {n} is outside the loop 0..{self.frames}")
        alpha = 1.0 - n / self.frames
        points = torch.cat([self._points + self._forward(n), self._points + self._backward[self.frames - n]])
        weights = torch.cat([self._exp_z * alpha, self._exp_z * (1.0 - alpha)])
        values = torch.cat([self._values, self._values])
        top, bottom, left, right = self._box
        box_width = right - left
        local = points - points.new_tensor([left, top])
        splat = splat_bilinear((bottom - top) * box_width, box_width, local, values, weights)
        rendered = self._resolve(splat, top, bottom, left, right)
        static = self._pixels[self._mask_index]
        moving = self._feather[:, None] * rendered + (1.0 - self._feather[:, None]) * static
        out = self._pixels.clone()
        out[self._mask_index] = moving
        return out.view(self.height, self.width, 3).mul(255).round().byte().cpu().numpy()

    def _resolve(self, splat: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
        """Normalise splatted sums inside the box, fill holes (static pixels count as known) → mask pixels (K, 3)."""
        box_h, box_w = bottom - top, right - left
        weight = splat[:, 3]
        colour = splat[:, :3] / weight.clamp_min(1e-12)[:, None]
        local_index = (self._mask_index // self.width - top) * box_w + (self._mask_index % self.width - left)
        outside = torch.ones(box_h * box_w, dtype=torch.bool, device=self.device)
        outside[local_index] = False
        box_pixels = self._pixels.view(self.height, self.width, 3)[top:bottom, left:right].reshape(-1, 3)
        known = (weight > 1e-6) | outside
        colour = torch.where(outside[:, None], box_pixels, colour)
        filled = fill_holes(colour.T.reshape(3, box_h, box_w), known.view(box_h, box_w).float())
        return filled.reshape(3, -1).T[local_index]


def _bounding_box(mask: np.ndarray, pad: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the mask's True pixels, widened by ``pad`` and clipped to the image."""
    rows, cols = np.nonzero(mask)
    height, width = mask.shape
    return (max(int(rows.min()) - pad, 0), min(int(rows.max()) + pad + 1, height),
            max(int(cols.min()) - pad, 0), min(int(cols.max()) + pad + 1, width))
