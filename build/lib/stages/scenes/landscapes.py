"""Seeded procedural landscapes with exact ground truth: mask, Eulerian flow and a looping video.

A scene is sky, hills and moving regions. :func:`make_scene` (the ``synth`` datasets) draws one water
element (river, waterfall or lake), sometimes with drifting clouds as a second moving region;
:func:`scene_for` draws the kinds a prompt names (any of ``WORLD_KINDS``: also a sea to the horizon, the
whole sky, clouds), several at once, moving along a given direction or each kind's own default.
Every moving region translates at a constant velocity v and is textured with a sum of sinusoids whose
wave vectors k satisfy k·v·N ∈ 2πℤ, so frame n is exactly the texture shifted by n·v and frame N is
exactly frame 0: the ground truth loops and matches the flow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stages.text.directions import DIRECTIONS, angle_difference, angle_to_vector, vector_to_angle

KINDS = ("river", "waterfall", "lake")
"""The water elements :func:`make_scene` picks from by seed."""
WORLD_KINDS = ("sky", "clouds", "sea", "lake", "river", "waterfall")
"""Every kind :func:`scene_for` can draw, in painting order: a later kind covers an earlier one."""


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
    horizon, background, _ = _landscape(rng, rows, cols, height, width)
    regions = [_water_region(rng, kind, rows, cols, horizon, height, width)]
    if rng.random() < 0.5:
        regions.append(Region("clouds", _cloud_mask(rng, rows, cols, horizon, height),
                              (float(rng.choice([-0.5, 0.5])), 0.0)))
        regions[0].mask &= ~regions[1].mask
    caption = _caption(regions)
    return _finish(rng, caption, background, regions, period)


def scene_for(kinds: list[str] | tuple[str, ...], angle: float | None, seed: int, height: int = 256,
              width: int = 256, period: int = 60) -> Scene:
    """The scene of ``kinds`` (a subset of WORLD_KINDS, the first being the named region) for ``seed``.

    ``angle`` (degrees, viewer space, see stages.text.directions) sets the first kind's direction of motion
    at its own default speed; None, and every other kind, keeps the kind's default: waterfalls fall,
    rivers run along their course, lakes and seas drift slowly sideways, clouds and the sky drift sideways.
    Regions are disjoint: a kind later in WORLD_KINDS covers an earlier one where they meet.
    """
    unknown = [kind for kind in kinds if kind not in WORLD_KINDS]
    if unknown or not kinds or len(set(kinds)) != len(kinds):
        raise ValueError(f"kinds must be distinct names of {', '.join(WORLD_KINDS)}, got {list(kinds)}")
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    horizon, background, sky = _landscape(rng, rows, cols, height, width)
    drawn = {}
    for kind in sorted(kinds, key=WORLD_KINDS.index):
        if kind == "sky":
            drawn[kind] = Region("sky", sky.copy(), (float(rng.choice([-0.6, 0.6])), 0.0))
        elif kind == "clouds":
            drawn[kind] = Region("clouds", _puffy_clouds(rng, rows, cols, horizon, width) & sky,
                                 (float(rng.choice([-0.5, 0.5])), 0.0))
        else:
            drawn[kind] = _water_region(rng, kind, rows, cols, horizon, height, width)
        for earlier in list(drawn.values())[:-1]:
            earlier.mask &= ~drawn[kind].mask
    if angle is not None:
        first = drawn[kinds[0]]
        speed = float(np.hypot(*first.velocity))
        first.velocity = tuple(float(speed * component) for component in angle_to_vector(angle))
    regions = [drawn[kind] for kind in kinds]
    return _finish(rng, ", ".join(_motion_phrase(region) for region in regions) + " between green hills",
                   background, regions, period)


def _landscape(rng, rows, cols, height, width) -> tuple[float, np.ndarray, np.ndarray]:
    """Horizon row, sky and three hill layers (float32 (H, W, 3)) and the sky's mask bool (H, W)."""
    horizon = height * rng.uniform(0.35, 0.5)
    background = _sky(rng, rows, height, width)
    sky = np.ones((height, width), bool)
    for layer in range(3):
        base = horizon + layer * height * 0.08
        ridge = base - height * 0.12 * _wave1d(rng, cols[0], width)
        green = np.array([60 + 30 * layer, 110 + 25 * layer, 50 + 10 * layer], np.float32)
        shade = green * (0.8 + 0.2 * _wave2d(rng, rows, cols, 0.05))[..., None]
        hill = rows >= ridge[None, :]
        background = np.where(hill[..., None], shade, background)
        sky &= ~hill
    return horizon, background, sky


def _cloud_mask(rng, rows, cols, horizon, height) -> np.ndarray:
    """Cloud blobs high in the sky, bool (H, W)."""
    return (rows < horizon - height * 0.15) & (_wave2d(rng, rows, cols, 0.03) > 0.6)


def _puffy_clouds(rng, rows, cols, horizon, width) -> np.ndarray:
    """A few cumulus clouds (each a row of round puffs) above the horizon, bool (H, W)."""
    density = np.zeros_like(rows)
    for _ in range(int(rng.integers(3, 6))):
        x, y = rng.uniform(0, width), rng.uniform(0.15, 0.75) * horizon
        size = rng.uniform(0.04, 0.08) * width
        for offset in np.linspace(-1.6, 1.6, 4):
            cx, cy, radius = x + offset * size, y - size * 0.4 * (1 - abs(offset) / 2), size * rng.uniform(0.7, 1.1)
            density += np.exp(-((cols - cx) ** 2 + (rows - cy) ** 2) / (2 * radius ** 2))
    return density > 0.6


def _finish(rng, caption: str, background: np.ndarray, regions: list[Region], period: int) -> Scene:
    """The scene with each region's looping texture and palette."""
    textures = [looping_waves(rng, r.velocity, period) for r in regions]
    palettes = [_palette(r.name) for r in regions]
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
    if kind == "sea":
        line = horizon + (height - horizon) * 0.08 + height * 0.006 * _wave1d(rng, cols[0], width)
        return Region("sea", rows > line[None, :], (float(rng.choice([-1.0, 1.0])) * speed * 0.4, 0.0))
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
    if name == "sky":
        return np.array([95, 145, 215], np.float32), np.array([235, 240, 250], np.float32)
    if name == "sea":
        return np.array([10, 45, 100], np.float32), np.array([90, 150, 200], np.float32)
    return np.array([20, 60, 120], np.float32), np.array([150, 200, 235], np.float32)


_PHRASE = {"river": "a river flowing", "waterfall": "a waterfall falling", "lake": "a lake rippling",
           "sea": "a sea rolling", "clouds": "clouds drifting", "sky": "a sky drifting"}


def _motion_phrase(region: Region) -> str:
    """"<the region> <moving> <the nearest of the 12 directions>"."""
    nearest = min(DIRECTIONS, key=lambda d: angle_difference(d.center, region.angle))
    return f"{_PHRASE[region.name]} {nearest.name}"


def _caption(regions: list[Region]) -> str:
    """A caption naming the water element, its direction and the clouds."""
    caption = f"{_motion_phrase(regions[0])} between green hills"
    return caption + (" under drifting clouds" if len(regions) > 1 else " under a clear sky")
