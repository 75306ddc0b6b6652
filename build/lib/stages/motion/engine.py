"""The motion engine: Euler integration, symmetric softmax splatting, hole filling and compositing.

Given an image, a moving-region mask and an Eulerian flow F (constant over time), frame n of an N-frame loop
forward-warps the image by the integrated displacement F_{0→n} and backward-warps it by F_{N→n}, blends the
two with α_n = 1 − n/N (softmax splatting, weights exp(Z)), fills the few remaining holes and composites the
static region from the input with a feathered mask. Frame 0 and frame N are the input: the loop is seamless.

Only the pixels of the mask are integrated and splatted, so the cost scales with the moving area. The
backward displacements, needed last-first, are kept at √N checkpoints (:class:`ReverseIntegrator`), so
memory does not grow with the number of frames; iterating renders several frames at once
(``stages.threads``). Pure PyTorch: runs on CPU or GPU.
"""

from __future__ import annotations

from math import isqrt
from typing import Iterator

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from stages.errors import InputError
from stages.motion.flowfield import check_mask
from stages.motion.kernels import (SPLAT_PAD, compiled_known_block_sums, composite_frame, euler_step,
                                   normalised_splat)
from stages.threads import map_in_order


def sample_bilinear(field: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Sample ``field`` (C, H, W) at ``points`` (K, 2) pixel coordinates (x, y) → (K, C); zero outside."""
    _, height, width = field.shape
    scale = points.new_tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)])
    grid = (points * scale - 1.0).view(1, 1, -1, 2)
    sampled = F.grid_sample(field[None], grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return sampled[0, :, 0].T


def pixel_grid(height: int, width: int, device: str | torch.device = "cpu",
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Coordinates (x, y) of every pixel, row by row → (H·W, 2)."""
    rows, cols = torch.meshgrid(torch.arange(height, device=device, dtype=dtype),
                                torch.arange(width, device=device, dtype=dtype), indexing="ij")
    return torch.stack([cols.flatten(), rows.flatten()], 1)


def check_loop_inputs(image: np.ndarray, mask: np.ndarray, flow: np.ndarray, frames: int) -> np.ndarray:
    """Validate a renderer's inputs — image (H, W, 3), mask (H, W), flow (2, H, W), at least 2 frames — and
    return the mask as bool."""
    if frames < 2:
        raise InputError(f"a loop needs at least 2 frames, got {frames}")
    mask = check_mask(mask)
    if image.shape[:2] != mask.shape or flow.shape[1:] != mask.shape:
        raise InputError(f"image {image.shape[:2]}, mask {mask.shape} and flow {flow.shape[1:]} differ in size")
    return mask


def euler_displacements(flow: torch.Tensor, points: torch.Tensor, steps: int,
                        start: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
    """Yield D_0, D_1, ..., D_steps (each (K, 2)) with D_n = D_{n−1} + F(p + D_{n−1}) — O(steps) work.

    ``flow``: (2, H, W) pixels per frame; ``points``: (K, 2) start positions (x, y); D_0 = ``start`` (K, 2)
    (default zero: resuming from a stored D_m continues that integration exactly). On CPU (float32, no
    gradient) each step is one compiled pass (``stages.motion.kernels``), else a grid sample.
    """
    compiled = flow.device.type == "cpu" and flow.dtype == torch.float32 and not flow.requires_grad
    displacement = torch.zeros_like(points) if start is None else start
    yield displacement
    for _ in range(steps):
        if compiled:
            displacement = euler_step(flow, points, displacement)
        else:
            displacement = displacement + sample_bilinear(flow, points + displacement)
        yield displacement


class ForwardIntegrator:
    """F_{0→n} at ``points`` (K, 2) for 0 ≤ n ≤ ``steps``, advancing one Euler integrator as n grows.

    Consecutive frames cost one step each; asking for an earlier n restarts from zero.
    """

    def __init__(self, flow: torch.Tensor, points: torch.Tensor, steps: int):
        self.flow, self.points, self.steps = flow, points, steps
        self._state: tuple[int, Iterator[torch.Tensor], torch.Tensor] | None = None

    def __call__(self, n: int) -> torch.Tensor:
        """The displacement (K, 2) after n steps."""
        if self._state is None or self._state[0] > n:
            steps = euler_displacements(self.flow, self.points, self.steps)
            self._state = (0, steps, next(steps))
        index, steps, displacement = self._state
        while index < n:
            index, displacement = index + 1, next(steps)
        self._state = (index, steps, displacement)
        return displacement


class ReverseIntegrator:
    """F_{0→m} at ``points`` (K, 2) for 0 ≤ m ≤ ``steps``, cheapest when asked for m = steps, steps − 1, …, 0.

    One pass keeps the displacement every ⌊√steps⌋ steps (checkpoints); a segment between two checkpoints
    is re-integrated from its checkpoint when first asked for. Memory: about 2√steps displacements instead
    of steps + 1; work: at most 2·steps Euler steps for the whole reverse sweep. Values are bit-identical to
    one straight integration.
    """

    def __init__(self, flow: torch.Tensor, points: torch.Tensor, steps: int):
        self.flow, self.points, self.steps = flow, points, steps
        self.segment = max(1, isqrt(steps))
        self._checkpoints: dict[int, torch.Tensor] = {}
        segment: list[torch.Tensor] = []
        for m, displacement in enumerate(euler_displacements(flow, points, steps)):
            if m % self.segment == 0:
                self._checkpoints[m], segment = displacement, []
            segment.append(displacement)
        self._start, self._segment = steps - steps % self.segment, segment  # the last segment, ready

    def __call__(self, m: int) -> torch.Tensor:
        """The displacement (K, 2) after m steps."""
        start = m - m % self.segment
        if start != self._start:
            resumed = euler_displacements(self.flow, self.points, self.segment - 1, self._checkpoints[start])
            self._start, self._segment = start, list(resumed)
        return self._segment[m - start]


def splat_accumulator(channels: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """A zeroed accumulator (channels, (H + 4)·(W + 4)) for :func:`splat_add`, dtype and device of ``like``."""
    return like.new_zeros(channels, (height + 2 * SPLAT_PAD) * (width + 2 * SPLAT_PAD))


def splat_add(accumulator: torch.Tensor, points: torch.Tensor, payload: torch.Tensor, height: int, width: int,
              scale: float = 1.0) -> None:
    """Add ``scale`` · ``payload`` (C, K) bilinearly at ``points`` (K, 2) (x, y) into ``accumulator``.

    Each point spreads over its four neighbours; points off the image land in the cut-away border (indices
    are computed in float32: exact below 2^24 pixels).
    """
    padded_width = width + 2 * SPLAT_PAD
    x = points[:, 0].clamp(-1.5, width + 0.5)
    y = points[:, 1].clamp(-1.5, height + 0.5)
    x0, y0 = x.floor(), y.floor()
    index = ((y0 + SPLAT_PAD) * padded_width + (x0 + SPLAT_PAD)).long().expand(payload.shape[0], -1)
    fx, fy = x - x0, y - y0
    gx, gy = 1 - fx, 1 - fy
    if scale != 1.0:
        fx, gx = fx * scale, gx * scale
    for offset, share in ((0, gx * gy), (1, fx * gy), (padded_width, gx * fy), (padded_width + 1, fx * fy)):
        accumulator[:, offset:].scatter_add_(1, index, payload * share)


def splat_image(accumulator: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The (C, H, W) image of an accumulator of :func:`splat_accumulator`, border cut away (a view)."""
    channels = accumulator.shape[0]
    padded = accumulator.view(channels, height + 2 * SPLAT_PAD, width + 2 * SPLAT_PAD)
    return padded[:, SPLAT_PAD:SPLAT_PAD + height, SPLAT_PAD:SPLAT_PAD + width]


def splat_bilinear(points: torch.Tensor, values: torch.Tensor, weights: torch.Tensor,
                   height: int, width: int) -> torch.Tensor:
    """Softmax-splat ``values`` (C, K) with ``weights`` (K,) at ``points`` (K, 2) (x, y) → (C + 1, H, W).

    Returns Σ w·v in the first C channels and Σ w in the last; each point spreads bilinearly over its four
    neighbours; points off the image are dropped.
    """
    payload = torch.cat([values * weights, weights[None]])
    accumulator = splat_accumulator(payload.shape[0], height, width, payload)
    splat_add(accumulator, points, payload, height, width)
    return splat_image(accumulator, height, width)


def fill_holes(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Fill pixels of zero weight from their surroundings by a push-pull pyramid.

    ``values``: (C, H, W) weighted means where ``weights`` (H, W) > 0; returns (C, H, W) with every pixel set.
    Known pixels are returned unchanged; at full resolution only the holes are interpolated (they are
    usually few), from the pyramid's next level as bilinear upsampling (half-pixel centres) would.
    """
    known = weights > 0
    if bool(known.all()) or not bool(known.any()):
        return values
    known = known.to(values.dtype)
    if min(values.shape[-2:]) > 1:
        levels = [known_block_sums(values, known)]  # (Σ known values, count) per 2 × 2 block
    else:
        levels = [torch.cat([values * known, known[None]])]
    while min(levels[-1].shape[-2:]) > 1 and not bool((levels[-1][-1] > 0).all()):
        levels.append(_block_sums(levels[-1]))
    filled = levels[-1][:-1] / levels[-1][-1].clamp_min(1e-12)
    for level in reversed(levels[:-1]):
        summed, count = level[:-1], level[-1]
        coarse = F.interpolate(filled[None], size=count.shape, mode="bilinear", align_corners=False)[0]
        filled = torch.where(count > 0, summed / count.clamp_min(1e-12), coarse)
    holes = torch.nonzero(known == 0)
    out = values.clone()
    out[:, holes[:, 0], holes[:, 1]] = _upsampled_at(filled, holes, values.shape[-2:])
    return out


def known_block_sums(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Sums over 2 × 2 blocks of ``values`` (C, H, W) · ``known`` (H, W, 0 or 1) and of ``known`` →
    (C + 1, ⌈H/2⌉, ⌈W/2⌉): the first level of the push-pull pyramid (one compiled pass on CPU)."""
    if values.device.type == "cpu" and values.dtype == torch.float32 and not values.requires_grad:
        return compiled_known_block_sums(values, known)
    return _block_sums(torch.cat([values * known, known[None]]))


def _block_sums(grid: torch.Tensor) -> torch.Tensor:
    """Sums over 2 × 2 blocks of (C, H, W) → (C, ⌈H/2⌉, ⌈W/2⌉) (odd sides: the last block is half empty)."""
    channels, height, width = grid.shape
    if height % 2 or width % 2:
        grid = F.pad(grid, (0, width % 2, 0, height % 2))
    rows = grid[:, 0::2] + grid[:, 1::2]
    return rows[:, :, 0::2] + rows[:, :, 1::2]


def _upsampled_at(coarse: torch.Tensor, pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``F.interpolate(coarse, size, mode="bilinear", align_corners=False)`` at ``pixels`` (K, 2) (row, col)
    only → (C, K)."""
    corners = []
    for axis in (0, 1):
        inside, outside = coarse.shape[1 + axis], size[axis]
        source = ((pixels[:, axis].to(coarse.dtype) + 0.5) * (inside / outside) - 0.5).clamp_min(0)
        low = source.long()
        corners.append((low, (low + 1).clamp_max(inside - 1), source - low))
    (y0, y1, fy), (x0, x1, fx) = corners
    top = coarse[:, y0, x0] * (1 - fx) + coarse[:, y0, x1] * fx
    bottom = coarse[:, y1, x0] * (1 - fx) + coarse[:, y1, x1] * fx
    return top * (1 - fy) + bottom * fy


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
    Iterate to get N uint8 (H, W, 3) frames (``stages.threads.frame_workers()`` of them rendered at once);
    ``frame(n)`` renders any 0 ≤ n ≤ N (frame N = frame 0).
    """

    def __init__(self, image: np.ndarray, mask: np.ndarray, flow: np.ndarray, frames: int = 120,
                 feather_px: float = 3.0, importance: np.ndarray | None = None,
                 device: str | torch.device = "cpu"):
        mask = check_loop_inputs(image, mask, flow, frames)
        self.frames, self.device = frames, torch.device(device)
        self.height, self.width = mask.shape
        top, bottom, left, right = _bounding_box(mask, pad=2)
        self._box = (top, bottom, left, right)
        rows, cols = np.nonzero(mask)
        as_tensor = lambda array: torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
        self._image = as_tensor(image)
        points = as_tensor(np.stack([cols, rows], 1).astype(np.float32))
        self._box_points = points - points.new_tensor([left, top])  # the same, relative to the box
        box = (as_tensor(image[top:bottom, left:right]).permute(2, 0, 1).float() / 255.0).contiguous()
        self._box_static = box
        outside = ~mask[top:bottom, left:right]
        self._box_outside, self._some_static = as_tensor(outside), bool(outside.any())
        feather = feather_weights(mask, feather_px)[top:bottom, left:right]
        self._box_feather, self._blends = as_tensor(feather), bool((feather < 1).any())
        z = torch.zeros(len(rows), device=self.device) if importance is None else \
            as_tensor(np.asarray(importance, np.float32)[rows, cols])
        exp_z = torch.exp(z - z.max())
        self._payload = torch.cat([box[:, rows - top, cols - left] * exp_z, exp_z[None]])  # (4, K): Σ w·v, Σ w
        self._payload_rows = self._payload.T.contiguous()  # (K, 4) for the CPU kernel
        flow_tensor = as_tensor(flow.astype(np.float32))
        self._forward = ForwardIntegrator(flow_tensor, points, frames)
        self._backward = ReverseIntegrator(-flow_tensor, points, frames)

    def __len__(self) -> int:
        return self.frames

    def __iter__(self) -> Iterator[np.ndarray]:
        displacements = ((n, self._forward(n), self._backward(self.frames - n)) for n in range(self.frames))
        return map_in_order(self._render, displacements)

    def frame(self, n: int) -> np.ndarray:
        """Frame n (0 ≤ n ≤ N) as uint8 (H, W, 3)."""
        if not 0 <= n <= self.frames:
            raise InputError(f"frame {n} is outside the loop 0..{self.frames}")
        return self._render(n, self._forward(n), self._backward(self.frames - n))

    @torch.inference_mode()
    def _render(self, n: int, forward: torch.Tensor, backward: torch.Tensor) -> np.ndarray:
        """Frame n from its displacements F_{0→n} and F_{N→n} (K, 2) → uint8 (H, W, 3)."""
        alpha = 1.0 - n / self.frames
        top, bottom, left, right = self._box
        render = self._render_box_cpu if self.device.type == "cpu" else self._render_box
        rendered = render(((forward, alpha), (backward, 1.0 - alpha)), bottom - top, right - left)
        if (bottom - top, right - left) == (self.height, self.width):
            return rendered
        out = self._image.cpu().numpy().copy()
        out[top:bottom, left:right] = rendered
        return out

    def _render_box_cpu(self, directions, height: int, width: int) -> np.ndarray:
        """The box of a frame from its (displacement, share) ``directions`` with the compiled kernels."""
        colour, known = normalised_splat(self._box_points, self._payload_rows, height, width, list(directions),
                                         self._box_static, self._box_outside)
        colour = fill_holes(colour, known.float())
        return composite_frame(colour, self._box_static, self._box_feather)

    def _render_box(self, directions, height: int, width: int) -> np.ndarray:
        """The box of a frame from its (displacement, share) ``directions`` with torch operations (GPU)."""
        accumulator = splat_accumulator(4, height, width, self._payload)
        for displacement, share in directions:
            if share > 0:
                splat_add(accumulator, self._box_points + displacement, self._payload, height, width, share)
        splat = splat_image(accumulator, height, width)
        colour = splat[:3] / splat[3].clamp_min(1e-12)
        known = splat[3] > 1e-6
        if self._some_static:
            colour = torch.where(self._box_outside, self._box_static, colour)  # static pixels are known
            known |= self._box_outside
        colour = fill_holes(colour, known.float())
        if self._blends:
            colour = torch.lerp(self._box_static, colour, self._box_feather)  # feather 0 outside: exactly static
        rendered = colour.mul_(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0)
        return rendered.contiguous().cpu().numpy()


def _bounding_box(mask: np.ndarray, pad: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the mask's True pixels, widened by ``pad`` and clipped to the image."""
    rows, cols = np.nonzero(mask)
    height, width = mask.shape
    return (max(int(rows.min()) - pad, 0), min(int(rows.max()) + pad + 1, height),
            max(int(cols.min()) - pad, 0), min(int(cols.max()) + pad + 1, width))
