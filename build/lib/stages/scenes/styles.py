"""Artistic looks for procedural scenes: the style words of a prompt → a palette and a painterly filter.

A look is a filter that keeps every edge where it is (strokes, washes, hatching, dots and flat colour
all follow the picture's own boundaries); the only geometric change of an artistic twin is the explicit,
seeded :func:`smooth_warp`, applied to the picture and its truth alike.

Looks: ``oil`` (impasto brush strokes), ``watercolour`` (washes on grainy paper, darkened rims),
``sketch`` (charcoal/ink: grey strokes and hatching on paper), ``pixel`` (4-pixel blocks, few colours),
``woodblock`` (flat colours with black outlines and wood grain), ``pointillism`` (dots on canvas).
Palettes: ``sunset``, ``night``, ``golden``, ``pink`` (or none).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import cv2
import numpy as np

DEFAULT_LOOK = "oil"
PIXEL_BLOCK = 4
"""Side of one pixel-art pixel, image pixels."""

# Tried in this order: the first look with a word in the prompt wins ("chinese ink painting" → sketch).
LOOK_WORDS: dict[str, tuple[str, ...]] = {
    "pixel": ("pixel", "8-bit", "8 bit", "retro game"),
    "pointillism": ("pointillis", "seurat", "dots", "stippl"),
    "sketch": ("charcoal", "pencil", "sketch", "ink", "chinese", "graphite"),
    "watercolour": ("watercolo", "gouache", "pastel", "wash"),
    "woodblock": ("woodblock", "woodcut", "ukiyo", "hokusai", "hiroshige", "stained glass", "comic", "cubis",
                  "picasso", "anime", "ghibli", "vaporwave", "poster", "flat colo", "pop art", "linocut"),
    "oil": ("oil", "impasto", "acrylic", "canvas", "gogh", "monet", "turner", "baroque", "romantic",
            "impressionis", "expressionis", "dali", "munch", "bob ross", "klimt", "painting"),
}
PALETTE_WORDS: dict[str, tuple[str, ...]] = {
    "sunset": ("sunset", "sunrise", "evening", "dusk", "dawn", "red cloud", "munch"),
    "night": ("night", "moon", "midnight", "starry", "dark"),
    "golden": ("golden", "gold", "klimt", "autumn"),
    "pink": ("pink", "vaporwave", "synthwave", "lavender"),
}
LOOKS = tuple(LOOK_WORDS)
# Luminance 0 → 1 mapped through these colours (RGB), blended with the picture by PALETTE_STRENGTH.
PALETTE_RAMPS = {
    "sunset": ((40, 10, 60), (200, 60, 50), (250, 160, 60), (255, 230, 160)),
    "night": ((5, 8, 25), (20, 35, 80), (60, 90, 150), (170, 190, 230)),
    "golden": ((50, 30, 5), (150, 100, 20), (230, 180, 60), (255, 240, 170)),
    "pink": ((40, 20, 80), (180, 60, 160), (250, 130, 190), (200, 240, 250)),
}
PALETTE_STRENGTH = 0.55


@dataclass(frozen=True)
class Style:
    """The look and palette chosen for a prompt, and the words that chose them."""

    look: str
    """One of LOOKS."""
    palette: str | None
    """One of PALETTE_RAMPS, or None (the scene's own colours)."""
    look_word: str | None
    """The prompt word that picked the look; None: no style word was recognised (the default look)."""
    palette_word: str | None
    """The prompt word that picked the palette, or None."""

    @property
    def is_default(self) -> bool:
        """Whether the look is the fallback for a prompt naming no known style."""
        return self.look_word is None

    def to_dict(self) -> dict:
        """JSON-ready record (meta.json)."""
        return {**asdict(self), "default": self.is_default}


def choose_style(prompt: str) -> Style:
    """The look and palette the words of ``prompt`` name; no known style word → DEFAULT_LOOK."""
    text = re.sub(r"\s+", " ", prompt.lower())

    def first(table: dict[str, tuple[str, ...]]) -> tuple[str | None, str | None]:
        for name, words in table.items():
            for word in words:
                if re.search(rf"\b{re.escape(word)}", text):
                    return name, word
        return None, None

    look, look_word = first(LOOK_WORDS)
    palette, palette_word = first(PALETTE_WORDS)
    return Style(look or DEFAULT_LOOK, palette, look_word, palette_word)


def render(image: np.ndarray, style: Style, seed: int) -> np.ndarray:
    """``image`` uint8 (H, W, 3) in ``style``'s palette and look; same shape; seeded (strokes, grain, dots)."""
    rng = np.random.default_rng(seed)
    graded = apply_palette(image, style.palette)
    return _LOOK_FILTERS[style.look](graded, rng)


def apply_palette(image: np.ndarray, palette: str | None) -> np.ndarray:
    """``image`` uint8 (H, W, 3) with its luminance re-coloured along the palette's ramp (None: unchanged)."""
    if palette is None:
        return image
    ramp = np.array(PALETTE_RAMPS[palette], np.float32)
    luminance = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    position = luminance * (len(ramp) - 1)
    low = np.clip(position.astype(int), 0, len(ramp) - 2)
    t = (position - low)[..., None]
    toned = ramp[low] * (1 - t) + ramp[low + 1] * t
    return _to_uint8(PALETTE_STRENGTH * toned + (1 - PALETTE_STRENGTH) * image)


def smooth_warp(seed: int, amplitude: float, height: int, width: int) -> np.ndarray:
    """A smooth random displacement field float32 (2, H, W) (dx, dy), pixels, |d| ≤ ``amplitude`` everywhere.

    The sum of a few long-wavelength sinusoids (40–120 % of the image size) per component, scaled so the
    largest displacement length is exactly ``amplitude`` (0: no warp).
    """
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    field = np.zeros((2, height, width), np.float32)
    for component in field:
        for _ in range(3):
            wavelength = rng.uniform(0.4, 1.2) * max(height, width)
            angle = rng.uniform(0, 2 * np.pi)
            phase = rng.uniform(0, 2 * np.pi)
            component += np.sin(2 * np.pi / wavelength * (np.cos(angle) * cols + np.sin(angle) * rows) + phase)
    largest = float(np.hypot(field[0], field[1]).max())
    return field * (amplitude / largest) if largest > 0 and amplitude > 0 else np.zeros_like(field)


def apply_warp(image: np.ndarray, warp: np.ndarray, nearest: bool = False) -> np.ndarray:
    """``image`` (H, W[, C]) resampled at p + warp(p): out(p) = image(p + d(p)), borders replicated.

    ``nearest``: nearest-neighbour sampling (labels, masks); otherwise bilinear.
    """
    height, width = image.shape[:2]
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.remap(image, cols + warp[0], rows + warp[1], interpolation, borderMode=cv2.BORDER_REPLICATE)


# --- the looks (each: uint8 (H, W, 3) RGB, rng → uint8 (H, W, 3)) ------------------------------------


def _oil(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Edge-preserving smoothing, then brush strokes along the picture's contours, lit as thick paint."""
    base = cv2.bilateralFilter(image, 9, 60, 5).astype(np.float32)
    strokes = _strokes(image, rng, length=15)
    relief = cv2.Sobel(strokes, cv2.CV_32F, 1, 0, ksize=3) + cv2.Sobel(strokes, cv2.CV_32F, 0, 1, ksize=3)
    shaded = base * (1.0 + 0.15 * strokes)[..., None] + 12.0 * relief[..., None]
    return _to_uint8(shaded)


def _watercolour(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flat washes (edge-aware smoothing), lightened towards paper, pigment pooled at the rims, paper grain."""
    wash = cv2.stylization(image, sigma_s=30, sigma_r=0.35).astype(np.float32)
    paper = np.array([250, 246, 235], np.float32)
    wash = 0.7 * wash + 0.3 * paper
    rims = _edge_strength(image)
    grain = cv2.GaussianBlur(rng.normal(0, 1, image.shape[:2]).astype(np.float32), (0, 0), 1.2)
    shaded = wash * (1.0 - 0.35 * rims)[..., None] * (1.0 + 0.06 * grain)[..., None]
    return _to_uint8(shaded)


def _sketch(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Charcoal on paper: a colour-dodge line drawing of the contours, diagonal hatching in the darks, grain."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    blurred = cv2.GaussianBlur(255.0 - grey, (0, 0), 3.0)
    lines = np.clip(grey * 255.0 / np.maximum(255.0 - blurred, 1.0), 0, 255)
    height, width = grey.shape
    rows, cols = np.mgrid[0:height, 0:width]
    darkness = 1.0 - grey / 255.0
    hatching = ((rows + cols) % 6 < 1) & (darkness > 0.45) | ((rows - cols) % 6 < 1) & (darkness > 0.7)
    tone = np.minimum(lines, 255.0 - 150.0 * darkness) - 90.0 * hatching
    grain = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 0.8)
    tone = tone + 10.0 * grain
    paper = np.array([1.0, 0.98, 0.93], np.float32)
    return _to_uint8(tone[..., None] * paper)


def _pixel(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blocks of PIXEL_BLOCK² pixels in 6 levels per channel (a 216-colour palette); ``rng`` is unused."""
    height, width = image.shape[:2]
    small = cv2.resize(image, (width // PIXEL_BLOCK, height // PIXEL_BLOCK), interpolation=cv2.INTER_AREA)
    levels = np.round(small.astype(np.float32) / 51.0) * 51.0
    return cv2.resize(levels.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)


def _woodblock(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Six flat colours (k-means in Lab), black outlines where they meet, a faint wood grain."""
    smooth = cv2.bilateralFilter(image, 9, 80, 9)
    lab = cv2.cvtColor(smooth, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    cv2.setRNGSeed(int(rng.integers(0, 2 ** 31)))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    _, labels, centres = cv2.kmeans(lab, 6, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    flat_lab = centres[labels.ravel()].reshape(image.shape).round().astype(np.uint8)
    flat = cv2.cvtColor(flat_lab, cv2.COLOR_LAB2RGB).astype(np.float32)
    label_map = labels.reshape(image.shape[:2]).astype(np.uint8)
    outline = label_map != np.roll(label_map, 1, axis=0)
    outline |= label_map != np.roll(label_map, 1, axis=1)
    outline[0], outline[:, 0] = False, False
    height, width = image.shape[:2]
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    grain = np.sin(rows * 0.9 + 3.0 * np.sin(cols * 0.02 + rng.uniform(0, 6.3)))
    flat = flat * (1.0 + 0.05 * grain)[..., None]
    flat[outline] = (25, 20, 20)
    return _to_uint8(flat)


def _pointillism(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Round dots of the picture's colour (slightly varied) on a jittered 5-pixel grid over a pale canvas."""
    height, width = image.shape[:2]
    canvas = np.full((height, width, 3), (242, 236, 222), np.uint8)
    spacing = 5
    ys, xs = np.mgrid[spacing // 2:height:spacing, spacing // 2:width:spacing]
    ys = np.clip(ys + rng.integers(-1, 2, ys.shape), 0, height - 1).ravel()
    xs = np.clip(xs + rng.integers(-1, 2, xs.shape), 0, width - 1).ravel()
    colours = np.clip(image[ys, xs].astype(np.float32) * rng.uniform(0.85, 1.15, (ys.size, 1))
                      + rng.normal(0, 8, (ys.size, 3)), 0, 255).astype(np.uint8)
    for index in rng.permutation(ys.size):
        colour = tuple(int(c) for c in colours[index])
        cv2.circle(canvas, (int(xs[index]), int(ys[index])), 3, colour, -1, cv2.LINE_AA)
    return canvas


_LOOK_FILTERS = {"oil": _oil, "watercolour": _watercolour, "sketch": _sketch, "pixel": _pixel,
                 "woodblock": _woodblock, "pointillism": _pointillism}


def _strokes(image: np.ndarray, rng: np.random.Generator, length: int) -> np.ndarray:
    """Brush-stroke texture float32 (H, W) in about [-1, 1]: noise smeared along the local contour direction."""
    grey = cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 2.0)
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    tangent = (np.arctan2(gy, gx) + np.pi / 2) % np.pi  # contour direction, [0, π)
    noise = rng.normal(0, 1, image.shape[:2]).astype(np.float32)
    smeared, weights = np.zeros_like(noise), np.zeros_like(noise)
    for angle in np.linspace(0, np.pi, 4, endpoint=False):
        kernel = np.zeros((length, length), np.float32)
        centre = length // 2
        for step in range(-centre, centre + 1):
            kernel[int(round(centre + step * np.sin(angle))), int(round(centre + step * np.cos(angle)))] = 1.0
        weight = np.cos(tangent - angle) ** 8
        smeared += weight * cv2.filter2D(noise, -1, kernel / kernel.sum())
        weights += weight
    strokes = smeared / np.maximum(weights, 1e-6)
    return strokes / (strokes.std() + 1e-6) / 2.5


def _edge_strength(image: np.ndarray) -> np.ndarray:
    """Thin contour strength float32 (H, W) in [0, 1] (normalised gradient magnitude of the grey picture)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    magnitude = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    return np.clip(magnitude / (np.percentile(magnitude, 99) + 1e-6), 0, 1)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """Clip to [0, 255] and round to uint8."""
    return np.clip(image, 0, 255).round().astype(np.uint8)
