"""Using trained networks: G_flow predicts a flow for an image and mask; G_frame renders a seamless loop.

Both load from checkpoint folders (``stages.learned.checkpoint``) and run under ``torch.inference_mode()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch

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
        direction convention of ``stages.text.directions``) for the directional one.
        """
        mask = check_mask(mask)
        mask_tensor = torch.from_numpy(mask[None, None].astype(np.float32)).to(self.device)
        text = hint = None
        if self.conditioning == "text":
            if caption is None or not caption.strip():
                raise InputError("this G_flow is conditioned on text: give a prompt or caption")
            text = encode_captions([caption], self.text, self.device)
        else:
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
    for any 0 ≤ n ≤ N (frame N = frame 0). The image is encoded once, and the splatting payloads of its three
    scales (features × exp(Z), exp(Z)) with it: a frame only splats them and decodes (``FrameNet.render``'s
    result, up to floating-point order). Displacements are integrated incrementally (O(N) Euler steps for
    the whole loop, √N checkpoints backwards); iterating renders several frames at once (``stages.threads``).
    """

    def __init__(self, model: FrameNet, image: np.ndarray, mask: np.ndarray, flow: np.ndarray, frames: int = 120,
                 feather_px: float = 3.0):
        mask = check_loop_inputs(image, mask, flow, frames)
        self.model, self.frames = model, frames
        self.device = next(model.parameters()).device
        self.height, self.width = mask.shape
        multiple = model.multiple
        self._pad = (0, -self.width % multiple, 0, -self.height % multiple)
        pad = torch.nn.functional.pad
        with torch.inference_mode():
            self.image = to_tensor(image, self.device)
            self.feather = torch.from_numpy(feather_weights(mask, feather_px)).to(self.device)[None, None]
            features, z = model.encode(pad(self.image, self._pad, mode="replicate"))
            self._window = decoder_window(mask, multiple, features[0].shape[-2:])
            self._levels = [self._level(feature, z, 2 ** level) for level, feature in enumerate(features)]
            self.flow = pad(torch.from_numpy(np.ascontiguousarray(flow, np.float32)).to(self.device)[None],
                            self._pad)[0]
            height, width = self.flow.shape[-2:]
            self._points = pixel_grid(height, width, self.device)
            self._backward = ReverseIntegrator(-self.flow, self._points, frames)
            self._integrator = ForwardIntegrator(self.flow, self._points, frames)

    def _level(self, features: torch.Tensor, z: torch.Tensor, scale: int) -> tuple:
        """One splatting scale: (scale, h, w, pixel grid (h·w, 2), payload (C + 1, h·w) = (f·exp(Z), exp(Z)))."""
        height, width = features.shape[-2:]
        weight = shrink(z, scale).float().exp()[0, 0].flatten()
        payload = torch.cat([features[0].float().flatten(1) * weight, weight[None]])
        return scale, height, width, pixel_grid(height, width, self.device), payload

    def __len__(self) -> int:
        return self.frames

    def __iter__(self) -> Iterator[np.ndarray]:
        return map_in_order(self._render, (self._displacements(n) for n in range(self.frames)))

    @torch.inference_mode()
    def _displacements(self, n: int) -> tuple[int, torch.Tensor, torch.Tensor]:
        """n, F_{0→n} and F_{N→n} (2, H, W) (the integrators advance in the caller's thread)."""
        shape = self.flow.shape
        return n, self._integrator(n).T.reshape(shape), self._backward(self.frames - n).T.reshape(shape)

    def frame(self, n: int) -> np.ndarray:
        """Frame n (0 ≤ n ≤ N) as uint8 (H, W, 3)."""
        if not 0 <= n <= self.frames:
            raise InputError(f"frame {n} is outside the loop 0..{self.frames}")
        return self._render(*self._displacements(n))

    @torch.inference_mode()
    def _render(self, n: int, forward: torch.Tensor, backward: torch.Tensor) -> np.ndarray:
        """Frame n from its displacements (2, H, W) → uint8 (H, W, 3)."""
        alpha = 1.0 - n / self.frames
        splats = []
        for scale, height, width, grid, payload in self._levels:
            accumulator = splat_accumulator(payload.shape[0], height, width, payload)
            for displacement, share in ((forward, alpha), (backward, 1.0 - alpha)):
                if share > 0:
                    moved = grid + (shrink(displacement[None], scale)[0] / scale).flatten(1).T
                    splat_add(accumulator, moved, payload, height, width, share)
            splats.append(normalise_splat(splat_image(accumulator, height, width))[None])
        filled = fill_holes(splats[0][0, :3], splats[0][0, -1])[None]  # push-pull sees the whole picture
        top, bottom, left, right = self._window
        windows = [splat[..., top // scale:bottom // scale, left // scale:right // scale]
                   for splat, (scale, *_) in zip(splats, self._levels)]
        decoded = self.model.decode(windows, filled[..., top:bottom, left:right])
        rendered = self.image.clone()  # outside the window the feather is 0: the input is kept
        bottom, right = min(bottom, self.height), min(right, self.width)
        rendered[..., top:bottom, left:right] = decoded[..., :bottom - top, :right - left]
        out = composite(rendered, self.image, self.feather)
        return to_uint8(out)


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
