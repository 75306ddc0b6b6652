"""Attention caching (method §3): the running mean Ā of the artistic pass's self-attention maps.

Ā averages, with equal weight, every head of the self-attention layers in the UNet blocks at 1/16 of the
image size (diffusers ``down_blocks.1`` and ``up_blocks.2``: 32×32 for a 512² image) over the denoising
steps whose DDIM timestep is at most 541 (the late, less noisy phase: 28 of 50 steps). Only the mean is
kept: an (h·w, h·w) float32 matrix whose row p says where pixel p attends; every row sums to 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from stages.values import Range, ruled

ATTENTION_FACTOR = 16


@dataclass(frozen=True)
class AttentionOptions:
    """Knobs of attention caching (params.yaml ``attention``)."""

    blocks: tuple[str, ...] = ("down_blocks.1", "up_blocks.2")
    """UNet blocks whose self-attention maps are averaged; all must work at 1/16 of the image size."""
    max_timestep: int = ruled(541, Range(0, 1000, integer=True))
    """Maps are averaged over the steps with DDIM timestep ≤ this (the paper: after step 25 of 50)."""


def attention_grid(height: int, width: int) -> tuple[int, int]:
    """(rows, columns) of the attention grid for an image of height × width pixels (1/16 of each side)."""
    return height // ATTENTION_FACTOR, width // ATTENTION_FACTOR


class AttentionMean:
    """Running mean of row-stochastic (N, N) attention maps, updated one batch of heads at a time."""

    def __init__(self, tokens: int, max_timestep: int, device: torch.device | str = "cpu"):
        self.tokens = tokens
        self.max_timestep = max_timestep
        self.count = 0
        self.mean = torch.zeros(tokens, tokens, dtype=torch.float32, device=device)

    def wants(self, timestep: int, tokens: int) -> bool:
        """Whether maps over ``tokens`` tokens at DDIM ``timestep`` belong in the mean."""
        return timestep <= self.max_timestep and tokens == self.tokens

    def add(self, maps: torch.Tensor) -> None:
        """Fold in attention probabilities of shape (heads, N, N), each weighing as much as any earlier map."""
        maps = maps.to(device=self.mean.device, dtype=torch.float32)
        heads = maps.shape[0]
        self.count += heads
        self.mean += (maps.sum(dim=0) - heads * self.mean) / self.count

    def result(self) -> np.ndarray:
        """The mean as float32 (N, N); raises if nothing was added."""
        if self.count == 0:
            raise ValueError("no attention map was averaged: check attention.blocks and attention.max_timestep")
        return self.mean.cpu().numpy()


def attention_picture(attention: np.ndarray, grid: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Picture of Ā: its rows projected on their first 3 principal components as RGB.

    attention: (h·w, h·w); grid: (h, w); size: (height, width) of the picture in pixels (nearest upsampling).
    Returns uint8 (height, width, 3); pixels that attend alike get alike colours.
    """
    rows = attention.astype(np.float64)
    centred = rows - rows.mean(axis=0, keepdims=True)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    components = components[:3]
    components *= np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])[:, None]
    projected = centred @ components.T
    if projected.shape[1] < 3:
        projected = np.pad(projected, ((0, 0), (0, 3 - projected.shape[1])))
    low, high = projected.min(axis=0), projected.max(axis=0)
    scaled = (projected - low) / np.where(high > low, high - low, 1.0)
    picture = (scaled * 255.0).round().astype(np.uint8).reshape(grid[0], grid[1], 3)
    rows_index = np.arange(size[0]) * grid[0] // size[0]
    cols_index = np.arange(size[1]) * grid[1] // size[1]
    return picture[rows_index][:, cols_index]
