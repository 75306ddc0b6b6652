"""Building blocks of the learned networks: SPADE residual blocks, text cross-attention, discriminators."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def group_count(channels: int) -> int:
    """Groups of a GroupNorm over ``channels`` (8 where it divides, else fewer)."""
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class SPADE(nn.Module):
    """Spatially-adaptive normalisation: parameter-free GroupNorm, then a per-pixel scale and shift predicted
    from the conditioning map (image, mask, hint) resized to the features."""

    def __init__(self, channels: int, condition_channels: int, hidden: int):
        super().__init__()
        self.norm = nn.GroupNorm(group_count(channels), channels, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(condition_channels, hidden, 3, padding=1), nn.ReLU())
        self.scale = nn.Conv2d(hidden, channels, 3, padding=1)
        self.shift = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, features: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        condition = F.interpolate(condition, size=features.shape[-2:], mode="bilinear", align_corners=False)
        hidden = self.shared(condition)
        return self.norm(features) * (1 + self.scale(hidden)) + self.shift(hidden)


class SPADEResBlock(nn.Module):
    """Residual block with SPADE normalisation: (SPADE → LeakyReLU → conv) × 2, plus a learned shortcut."""

    def __init__(self, in_channels: int, out_channels: int, condition_channels: int, hidden: int):
        super().__init__()
        middle = min(in_channels, out_channels)
        self.norm1 = SPADE(in_channels, condition_channels, hidden)
        self.conv1 = nn.Conv2d(in_channels, middle, 3, padding=1)
        self.norm2 = SPADE(middle, condition_channels, hidden)
        self.conv2 = nn.Conv2d(middle, out_channels, 3, padding=1)
        self.shortcut = (nn.Conv2d(in_channels, out_channels, 1, bias=False)
                         if in_channels != out_channels else nn.Identity())

    def forward(self, features: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        hidden = self.conv1(F.leaky_relu(self.norm1(features, condition), 0.2))
        hidden = self.conv2(F.leaky_relu(self.norm2(hidden, condition), 0.2))
        return self.shortcut(features) + hidden


class CrossAttentionBlock(nn.Module):
    """Stable Diffusion's spatial transformer without self-attention: features attend to text tokens.

    GroupNorm → 1×1 projection → [LayerNorm → cross-attention → +] → [LayerNorm → GELU MLP → +] → 1×1
    projection (zero-initialised, so a new block starts as the identity) → + input.
    """

    def __init__(self, channels: int, context_width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(group_count(channels), channels)
        self.project_in = nn.Conv2d(channels, channels, 1)
        self.norm_attention = nn.LayerNorm(channels)
        self.to_q = nn.Linear(channels, channels, bias=False)
        self.to_k = nn.Linear(context_width, channels, bias=False)
        self.to_v = nn.Linear(context_width, channels, bias=False)
        self.to_out = nn.Linear(channels, channels)
        self.norm_mlp = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(nn.Linear(channels, 4 * channels), nn.GELU(), nn.Linear(4 * channels, channels))
        self.project_out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.project_out.weight)
        nn.init.zeros_(self.project_out.bias)

    def forward(self, features: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = features.shape
        tokens = self.project_in(self.norm(features)).flatten(2).transpose(1, 2)  # (B, HW, C)
        tokens = tokens + self._attend(self.norm_attention(tokens), context.to(tokens.dtype))
        tokens = tokens + self.mlp(self.norm_mlp(tokens))
        out = self.project_out(tokens.transpose(1, 2).reshape(batch, channels, height, width))
        return features + out

    def _attend(self, queries: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        def split(x: torch.Tensor) -> torch.Tensor:
            return x.view(x.shape[0], x.shape[1], self.heads, -1).transpose(1, 2)

        attended = F.scaled_dot_product_attention(split(self.to_q(queries)), split(self.to_k(context)),
                                                  split(self.to_v(context)))
        return self.to_out(attended.transpose(1, 2).flatten(2))


class TextPooling(nn.Module):
    """Attention pooling of caption tokens (B, T, D) with one learned query → (B, out) via LayerNorm + Linear."""

    def __init__(self, width: int, out: int):
        super().__init__()
        self.query = nn.Parameter(torch.zeros(width))
        self.to_k = nn.Linear(width, width, bias=False)
        self.project = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, out))

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        logits = self.to_k(text) @ self.query / self.query.numel() ** 0.5  # (B, T)
        pooled = (logits.softmax(dim=1).unsqueeze(-1) * text).sum(1)
        return self.project(pooled)


class PatchDiscriminator(nn.Module):
    """PatchGAN: stride-2 4×4 convolutions with LeakyReLU; returns every layer's output (last = scores)."""

    def __init__(self, in_channels: int, width: int, layers: int):
        super().__init__()
        blocks, channels = [], in_channels
        for index in range(layers):
            out = width * 2 ** min(index, 3)
            norm = nn.GroupNorm(group_count(out), out) if index > 0 else nn.Identity()
            blocks.append(nn.Sequential(nn.Conv2d(channels, out, 4, stride=2, padding=1), norm, nn.LeakyReLU(0.2)))
            channels = out
        blocks.append(nn.Conv2d(channels, 1, 3, padding=1))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return features


class MultiScaleDiscriminator(nn.Module):
    """``scales`` PatchGAN discriminators, the k-th seeing the input downsampled 2^k times (pix2pixHD)."""

    def __init__(self, in_channels: int, width: int = 64, layers: int = 3, scales: int = 2):
        super().__init__()
        self.discriminators = nn.ModuleList(PatchDiscriminator(in_channels, width, layers) for _ in range(scales))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        outputs = []
        for index, discriminator in enumerate(self.discriminators):
            if index:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outputs.append(discriminator(x))
        return outputs
