"""G_frame (method §7): render frame n of a loop from the input image and an Eulerian flow, in feature space.

An encoder computes features at full, ½ and ¼ resolution (the full-resolution ones carry the RGB too) and
a per-pixel importance Z. Each scale's features are softmax-splatted (weights exp(Z)) forward from the first
source image by F_{0→n} and backward from the last by F_{N→n}, blended with α_n = 1 − n/N and 1 − α_n and
normalised; a decoder fuses the scales, sees where nothing landed (holes) and predicts a correction to the
splatted, push-pull-filled RGB. The moving region is composited over the first image with a feathered mask,
so static regions never flicker. With the correction and Z at zero (as initialised) it is the motion
engine's renderer; training teaches it to sharpen, fill holes and fix the region's edges.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from stages.motion.engine import euler_displacements, fill_holes, pixel_grid, splat_bilinear

Z_RANGE = 5.0  # the importance Z is squashed into (−Z_RANGE, Z_RANGE), so exp(Z) stays finite


@dataclass(frozen=True)
class FrameNetConfig:
    """Architecture of G_frame."""

    channels: tuple[int, ...] = (16, 32, 64)
    """Feature channels at full, ½, ¼ … resolution (one splatting scale each)."""

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))

    def to_dict(self) -> dict:
        """JSON-able form."""
        return {**asdict(self), "channels": list(self.channels)}


FRAME_PRESETS = {"small": dict(channels=(16, 32, 64)), "paper": dict(channels=(64, 128, 256))}


def integrate_flow(flow: torch.Tensor, steps: int) -> torch.Tensor:
    """Displacement F_{0→steps} (2, H, W) of every pixel under the Eulerian ``flow`` (2, H, W), by Euler steps."""
    height, width = flow.shape[-2:]
    points = pixel_grid(height, width, flow.device, flow.dtype)
    last = deque(euler_displacements(flow, points, steps), maxlen=1)[0]  # keeps only the final step
    return last.T.reshape(2, height, width)


def softmax_splat(sources: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Splat several sources into one image and normalise → (B, C + 1, h, w): features, then coverage.

    Each source is (features (B, C, h, w), displacement (B, 2, h, w) in pixels, weights (B, 1, h, w) > 0).
    Coverage is 1 where some weight landed, 0 in holes (whose features are 0).
    """
    batch, channels, height, width = sources[0][0].shape
    grid = pixel_grid(height, width, sources[0][0].device)
    out = []
    for b in range(batch):
        points = torch.cat([grid + d[b].float().flatten(1).T for _, d, _ in sources])
        values = torch.cat([f[b].float().flatten(1) for f, _, _ in sources], 1)
        weights = torch.cat([w[b].float().flatten() for _, _, w in sources])
        out.append(normalise_splat(splat_bilinear(points, values, weights, height, width)))
    return torch.stack(out)


def normalise_splat(sums: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """(Σ w·f, Σ w) (C + 1, h, w) → (C + 1, h, w): weighted mean features (0 in holes), then coverage 0/1.

    ``out``: a (C + 1, h, w) tensor (any strides) to write the result into instead of a new one.
    """
    covered = sums[-1:] > 1e-6
    reciprocal = torch.where(covered, 1 / sums[-1:].clamp_min(1e-12), 0.0)
    out = torch.empty_like(sums) if out is None else out
    out[:-1] = sums[:-1]
    out[:-1].mul_(reciprocal)  # in place: no temporary of the features' size
    out[-1:] = covered
    return out


def shrink(field: torch.Tensor, scale: int) -> torch.Tensor:
    """A (B, C, H, W) field averaged over ``scale`` × ``scale`` blocks → (B, C, H / scale, W / scale)."""
    return F.avg_pool2d(field, scale) if scale > 1 else field


def upsample_into(target: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour ×2 upsampling of ``x`` (B, C, h, w) written into ``target`` (B, C, 2h, 2w), any
    strides (no temporary: ``F.interpolate(x, scale_factor=2)`` would allocate one) → ``target``."""
    batch, channels, height, width = x.shape
    blocks = target.unflatten(3, (width, 2)).unflatten(2, (height, 2))  # (B, C, h, 2, w, 2) view
    blocks.copy_(x[:, :, :, None, :, None].expand_as(blocks))
    return target


def _conv_block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
                         nn.LeakyReLU(0.2, inplace=True),
                         nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.LeakyReLU(0.2, inplace=True))


class FrameNet(nn.Module):
    """G_frame. ``forward(first, last, flow, step, span, feather)`` → frame ``step`` (B, 3, H, W) in [0, 1].

    first, last: source images (B, 3, H, W) in [0, 1] (frames 0 and N; both the input image at inference);
    flow: (B, 2, H, W) pixels per frame; step, span: (B,) integers n and N; feather: (B, 1, H, W) weight of
    the rendered moving region (0 = keep ``first``).
    """

    def __init__(self, config: FrameNetConfig):
        super().__init__()
        self.config = config
        channels = config.channels
        self.encoder = nn.ModuleList(
            _conv_block(3 if i == 0 else channels[i - 1], channels[i], 1 if i == 0 else 2)
            for i in range(len(channels)))
        self.importance = nn.Conv2d(channels[0], 1, 3, padding=1)
        nn.init.zeros_(self.importance.weight)
        nn.init.zeros_(self.importance.bias)
        # level i sees its splatted features (+ splatted and filled RGB at level 0), coverage, and the coarser level
        self.decoder = nn.ModuleList(
            _conv_block(channels[i] + 1 + (6 if i == 0 else 0) + (channels[i + 1] if i + 1 < len(channels) else 0),
                        channels[i]) for i in range(len(channels)))
        self.out = nn.Conv2d(channels[0], 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    @property
    def multiple(self) -> int:
        """Image sides are padded to a multiple of this."""
        return 2 ** (len(self.config.channels) - 1)

    def encode(self, image: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Features per scale (level 0 prefixed with the RGB) and importance Z (B, 1, H, W) of a padded image."""
        features, x = [], image
        for block in self.encoder:
            x = block(x)
            features.append(x)
        z = Z_RANGE * torch.tanh(self.importance(features[0]) / Z_RANGE)
        features[0] = torch.cat([image, features[0]], 1)
        return features, z

    def render(self, first: tuple[list[torch.Tensor], torch.Tensor], last: tuple[list[torch.Tensor], torch.Tensor],
               forward: torch.Tensor, backward: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """Splat encoded sources by displacements (B, 2, H, W), blend with ``alpha`` (B,), decode → RGB (B, 3, H, W)."""
        (first_features, first_z), (last_features, last_z) = first, last
        alpha = alpha.view(-1, 1, 1, 1).float()
        splats = []
        for level in range(len(first_features)):
            scale = 2 ** level
            with torch.autocast(forward.device.type, enabled=False):
                first_weight, last_weight = (shrink(z, scale).float().exp() for z in (first_z, last_z))
                splats.append(softmax_splat([
                    (first_features[level], shrink(forward, scale) / scale, alpha * first_weight),
                    (last_features[level], shrink(backward, scale) / scale, (1 - alpha) * last_weight)]))
        return self.decode(splats)

    def decode(self, splats: list[torch.Tensor], filled: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised splats per scale (B, C_level + 1, H / 2^level, W / 2^level) → RGB (B, 3, H, W).

        ``filled``: the hole-filled splatted RGB (B, 3, H, W) when already computed (e.g. over a larger
        picture than the window decoded).
        """
        if filled is None:
            rgb, coverage = splats[0][:, :3], splats[0][:, -1:]
            filled = torch.stack([fill_holes(rgb[b].detach(), coverage[b, 0]) for b in range(len(rgb))])
        inputs = self.decoder_inputs(len(filled), filled.shape[-2:], splats[0])
        for level, splat in enumerate(splats):
            inputs[level][:, :splat.shape[1]] = splat
        self.filled_rgb(inputs)[:] = filled
        return self.decode_inputs(inputs)

    def decoder_inputs(self, batch: int, size: tuple[int, int], like: torch.Tensor) -> list[torch.Tensor]:
        """Uninitialised inputs of the decoder's levels for a (H, W) picture, channels-last, dtype and device of
        ``like``: level i is (B, channels, H / 2^i, W / 2^i).

        Channels: the level's normalised splat (C_i features, the RGB before them at level 0, then coverage),
        at level 0 the hole-filled RGB (:meth:`filled_rgb`), then below the coarsest level the next coarser
        level's decoding (C_{i+1}, written by :meth:`decode_inputs`).
        """
        height, width = size
        return [like.new_empty(batch, block[0].in_channels, height >> level, width >> level
                               ).contiguous(memory_format=torch.channels_last)
                for level, block in enumerate(self.decoder)]

    def filled_rgb(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """The hole-filled RGB's channels (B, 3, H, W) of :meth:`decoder_inputs` (a view)."""
        start = self.config.channels[0] + 4  # after the RGB, features and coverage splatted at level 0
        return inputs[0][:, start:start + 3]

    def decode_inputs(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """Decode filled :meth:`decoder_inputs` → RGB (B, 3, H, W); writes each coarser level's decoding,
        upsampled ×2 (nearest), into the last channels of the next finer level's input."""
        x = None
        for level in reversed(range(len(inputs))):
            if x is not None:
                upsample_into(inputs[level][:, -x.shape[1]:], x)
            x = self.decoder[level](inputs[level])
        return self.filled_rgb(inputs).float() + self.out(x).float()

    def forward(self, first: torch.Tensor, last: torch.Tensor, flow: torch.Tensor, step: torch.Tensor,
                span: torch.Tensor, feather: torch.Tensor) -> torch.Tensor:
        height, width = first.shape[-2:]
        pad = (0, -width % self.multiple, 0, -height % self.multiple)
        padded_flow = F.pad(flow.float(), pad)
        forward = torch.stack([integrate_flow(f, int(n)) for f, n in zip(padded_flow, step)])
        backward = torch.stack([integrate_flow(-f, int(N - n)) for f, n, N in zip(padded_flow, step, span)])
        encoded_first = self.encode(F.pad(first, pad, mode="replicate"))
        encoded_last = self.encode(F.pad(last, pad, mode="replicate"))
        rendered = self.render(encoded_first, encoded_last, forward, backward, 1 - step.float() / span.float())
        return composite(rendered[..., :height, :width], first, feather)


def composite(rendered: torch.Tensor, image: torch.Tensor, feather: torch.Tensor) -> torch.Tensor:
    """S ⊙ rendered + (1 − S) ⊙ image, clamped to [0, 1]; all (B, C, H, W), S = ``feather`` (B, 1, H, W)."""
    return (feather * rendered.float() + (1 - feather) * image.float()).clamp(0, 1)
