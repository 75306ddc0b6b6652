"""G_flow (method §6): image + mask (+ caption or direction hint) → one Eulerian flow field.

A U-Net of SPADE residual blocks, each normalisation modulated by the conditioning map (image in [−1, 1],
mask, and for the directional variant the dense hint). The text variant adds cross-attention to the
caption's CLIP embedding after the blocks below full resolution. The output is tanh-bounded and means
flow / FLOW_SCALE (pixels per frame divided by 64).

The paper's ablations are configurations of the same network: ``text_input=False`` reads nothing derived
from the caption (w/o text), ``mask_input=False`` no mask channel (w/o mask), both off: the picture alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from stages.errors import InputError
from stages.learned.text import DIRECTION_TOKEN, TOKENS
from stages.learned.layers import CrossAttentionBlock, SPADEResBlock, TextPooling, group_count


@dataclass(frozen=True)
class FlowNetConfig:
    """Architecture of G_flow."""

    channels: tuple[int, ...] = (16, 32, 64)
    """Feature channels per U-Net level (full, ½, ¼, … resolution)."""
    conditioning: str = "text"
    """text (cross-attention to a caption embedding) or hint (a dense direction hint as input)."""
    text_width: int = 32
    """Width D of the caption embedding (CLIP's hidden size; 768 for Stable Diffusion 1.x)."""
    heads: int = 4
    """Attention heads of the cross-attention blocks."""
    spade_hidden: int = 32
    """Hidden channels of the SPADE modulation networks."""
    pooled_text: int = 8
    """Text variant: channels of an attention-pooled caption vector appended to the SPADE conditioning map
    (spatially constant), so every normalisation sees the caption; 0: cross-attention only."""
    caption_direction: bool = False
    """Text variant: append the caption's direction (the embedding's direction token, ``stages.learned.text``)
    over the mask (over the whole picture without ``mask_input``) as 2 more channels of the conditioning map."""
    text_input: bool = True
    """Read what comes from the caption: the text variant's embedding (cross-attention, pooled vector, direction
    map), the directional variant's hint. False: none of it (the w/o text ablation)."""
    mask_input: bool = True
    """Read the mask as a channel of the conditioning map. False: no mask channel (the w/o mask ablation)."""

    def __post_init__(self):
        if self.conditioning not in ("text", "hint"):
            raise InputError(f"G_flow conditioning must be text or hint, got {self.conditioning!r}")
        if self.conditioning == "hint" and self.text_input and not self.mask_input:
            raise InputError("the directional G_flow's hint is spread over the mask: it cannot go without the mask "
                             "input (use conditioning: text, or text_input: false as well)")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))

    @property
    def reads_text(self) -> bool:
        """Whether the network reads a caption embedding."""
        return self.conditioning == "text" and self.text_input

    @property
    def reads_hint(self) -> bool:
        """Whether the network reads a dense direction hint."""
        return self.conditioning == "hint" and self.text_input

    @property
    def condition_channels(self) -> int:
        """Channels of the conditioning map: RGB, the mask (``mask_input``), then the 2-channel hint, or the
        pooled caption (+ the caption's 2-channel direction) when the network reads them."""
        channels = 3 + int(self.mask_input)
        if self.reads_hint:
            return channels + 2
        if self.reads_text:
            return channels + self.pooled_text + (2 if self.caption_direction else 0)
        return channels

    def to_dict(self) -> dict:
        """JSON-able form."""
        return {**asdict(self), "channels": list(self.channels)}


FLOW_PRESETS = {
    "small": dict(channels=(16, 32, 64), heads=4, spade_hidden=32),
    "paper": dict(channels=(64, 128, 256, 512), heads=8, spade_hidden=128),
}


class FlowNet(nn.Module):
    """G_flow. ``forward(image, mask, text=None, hint=None)`` → (B, 2, H, W) in [−1, 1] (flow / 64).

    image: (B, 3, H, W) in [0, 1]; mask: (B, 1, H, W) in {0, 1}; text: (B, T, D) caption embedding (text
    variant); hint: (B, 2, H, W) unit-length direction hint (hint variant). Any H, W (padded internally). The
    inputs the config leaves out (``text_input``, ``mask_input``) are ignored, whatever is given.
    """

    def __init__(self, config: FlowNetConfig):
        super().__init__()
        self.config = config
        channels, cond, hidden = config.channels, config.condition_channels, config.spade_hidden
        self.stem = nn.Conv2d(cond, channels[0], 3, padding=1)
        self.down = nn.ModuleList(
            SPADEResBlock(channels[max(i - 1, 0)], channels[i], cond, hidden) for i in range(len(channels)))
        self.middle = SPADEResBlock(channels[-1], channels[-1], cond, hidden)
        self.up = nn.ModuleList(
            SPADEResBlock(channels[min(i + 1, len(channels) - 1)] + channels[i], channels[i], cond, hidden)
            for i in range(len(channels)))
        text = config.reads_text
        if text:
            self.register_buffer("text_mean", torch.zeros(TOKENS, config.text_width))
            self.register_buffer("text_scale", torch.ones(TOKENS, config.text_width))
        self.pool_text = TextPooling(config.text_width, config.pooled_text) if text and config.pooled_text else None
        self.down_attention = nn.ModuleList(self._attention(c, text and i > 0) for i, c in enumerate(channels))
        self.middle_attention = self._attention(channels[-1], text)
        self.up_attention = nn.ModuleList(self._attention(c, text and i > 0) for i, c in enumerate(channels))
        self.head = nn.Sequential(nn.GroupNorm(group_count(channels[0]), channels[0]), nn.SiLU(),
                                  nn.Conv2d(channels[0], 2, 3, padding=1))
        nn.init.normal_(self.head[-1].weight, std=1e-3)
        nn.init.zeros_(self.head[-1].bias)

    @torch.no_grad()
    def fit_text_normaliser(self, embeddings: torch.Tensor, floor: float = 0.1) -> None:
        """Standardise caption embeddings (N, T, D) per token and channel from now on: subtract their mean and
        divide by their standard deviation (at least ``floor`` × its average), learned from the training
        captions. Stored with the weights, so inference applies the same transform."""
        std = embeddings.float().std(dim=0, unbiased=False)
        self.text_mean.copy_(embeddings.float().mean(dim=0))
        self.text_scale.copy_(std.clamp_min(floor * float(std.mean())))

    def _attention(self, channels: int, enabled: bool) -> nn.Module | None:
        return CrossAttentionBlock(channels, self.config.text_width, self.config.heads) if enabled else None

    def forward(self, image: torch.Tensor, mask: torch.Tensor, text: torch.Tensor | None = None,
                hint: torch.Tensor | None = None) -> torch.Tensor:
        config = self.config
        parts = [image * 2 - 1] + ([mask] if config.mask_input else [])
        if config.reads_hint:
            if hint is None:
                raise InputError("this G_flow is the directional variant: give a direction hint")
            parts.append(hint)
        if not config.reads_text:
            text = None
        elif text is None:
            raise InputError("this G_flow is conditioned on text: give a caption embedding")
        else:
            if config.caption_direction:
                direction = text[:, DIRECTION_TOKEN, :2, None, None].to(image.dtype)
                parts.append(direction * mask if config.mask_input else direction.expand(-1, -1, *image.shape[-2:]))
            text = ((text - self.text_mean) / self.text_scale).to(image.dtype)
        if text is not None and self.pool_text is not None:
            pooled = self.pool_text(text)
            parts.append(pooled[:, :, None, None].expand(-1, -1, *image.shape[-2:]))
        height, width = image.shape[-2:]
        multiple = 2 ** len(self.config.channels)
        pad = (0, -width % multiple, 0, -height % multiple)
        condition = F.pad(torch.cat(parts, 1), pad, mode="replicate")
        x, skips = self.stem(condition), []
        for block, attention in zip(self.down, self.down_attention):
            x = self._attend(attention, block(x, condition), text)
            skips.append(x)
            x = F.avg_pool2d(x, 2)
        x = self._attend(self.middle_attention, self.middle(x, condition), text)
        for block, attention, skip in zip(reversed(self.up), reversed(self.up_attention), reversed(skips)):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self._attend(attention, block(torch.cat([x, skip], 1), condition), text)
        return torch.tanh(self.head(x))[..., :height, :width]

    @staticmethod
    def _attend(attention: nn.Module | None, x: torch.Tensor, text: torch.Tensor | None) -> torch.Tensor:
        return x if attention is None else attention(x, text)
