"""The ``procedural`` profile: twins drawn from the synthetic world instead of a diffusion model.

The prompt's rewrite picks the scene (stages.scenes.landscapes.scene_for): its region and its other
animatable nouns become moving kinds, its direction the named region's motion. The realistic twin is the
scene's first frame; the artistic image is that frame warped by a seeded smooth displacement of at most
``warp_px`` pixels and painted in the style its words name (stages.scenes.styles). The exact truth of the
artistic image (region labels and flow, warped alike) comes along for evaluation.

Ā is the self-attention of the artistic image's own local features: per 16×16-pixel cell of the 1/16-size
grid the median Lab colour and four texture energies, standardised over the cells f; Ā = softmax of the
scaled dot products β·q_p·k_q / d of queries q = [f, 1] and keys k = [f, −|f|²/2], row by row: float32
(h·w, h·w) as the diffusion profiles write it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stages.diffusion.attention import ATTENTION_FACTOR, attention_grid
from stages.errors import InputError
from stages.scenes.landscapes import Scene, scene_for
from stages.scenes.styles import Style, apply_warp, choose_style, render, smooth_warp
from stages.text.directions import parse_direction
from stages.text.prompts import ANIMATABLE_NOUNS, Rewrite, read_region_water

# Region names (the rewrite's, see stages.text.prompts.ANIMATABLE_NOUNS) → the world kind that draws them.
KIND_OF_REGION = {"waterfall": "waterfall", "river": "river", "stream": "river", "lake": "lake", "sea": "sea",
                  "ocean": "sea", "wave": "sea", "sky": "sky", "cloud": "clouds", "clouds": "clouds"}
FEATURES = 7  # per cell: L, a, b; |∂L/∂x|, |∂L/∂y|, |ΔL|, |L − local mean| (medians)
WARP_SEED_OFFSET = 7919  # the warp's seed is the item's seed + this (independent of the scene's draws)


@dataclass(frozen=True)
class ProceduralOptions:
    """Knobs of the procedural twins (params.yaml ``twins.procedural``)."""

    warp_px: float = 8.0
    """Largest displacement of the artistic image (and its truth) from the realistic twin, pixels."""
    sharpness: float = 1.0
    """β of Ā's softmax over feature dot products (higher: rows attend to fewer, more alike cells)."""
    direction_jitter: float = 0.5
    """A named direction's angle is drawn within this fraction of its range around the centre (seeded)."""


PROVENANCE = {"cinemagraph-world": "procedural"}
"""The PNG text the procedural world writes into its pictures: models trained only on this world (the offline
segmenter) accept a user's picture only when it carries this (one of the world's own pictures)."""


@dataclass
class ProceduralTwins:
    """One procedural pair, its Ā and the exact truth of the artistic image."""

    artistic: np.ndarray
    """uint8 (H, W, 3)."""
    realistic: np.ndarray
    """uint8 (H, W, 3): the scene's frame 0."""
    attention: np.ndarray
    """float32 (h·w, h·w), rows sum to 1."""
    attention_grid: tuple[int, int]
    """(h, w) = 1/16 of the image size."""
    scene: Scene
    """The scene (regions, velocities) of the realistic twin."""
    style: Style
    """The look and palette of the artistic image."""
    warp: np.ndarray
    """float32 (2, H, W): artistic(p) = styled realistic(p + warp(p))."""
    angle: float | None
    """The named region's direction of motion in degrees (None: its kind's default)."""
    truth_labels: np.ndarray
    """uint8 (H, W) of the artistic image: 0 static, i + 1 for scene.regions[i]."""
    truth_flow: np.ndarray
    """float32 (2, H, W) of the artistic image, pixels per frame."""
    warp_seed: int = 0
    """Seed of :func:`stages.scenes.styles.smooth_warp` that made ``warp``."""
    attention_maps: int = 1
    """How many maps Ā averages: one (the diffusion profiles' meta layout)."""
    feature_bytes: int = 0
    """Bytes of features written to disk: none."""
    timesteps: tuple[int, ...] = ()
    """Denoising timesteps run: none."""

    def truth_masks(self) -> dict[str, np.ndarray]:
        """Per region class name, its bool (H, W) mask in the artistic image."""
        return {region.name: self.truth_labels == index + 1 for index, region in enumerate(self.scene.regions)}


def world_kinds(region: str, nouns: list[str], water_kind: str | None = None) -> list[str]:
    """The world kinds of a rewrite: the named region's first, then those of its other animatable nouns.

    A generic water region ("water", "wave") is drawn as ``water_kind`` (the rewrite's reading of it), or as
    the kind its nouns point to when none is given (stages.text.water). Raises InputError when the region is
    something the world cannot draw, naming the ones it can.
    """
    reading = read_region_water(region, nouns)
    drawn = water_kind or (reading.kind if reading else region)
    kind = KIND_OF_REGION.get(drawn) or KIND_OF_REGION.get(ANIMATABLE_NOUNS.get(drawn, ""))
    if kind is None:
        drawable = ", ".join(sorted(KIND_OF_REGION))
        raise InputError(f"the procedural world cannot draw a {region!r}: it draws {drawable} "
                         "(set models.profile to a diffusion profile for other regions)")
    kinds = [kind]
    for noun in nouns:
        other = KIND_OF_REGION.get(ANIMATABLE_NOUNS.get(noun, noun))
        if other is not None and other not in kinds:
            kinds.append(other)
    return kinds


def self_attention(image: np.ndarray, sharpness: float = ProceduralOptions.sharpness) -> np.ndarray:
    """Ā of ``image`` uint8 (H, W, 3) (H, W multiples of 16): float32 (h·w, h·w), rows sum to 1.

    Queries [f_p, 1] and keys [f_q, −|f_q|²/2] of the standardised cell features f: their dot product
    f_p·f_q − |f_q|²/2 = (|f_p|² − |f_p − f_q|²)/2, so within a row it ranks the cells by feature distance.
    """
    features = cell_features(image)
    standardised = (features - features.mean(axis=0)) / (features.std(axis=0) + 1e-6)
    queries = np.concatenate([standardised, np.ones((len(standardised), 1))], axis=1)
    keys = np.concatenate([standardised, -0.5 * (standardised ** 2).sum(axis=1, keepdims=True)], axis=1)
    logits = sharpness * queries @ keys.T / FEATURES
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def cell_features(image: np.ndarray) -> np.ndarray:
    """Colour and texture of each 16×16 cell, float64 (h·w, FEATURES), cells in row-major order.

    Medians over the cell's pixels (Lab colour; |∂L/∂x|, |∂L/∂y|, |ΔL| and the local spread of L, each
    smoothed over 5×5 pixels), so a cell takes the look of whatever covers most of it.
    """
    grid = attention_grid(*image.shape[:2])
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    lightness = lab[..., 0]
    local_mean = cv2.blur(lightness, (5, 5))
    texture = [np.abs(cv2.Sobel(lightness, cv2.CV_32F, 1, 0)), np.abs(cv2.Sobel(lightness, cv2.CV_32F, 0, 1)),
               np.abs(cv2.Laplacian(lightness, cv2.CV_32F)), np.abs(lightness - local_mean)]
    values = np.concatenate([lab, np.stack([cv2.blur(t, (5, 5)) for t in texture], axis=-1)], axis=-1)
    cells = values[:grid[0] * ATTENTION_FACTOR, :grid[1] * ATTENTION_FACTOR]
    cells = cells.reshape(grid[0], ATTENTION_FACTOR, grid[1], ATTENTION_FACTOR, FEATURES)
    return np.median(cells, axis=(1, 3)).reshape(grid[0] * grid[1], FEATURES).astype(np.float64)


def procedural_twins(rewrite: Rewrite, seed: int, height: int, width: int,
                     options: ProceduralOptions = ProceduralOptions()) -> ProceduralTwins:
    """The procedural twins of a rewritten prompt at height × width pixels (multiples of 16), from ``seed``."""
    kinds = world_kinds(rewrite.region, rewrite.nouns, rewrite.water_kind)
    angle = (parse_direction(rewrite.direction).sample(seed, options.direction_jitter)
             if rewrite.direction else None)
    scene = scene_for(kinds, angle, seed, height, width)
    realistic = scene.frame(0)
    style = choose_style(rewrite.prompt)
    warp_seed = seed + WARP_SEED_OFFSET
    warp = smooth_warp(warp_seed, options.warp_px, height, width)
    artistic = render(apply_warp(realistic, warp), style, seed)
    labels = np.zeros((height, width), np.uint8)
    for index, region in enumerate(scene.regions):
        labels[region.mask] = index + 1
    truth_labels = apply_warp(labels, warp, nearest=True)
    truth_flow = np.stack([apply_warp(component, warp, nearest=True) for component in scene.flow()])
    return ProceduralTwins(artistic=artistic, realistic=realistic,
                           attention=self_attention(artistic, options.sharpness),
                           attention_grid=attention_grid(height, width), scene=scene, style=style, warp=warp,
                           angle=angle, truth_labels=truth_labels, truth_flow=truth_flow, warp_seed=warp_seed)


