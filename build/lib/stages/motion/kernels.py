"""Compiled CPU kernels of the motion engine (Numba): one pass per operation, no temporaries.

PyTorch splats a frame as 4 corners × (a product of the payload with the corner's share + a scatter), each
a pass over the K moving points, and an Euler step as a grid sample plus an addition; here each is one pass
that reads every point once and works in place. The kernels release the GIL, so frames rendered in
parallel threads (``stages.threads``) run side by side, and they use no thread team of their own (nothing
to wait for when another process holds a core). Compiled on first use and cached beside this file.
Coordinates are pixels (x, y), as everywhere in the engine.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

SPLAT_PAD = 2
"""Splats go to an accumulator with this many extra pixels on each side (cut away): no bounds checks."""


@numba.njit(nogil=True, cache=True, fastmath=True)
def _splat_into(accumulator, points, displacement, payload, share, height, width):  # pragma: no cover
    """Add ``share`` · ``payload`` (K, 4) bilinearly at ``points + displacement`` (K, 2) into ``accumulator``
    ((H + 4)·(W + 4), 4); points are clamped into the cut-away border (as ``engine.splat_add`` does). Four
    channels, a constant: the compiler unrolls the channel loop."""
    padded_width = width + 2 * SPLAT_PAD
    low, high_x, high_y = np.float32(-1.5), np.float32(width + 0.5), np.float32(height + 0.5)
    one = np.float32(1)
    for i in range(points.shape[0]):
        x = min(max(points[i, 0] + displacement[i, 0], low), high_x)
        y = min(max(points[i, 1] + displacement[i, 1], low), high_y)
        x0, y0 = np.floor(x), np.floor(y)
        fx, fy = x - x0, y - y0
        gx, fx, gy = (one - fx) * share, fx * share, one - fy
        top_left, top_right, bottom_left, bottom_right = gx * gy, fx * gy, gx * fy, fx * fy
        at = (int(y0) + SPLAT_PAD) * padded_width + int(x0) + SPLAT_PAD
        for c in range(4):
            value = payload[i, c]
            accumulator[at, c] += value * top_left
            accumulator[at + 1, c] += value * top_right
            accumulator[at + padded_width, c] += value * bottom_left
            accumulator[at + padded_width + 1, c] += value * bottom_right


def _accumulate(points: torch.Tensor, payload: torch.Tensor, height: int, width: int,
                directions: list[tuple[torch.Tensor, float]]) -> np.ndarray:
    """Σ over ``directions`` (displacement (K, 2), share) of share · ``payload`` (K, 4) splatted bilinearly
    at ``points`` (K, 2) + displacement → the channels-last accumulator ((H + 4)·(W + 4), 4) float32."""
    accumulator = np.zeros(((height + 2 * SPLAT_PAD) * (width + 2 * SPLAT_PAD), 4), np.float32)
    rows, starts = np.ascontiguousarray(payload.numpy()), np.ascontiguousarray(points.numpy())
    for displacement, share in directions:
        if share > 0:
            _splat_into(accumulator, starts, np.ascontiguousarray(displacement.numpy()), rows, np.float32(share),
                        height, width)
    return accumulator


@numba.njit(nogil=True, cache=True, fastmath=True)
def _euler_step(flow, points, displacement, out):  # pragma: no cover
    """out = displacement + flow sampled bilinearly at points + displacement (zero outside the image)."""
    height, width = flow.shape[1], flow.shape[2]
    one = np.float32(1)
    for i in range(points.shape[0]):
        x, y = points[i, 0] + displacement[i, 0], points[i, 1] + displacement[i, 1]
        x0, y0 = np.floor(x), np.floor(y)
        fx, fy = x - x0, y - y0
        column, row = int(x0), int(y0)
        step_x = np.float32(0)
        step_y = np.float32(0)
        for dy in range(2):
            r = row + dy
            if r < 0 or r >= height:
                continue
            wy = fy if dy else one - fy
            for dx in range(2):
                c = column + dx
                if c < 0 or c >= width:
                    continue
                weight = wy * (fx if dx else one - fx)
                step_x += weight * flow[0, r, c]
                step_y += weight * flow[1, r, c]
        out[i, 0] = displacement[i, 0] + step_x
        out[i, 1] = displacement[i, 1] + step_y


def euler_step(flow: torch.Tensor, points: torch.Tensor, displacement: torch.Tensor) -> torch.Tensor:
    """D + F(p + D) for ``flow`` F (2, H, W) pixels per frame, ``points`` p and ``displacement`` D (K, 2),
    bilinear with zeros outside the image (as ``grid_sample`` with ``align_corners=True``) → (K, 2).

    CPU float32 tensors.
    """
    out = torch.empty_like(displacement)
    _euler_step(np.ascontiguousarray(flow.numpy()), np.ascontiguousarray(points.numpy()),
                np.ascontiguousarray(displacement.numpy()), out.numpy())
    return out


@numba.njit(nogil=True, cache=True)
def _normalise(accumulator, static, outside, height, width, colour, known):  # pragma: no cover
    """colour = Σ w·v / Σ w where Σ w > 1e-6 (``static`` where ``outside``), known = either; in place."""
    padded_width = width + 2 * SPLAT_PAD
    for y in range(height):
        for x in range(width):
            if outside[y, x]:
                for c in range(3):
                    colour[c, y, x] = static[c, y, x]
                known[y, x] = True
                continue
            at = (y + SPLAT_PAD) * padded_width + x + SPLAT_PAD
            weight = accumulator[at, 3]
            known[y, x] = weight > 1e-6
            inverse = np.float32(1) / max(weight, np.float32(1e-12))
            for c in range(3):
                colour[c, y, x] = accumulator[at, c] * inverse


def normalised_splat(points: torch.Tensor, payload: torch.Tensor, height: int, width: int,
                     directions: list[tuple[torch.Tensor, float]], static: torch.Tensor,
                     outside: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax-splat ``payload`` (K, 4: w·rgb, w) at ``points`` (K, 2) moved by each of ``directions``
    (displacement (K, 2), share; bilinear, points off the image dropped) and normalise → colour (3, H, W)
    float32 (``static`` (3, H, W) where ``outside`` (H, W) bool) and known (H, W) bool (weight > 1e-6 or
    outside)."""
    accumulator = _accumulate(points, payload, height, width, directions)
    colour, known = torch.empty(3, height, width), torch.empty(height, width, dtype=torch.bool)
    _normalise(accumulator, static.numpy(), outside.numpy(), height, width, colour.numpy(), known.numpy())
    return colour, known


@numba.njit(nogil=True, cache=True)
def _to_frame(colour, static, feather, out):  # pragma: no cover
    """out (H, W, 3) uint8 = round(255 · lerp(static, colour, feather)), clamped; in place."""
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            share = feather[y, x]
            for c in range(3):
                value = static[c, y, x] + share * (colour[c, y, x] - static[c, y, x])
                out[y, x, c] = np.uint8(min(max(np.rint(value * np.float32(255)), 0), 255))


def composite_frame(colour: torch.Tensor, static: torch.Tensor, feather: torch.Tensor) -> np.ndarray:
    """The uint8 (H, W, 3) frame of ``colour`` (3, H, W) in [0, 1] over ``static`` (3, H, W) with the weight
    ``feather`` (H, W) (1 = colour, 0 = exactly static)."""
    out = np.empty((colour.shape[1], colour.shape[2], 3), np.uint8)
    _to_frame(colour.numpy(), static.numpy(), feather.numpy(), out)
    return out


@numba.njit(nogil=True, cache=True)
def _known_block_sums(values, known, out):  # pragma: no cover
    """out[c, i, j] = Σ over the 2 × 2 block (i, j) of values[c] · known, out[C] = Σ known; in place."""
    channels, height, width = values.shape
    for y in range(height):
        for x in range(width):
            weight = known[y, x]
            if weight == 0:
                continue
            for c in range(channels):
                out[c, y // 2, x // 2] += values[c, y, x] * weight
            out[channels, y // 2, x // 2] += weight


def compiled_known_block_sums(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Sums over 2 × 2 blocks of ``values`` (C, H, W) · ``known`` (H, W) and of ``known`` →
    (C + 1, ⌈H/2⌉, ⌈W/2⌉) float32 (CPU float32 tensors)."""
    channels, height, width = values.shape
    out = torch.zeros(channels + 1, (height + 1) // 2, (width + 1) // 2)
    _known_block_sums(np.ascontiguousarray(values.numpy()), np.ascontiguousarray(known.numpy()), out.numpy())
    return out
