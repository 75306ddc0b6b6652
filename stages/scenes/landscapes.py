"""Seeded procedural landscapes with exact ground truth: mask, Eulerian flow and a looping video.

A scene is sky, hills and one moving water element (river, waterfall or lake), sometimes with drifting
clouds as a second moving region. Every moving region translates at a constant velocity v and is
textured with a sum of sinusoids whose wave vectors k satisfy k·v·N ∈ 2πℤ, so frame n is exactly the
texture shifted by n·v and frame N is exactly frame 0: the ground truth loops and matches the flow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stages.text.directions import vector_to_angle

KINDS = ("river", "waterfall", "lake")


@dataclass
class Region:
    """One moving region: its name, mask bool (H, W) and velocity (dx, dy) in pixels per frame."""

    name: str
    mask: np.ndarray
    velocity: tuple[float, float]

    @property
    def angle(self) -> float:
        """Viewer-space direction of motion in degrees."""
        return vector_to_angle(*self.velocity)


@dataclass
class Scene:
    """A synthetic scene: caption, regions and the static background uint8 (H, W, 3)."""

    caption: str
    background: np.ndarray
    regions: list[Region]
    textures: list[list[tuple[np.ndarray, float, float]]] = field(repr=False)
    palettes: list[tuple[np.ndarray, np.ndarray]] = field(repr=False)
    period: int = 60

    @property
    def mask(self) -> np.ndarray:
        """Union of the moving regions, bool (H, W)."""
        return np.logical_or.reduce([r.mask for r in self.regions])

    def flow(self) -> np.ndarray:
        """Exact Eulerian flow float32 (2, H, W), pixels per frame, zero outside the moving regions."""
        height, width = self.background.shape[:2]
        flow = np.zeros((2, height, width), np.float32)
        for region in self.regions:
            flow[0][region.mask], flow[1][region.mask] = region.velocity
        return flow

    def frame(self, n: float) -> np.ndarray:
        """Ground-truth frame at time n (frames) as uint8 (H, W, 3); frame(n + period) == frame(n)."""
        n = n % self.period  # exact: every wave's phase advances by a multiple of 2π per period
        image = self.background.astype(np.float32)
        height, width = image.shape[:2]
        rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
        for region, waves, (dark, light) in zip(self.regions, self.textures, self.palettes):
            vx, vy = region.velocity
            x, y = cols[region.mask] - n * vx, rows[region.mask] - n * vy
            value = sum(a * np.cos(k[0] * x + k[1] * y + phase) for k, a, phase in waves)
            value = np.clip(0.5 + 0.5 * value / sum(a for _, a, _ in waves), 0, 1)[:, None]
            image[region.mask] = dark + (light - dark) * value
        return np.clip(image, 0, 255).round().astype(np.uint8)

    def video(self, frames: int) -> np.ndarray:
        """The first ``frames`` ground-truth frames, uint8 (frames, H, W, 3)."""
        return np.stack([self.frame(n) for n in range(frames)])


def looping_waves(rng: np.random.Generator, velocity: tuple[float, float], period: int,
                  count: int = 5) -> list[tuple[np.ndarray, float, float]]:
    """Random waves (wave vector k (2,), amplitude, phase) with k·v·period a non-zero multiple of 2π."""
    speed = float(np.hypot(*velocity))
    along = np.array(velocity) / speed
    across = np.array([-along[1], along[0]])
    travel = period * speed  # pixels travelled in one loop
    waves = []
    for index in range(count):
        wavelength_along = travel / max(1, round(travel / rng.uniform(8.0, 40.0)))
        k = 2 * np.pi / wavelength_along * along + rng.uniform(-0.25, 0.25) * across
        waves.append((k.astype(np.float32), float(rng.uniform(0.4, 1.0) / (1 + index)),
                      float(rng.uniform(0, 2 * np.pi))))
    return waves


def make_scene(seed: int, height: int = 256, width: int = 384, period: int = 60,
               kind: str | None = None) -> Scene:
    """Generate the scene for ``seed``; its texture loops every ``period`` frames. ``kind`` in KINDS or None."""
    rng = np.random.default_rng(seed)
    kind = kind or KINDS[seed % len(KINDS)]
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    horizon = height * rng.uniform(0.35, 0.5)
    background = _sky(rng, rows, height, width)
    for layer in range(3):
        base = horizon + layer * height * 0.08
        ridge = base - height * 0.12 * _wave1d(rng, cols[0], width)
        green = np.array([60 + 30 * layer, 110 + 25 * layer, 50 + 10 * layer], np.float32)
        shade = green * (0.8 + 0.2 * _wave2d(rng, rows, cols, 0.05))[..., None]
        background = np.where((rows >= ridge[None, :])[..., None], shade, background)
    regions = [_water_region(rng, kind, rows, cols, horizon, height, width)]
    if rng.random() < 0.5:
        regions.append(Region("clouds", (rows < horizon - height * 0.15) & (_wave2d(rng, rows, cols, 0.03) > 0.6),
                              (float(rng.choice([-0.5, 0.5])), 0.0)))
        regions[0].mask &= ~regions[1].mask
    textures = [looping_waves(rng, r.velocity, period) for r in regions]
    palettes = [_palette(r.name) for r in regions]
    caption = _caption(rng, regions)
    return Scene(caption, background.astype(np.uint8), regions, textures, palettes, period)


def _water_region(rng, kind, rows, cols, horizon, height, width) -> Region:
    """The water element's mask and velocity."""
    speed = float(rng.uniform(0.8, 1.5))
    if kind == "river":
        center = horizon + (height - horizon) * (0.45 + 0.15 * _wave1d(rng, cols[0], width))
        half = (height - horizon) * rng.uniform(0.12, 0.22)
        mask = np.abs(rows - center[None, :]) < half
        sign = float(rng.choice([-1.0, 1.0]))
        return Region("river", mask, (sign * speed, float(rng.uniform(-0.15, 0.15))))
    if kind == "waterfall":
        center = width * rng.uniform(0.3, 0.7) + width * 0.04 * _wave1d(rng, rows[:, 0], height)
        half = width * rng.uniform(0.06, 0.12)
        mask = (np.abs(cols - center[:, None]) < half) & (rows > horizon * rng.uniform(0.5, 0.9))
        return Region("waterfall", mask, (0.0, speed))
    shore = horizon + (height - horizon) * (0.35 + 0.1 * _wave1d(rng, cols[0], width))
    return Region("lake", rows > shore[None, :], (float(rng.choice([-1.0, 1.0])) * speed * 0.4, 0.0))


def _sky(rng, rows, height, width) -> np.ndarray:
    """Vertical blue gradient, float32 (H, W, 3)."""
    top = np.array([70, 120, 200], np.float32) + rng.uniform(-20, 20, 3)
    bottom = np.array([190, 215, 240], np.float32)
    t = (rows / height)[..., None]
    return top * (1 - t) + bottom * t


def _wave1d(rng, coordinate: np.ndarray, length: int) -> np.ndarray:
    """Smooth random profile in [-1, 1] along a coordinate axis."""
    total = np.zeros_like(coordinate)
    for octave in range(1, 4):
        total += np.sin(2 * np.pi * octave * coordinate / length * rng.uniform(0.5, 1.5)
                        + rng.uniform(0, 2 * np.pi)) / octave
    return total / 1.84


def _wave2d(rng, rows, cols, frequency: float) -> np.ndarray:
    """Smooth random field in [0, 1]."""
    total = np.zeros_like(rows)
    for _ in range(4):
        angle = rng.uniform(0, np.pi)
        total += np.sin(frequency * (np.cos(angle) * cols + np.sin(angle) * rows) + rng.uniform(0, 2 * np.pi))
    return (total / 4 + 1) / 2


def _palette(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Dark and light colours (float32 (3,)) for a region's texture."""
    if name == "clouds":
        return np.array([200, 205, 215], np.float32), np.array([250, 250, 252], np.float32)
    return np.array([20, 60, 120], np.float32), np.array([150, 200, 235], np.float32)


_PHRASE = {"river": "a river flowing", "waterfall": "a waterfall falling", "lake": "a lake rippling"}


def _caption(rng, regions: list[Region]) -> str:
    """A caption naming the water element, its direction and the clouds."""
    from stages.text.directions import DIRECTIONS, angle_difference

    water = regions[0]
    nearest = min(DIRECTIONS, key=lambda d: angle_difference(d.center, water.angle))
    caption = f"{_PHRASE[water.name]} {nearest.name} between green hills"
    return caption + (" under drifting clouds" if len(regions) > 1 else " under a clear sky")
