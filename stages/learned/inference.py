"""Using trained networks: G_flow predicts a flow for an image and mask; G_frame renders a seamless loop.

Both load from checkpoint folders (``stages.learned.checkpoint``) and run under ``torch.inference_mode()``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from stages.motion.engine import (ForwardIntegrator, ReverseIntegrator, check_loop_inputs, feather_weights, fill_holes,
                                  pixel_grid, splat_accumulator, splat_add, splat_image)
from stages.errors import InputError
from stages.motion.flowfield import check_mask, dense_flow, region_hints
from stages.images import to_tensor, to_uint8
from stages.learned.checkpoint import load_weights, read_checkpoint
from stages.learned.data import FLOW_SCALE
from stages.learned.flow_net import FlowNet, FlowNetConfig
from stages.learned.frame_net import FrameNet, FrameNetConfig, composite, normalise_splat, shrink
from stages.learned.text import TextEncoderOptions, encode_captions
from stages.devices import resolve_device
from stages.threads import map_in_order


class FlowPredictor:
    """A trained G_flow. ``predict(image, mask, caption=… | angle=…)`` → flow (2, H, W), pixels per frame."""

    def __init__(self, folder: str | Path, device: str | torch.device = "cpu"):
        record, state = read_checkpoint(folder, "g_flow")
        try:
            self.config = FlowNetConfig(**record["config"])
        except TypeError as error:
            raise InputError(f"the G_flow config in {folder} does not match this version ({error}); retrain it") from error
        self.device = resolve_device(str(device))
        self.model = load_weights(FlowNet(self.config), state, folder).to(self.device).eval()
        self.text = TextEncoderOptions(**record["text_encoder"]) if record.get("text_encoder") else None
        self.hint_smoothness = float(record.get("hint_smoothness", 0.25))

    @property
    def conditioning(self) -> str:
        """text or hint."""
        return self.config.conditioning

    @torch.inference_mode()
    def predict(self, image: np.ndarray, mask: np.ndarray, caption: str | None = None, angle: float | None = None,
                speed: float = 1.0, max_flow: float | None = None) -> np.ndarray:
        """Flow float32 (2, H, W) in pixels per frame: 64 · G_flow(image, mask, caption or hint), clamped to
        ±``max_flow`` (None: no clamp), times ``speed``, zero outside ``mask``.

        image: uint8 (H, W, 3); mask: bool (H, W); ``caption`` for the text variant, ``angle`` (degrees, the
        direction convention of ``stages.text.directions``) for the directional one. A G_flow trained without
        an input (the ablations: ``FlowNetConfig.text_input``, ``mask_input``) ignores the caption or angle, or
        the mask — but its flow is still zeroed outside ``mask``, as the pipeline only moves the mask's pixels.
        """
        mask = check_mask(mask)
        mask_tensor = torch.from_numpy(mask[None, None].astype(np.float32)).to(self.device)
        text = hint = None
        if self.config.reads_text:
            if caption is None or not caption.strip():
                raise InputError("this G_flow is conditioned on text: give a prompt or caption")
            text = encode_captions([caption], self.text, self.device)
        elif self.config.reads_hint:
            if angle is None:
                raise InputError("this G_flow is the directional variant: give a direction")
            hint_array = dense_flow(mask, region_hints(mask, angle, 1.0), self.hint_smoothness)
            hint = torch.from_numpy(hint_array[None]).to(self.device)
        flow = self.model(to_tensor(image, self.device), mask_tensor, text, hint)[0].float() * FLOW_SCALE
        if max_flow is not None:
            flow = flow.clamp(-max_flow, max_flow)
        return (flow * speed * mask_tensor[0]).cpu().numpy()


def load_frame_model(folder: str | Path, device: str | torch.device = "cpu") -> FrameNet:
    """A trained G_frame from a checkpoint folder, in eval mode on ``device``."""
    record, state = read_checkpoint(folder, "g_frame")
    try:
        config = FrameNetConfig(**record["config"])
    except TypeError as error:
        raise InputError(f"the G_frame config in {folder} does not match this version ({error}); retrain it") from error
    return load_weights(FrameNet(config), state, folder).to(resolve_device(str(device))).eval()


class LearnedRenderer:
    """G_frame's seamless N-frame loop of ``image`` moving along ``flow`` inside ``mask``.

    Same interface as ``stages.motion.engine.LoopRenderer``: iterate for N uint8 (H, W, 3) frames, or ``frame(n)``
    for any 0 ≤ n ≤ N (frame N = frame 0). ``FrameNet.render``'s result up to floating-point order, by less
    work per frame:

    - the image is encoded once, and the splatting payloads of its three scales (features × exp(Z), exp(Z))
      with it;
    - only the pixels that can move (within one pixel of a non-zero flow; at the coarser scales, blocks
      holding one) are integrated and splatted: every other pixel stays put, so its payload is in the
      accumulator from the start;
    - the decoder runs on the windows its output reaches the mask from (:func:`decoder_windows`),
      channels-last, on inputs that the splats are normalised straight into; each rendering thread reuses
      its inputs and accumulators (freshly allocated, tens of MiB a frame cost as much in page faults as the
      work).

    Displacements are integrated incrementally (O(N) Euler steps for the whole loop, √N checkpoints
    backwards); iterating renders several frames at once (``stages.threads``).
    """

    def __init__(self, model: FrameNet, image: np.ndarray, mask: np.ndarray, flow: np.ndarray, frames: int = 120,
                 feather_px: float = 3.0):
        mask = check_loop_inputs(image, mask, flow, frames)
        self.model, self.frames = model, frames
        self.device = next(model.parameters()).device
        self.height, self.width = mask.shape
        multiple = model.multiple
        pad = (0, -self.width % multiple, 0, -self.height % multiple)
        self._pixels = np.array(image, np.uint8)
        self._local = threading.local()
        with torch.inference_mode():
            self.image = to_tensor(image, self.device)
            self.feather = torch.from_numpy(feather_weights(mask, feather_px)).to(self.device)[None, None]
            self.flow = F.pad(torch.from_numpy(np.ascontiguousarray(flow, np.float32)).to(self.device)[None], pad)[0]
            features, z = model.encode(F.pad(self.image, pad, mode="replicate"))
            self._size = features[0].shape[-2:]
            self._windows = decoder_windows(mask, multiple, self._size)
            # a bilinear look-up at a pixel can pick up its neighbours' flow (by rounding): they move too
            moving = F.max_pool2d((self.flow != 0).any(0)[None, None].float(), 3, stride=1, padding=1)
            self._levels = [_SplatLevel.of(feature, z, moving, 2 ** level) for level, feature in enumerate(features)]
            self._levels[1:] = [level.fed_by(self._levels[0]) for level in self._levels[1:]]
            points = self._levels[0].points
            self._backward = ReverseIntegrator(-self.flow, points, frames)
            self._integrator = ForwardIntegrator(self.flow, points, frames)

    def __len__(self) -> int:
        return self.frames

    def __iter__(self) -> Iterator[np.ndarray]:
        return map_in_order(self._render, (self._displacements(n) for n in range(self.frames)))

    @torch.inference_mode()
    def _displacements(self, n: int) -> tuple[int, torch.Tensor, torch.Tensor]:
        """n, F_{0→n} and F_{N→n} (K, 2) of the K moving pixels (the integrators advance in the caller's thread)."""
        return n, self._integrator(n), self._backward(self.frames - n)

    def frame(self, n: int) -> np.ndarray:
        """Frame n (0 ≤ n ≤ N) as uint8 (H, W, 3)."""
        if not 0 <= n <= self.frames:
            raise InputError(f"frame {n} is outside the loop 0..{self.frames}")
        return self._render(*self._displacements(n))

    def _buffers(self) -> tuple[list[list[torch.Tensor]], list[torch.Tensor]]:
        """This thread's decoder inputs (``FrameNet.decoder_inputs``) per window, and splat accumulators."""
        buffers = getattr(self._local, "buffers", None)
        if buffers is None:
            inputs = [self.model.decoder_inputs(1, (bottom - top, right - left), self.image)
                      for top, bottom, left, right in self._windows]
            accumulators = [torch.empty_like(level.static) for level in self._levels]
            buffers = self._local.buffers = inputs, accumulators
        return buffers

    @torch.inference_mode()
    def _render(self, n: int, forward: torch.Tensor, backward: torch.Tensor) -> np.ndarray:
        """Frame n from the moving pixels' displacements (K, 2) → uint8 (H, W, 3)."""
        alpha = 1.0 - n / self.frames
        inputs, accumulators = self._buffers()
        sources = [(displacement, share) for displacement, share in ((forward, alpha), (backward, 1.0 - alpha))
                   if share > 0]
        sums = []
        for level, accumulator in zip(self._levels, accumulators):
            accumulator.copy_(level.static)
            for displacement, share in sources:
                splat_add(accumulator, level.moved(displacement), level.payload, level.height, level.width, share)
            sums.append(splat_image(accumulator, level.height, level.width))
        colour = normalise_splat(sums[0][[0, 1, 2, -1]])  # RGB and coverage
        filled = fill_holes(colour[:3], colour[3])  # push-pull sees the whole picture
        out = self._pixels.copy()  # outside the windows the feather is 0: the input is kept
        for window, window_inputs in zip(self._windows, inputs):
            top, bottom, left, right = window
            for level, level_inputs, level_sums in zip(self._levels, window_inputs, sums):
                scale = level.scale
                normalise_splat(level_sums[:, top // scale:bottom // scale, left // scale:right // scale],
                                out=level_inputs[0, :level.payload.shape[0]])
            self.model.filled_rgb(window_inputs)[0] = filled[:, top:bottom, left:right]
            decoded = self.model.decode_inputs(window_inputs)
            bottom, right = min(bottom, self.height), min(right, self.width)  # the window without the padding
            image, feather = (t[..., top:bottom, left:right] for t in (self.image, self.feather))
            out[top:bottom, left:right] = to_uint8(composite(decoded[..., :bottom - top, :right - left], image,
                                                             feather))
        return out


@dataclass(frozen=True)
class _SplatLevel:
    """One splatting scale of the encoded image (h × w pixels of the padded picture at 1/``scale``)."""

    scale: int
    height: int
    width: int
    moving: torch.Tensor
    """(K,) flat indices (row by row) of the pixels that can move."""
    points: torch.Tensor
    """(K, 2) their coordinates (x, y)."""
    payload: torch.Tensor
    """(C + 1, K) their splatting payload: features × exp(Z), then exp(Z)."""
    static: torch.Tensor
    """A splat accumulator (``splat_accumulator``) holding every other pixel's payload, at the pixel itself."""
    blocks: torch.Tensor | None = None
    """(K_0,) for each moving full-resolution pixel, the flat index of the pixel of this level it lies in."""

    @classmethod
    def of(cls, features: torch.Tensor, z: torch.Tensor, moving: torch.Tensor, scale: int) -> "_SplatLevel":
        """The level of ``features`` (1, C, h, w) with Z (1, 1, H, W) and where pixels can move (1, 1, H, W)."""
        height, width = features.shape[-2:]
        weight = shrink(z, scale).float().exp()[0, 0].flatten()
        payload = torch.cat([features[0].float().flatten(1) * weight, weight[None]])
        moves = (shrink(moving, scale) > 0).flatten()
        static = splat_accumulator(payload.shape[0], height, width, payload)
        splat_image(static, height, width).copy_((payload * ~moves).view(-1, height, width))
        indices = torch.nonzero(moves)[:, 0]
        return cls(scale, height, width, indices, pixel_grid(height, width, payload.device)[indices],
                   payload[:, indices], static)

    def fed_by(self, full: "_SplatLevel") -> "_SplatLevel":
        """This coarser level, knowing which of its pixels each of ``full``'s (level 0) moving pixels lies in."""
        column, row = (full.points.long() // self.scale).unbind(1)
        return replace(self, blocks=row * self.width + column)

    def moved(self, displacement: torch.Tensor) -> torch.Tensor:
        """Where the moving pixels land (K, 2) under the full-resolution moving pixels' ``displacement`` (K_0, 2):
        at a coarser level, a pixel moves by its block's mean displacement (the others' is 0), in its pixels."""
        if self.blocks is None:
            return self.points + displacement
        sums = displacement.new_zeros(self.height * self.width, 2).index_add_(0, self.blocks, displacement)
        return self.points + sums[self.moving] / self.scale ** 3  # mean over scale² pixels, ÷ scale


DECODER_REACH = 32
"""Pixels (full resolution) beyond which G_frame's decoder does not see: 3 px of its full-resolution
convolutions, 2 convolutions at ½ and ¼ resolution (4 and 8 px each) and the upsampling between them."""


def decoder_window(mask: np.ndarray, multiple: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the padded picture (``size``) the decoder must cover so that every pixel of
    ``mask`` (H, W) is decoded as over the whole picture: its bounding box widened by ``DECODER_REACH``, on
    multiples of ``multiple`` (so the coarser scales crop on whole pixels)."""
    rows, cols = np.nonzero(mask)
    low = lambda start: max((start - DECODER_REACH) // multiple * multiple, 0)
    high = lambda end, limit: min(-(-(end + DECODER_REACH) // multiple) * multiple, limit)
    return (low(int(rows.min())), high(int(rows.max()) + 1, size[0]),
            low(int(cols.min())), high(int(cols.max()) + 1, size[1]))


def decoder_windows(mask: np.ndarray, multiple: int, size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Disjoint :func:`decoder_window` s covering ``mask`` (H, W): one per band of its rows, the bands split
    where no pixel of the mask lies in more than 2 · (``DECODER_REACH`` + ``multiple``) rows (so the windows,
    widened and rounded, cannot meet)."""
    rows = np.flatnonzero(mask.any(1))
    bands = np.split(rows, np.flatnonzero(np.diff(rows) > 2 * (DECODER_REACH + multiple)) + 1)
    windows = []
    for band in bands:
        in_band = np.zeros_like(mask)
        in_band[band[0]:band[-1] + 1] = mask[band[0]:band[-1] + 1]
        windows.append(decoder_window(in_band, multiple, size))
    return windows
