"""Direction phrases → angles: the paper's 12 directions (appendix E) and natural variants.

Angles are in degrees, counter-clockwise, 0 = left to right, with the y axis pointing up (as a viewer
sees it). In image coordinates (rows grow downwards) the unit vector of angle θ is (cos θ, −sin θ).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from stages.errors import InputError


@dataclass(frozen=True)
class Direction:
    """One of the 12 directions: its canonical phrase and its angle range [low, high] in degrees."""

    name: str
    low: float
    high: float

    @property
    def center(self) -> float:
        """Middle of the range in degrees, in [0, 360)."""
        return ((self.low + self.high) / 2.0) % 360.0

    def sample(self, seed: int, jitter: float = 0.5) -> float:
        """A reproducible angle (degrees) drawn uniformly within ``jitter`` × half the range of the centre."""
        half = (self.high - self.low) / 2.0 * float(np.clip(jitter, 0.0, 1.0))
        offset = np.random.default_rng(seed).uniform(-half, half) if half > 0 else 0.0
        return (self.center + offset) % 360.0


# Ranges from the paper's appendix E; "left to right" wraps around 0 (350–10 is written −10–10).
DIRECTIONS: tuple[Direction, ...] = (
    Direction("left to right", -10, 10),
    Direction("left to right, upwards", 10, 45),
    Direction("upwards, left to right", 45, 80),
    Direction("upwards", 80, 100),
    Direction("upwards, right to left", 100, 135),
    Direction("right to left, upwards", 135, 170),
    Direction("right to left", 170, 190),
    Direction("right to left, downwards", 190, 225),
    Direction("downwards, right to left", 225, 260),
    Direction("downwards", 260, 280),
    Direction("downwards, left to right", 280, 315),
    Direction("left to right, downwards", 315, 350),
)

_BY_SYMBOLS = {
    "R": "left to right", "U": "upwards", "L": "right to left", "D": "downwards",
    "RU": "left to right, upwards", "UR": "upwards, left to right",
    "UL": "upwards, right to left", "LU": "right to left, upwards",
    "LD": "right to left, downwards", "DL": "downwards, right to left",
    "DR": "downwards, left to right", "RD": "left to right, downwards",
}
_PHRASES = [  # order matters: multi-word phrases before single words
    (r"\bleft\s+to\s+(the\s+)?right\b", "R"), (r"\bright\s+to\s+(the\s+)?left\b", "L"),
    (r"\btop\s+to\s+(the\s+)?bottom\b", "D"), (r"\bbottom\s+to\s+(the\s+)?top\b", "U"),
    (r"\bfrom\s+(the\s+)?left\b", "R"), (r"\bfrom\s+(the\s+)?right\b", "L"),
    (r"\bfrom\s+(the\s+)?(top|above)\b", "D"), (r"\bfrom\s+(the\s+)?(bottom|below)\b", "U"),
    (r"\b(right|rightwards?|rightward|east(wards?)?)\b", "R"),
    (r"\b(left|leftwards?|leftward|west(wards?)?)\b", "L"),
    (r"\b(up|upwards?|upward|upstream|rising|north(wards?)?)\b", "U"),
    (r"\b(down|downwards?|downward|falling|south(wards?)?)\b", "D"),
]
_BY_NAME = {d.name: d for d in DIRECTIONS}


def accepted_phrases() -> str:
    """A human-readable list of the accepted direction phrases."""
    names = ", ".join(f'"{d.name}"' for d in DIRECTIONS)
    return f"{names} (or variants such as \"to the left\", \"downwards\", \"flowing right\")"


def parse_direction(text: str) -> Direction:
    """Map a phrase ("flowing from left to right", "to the left", "upwards, right to left") to a Direction."""
    phrase = re.sub(r"[^a-z,\s-]", " ", str(text).lower()).replace("-", " ")
    phrase = re.sub(r"\bin\s+(the\s+)?(.*?)\s+direction\b", r"\2", phrase)
    found: list[tuple[int, str]] = []
    for pattern, symbol in _PHRASES:
        for match in re.finditer(pattern, phrase):
            found.append((match.start(), symbol))
            phrase = phrase[: match.start()] + " " * (match.end() - match.start()) + phrase[match.end():]
    symbols = "".join(symbol for _, symbol in sorted(found))
    symbols = re.sub(r"(.)\1+", r"\1", symbols)
    name = _BY_SYMBOLS.get(symbols)
    if name is None:
        raise InputError(f"unknown direction {text!r}; accepted: {accepted_phrases()}")
    return _BY_NAME[name]


def angle_to_vector(angle_degrees: float) -> tuple[float, float]:
    """Unit vector (dx, dy) in image coordinates (y down) for a viewer-space angle in degrees."""
    radians = math.radians(angle_degrees)
    return math.cos(radians), -math.sin(radians)


def vector_to_angle(dx: float, dy: float) -> float:
    """Viewer-space angle in degrees [0, 360) of an image-coordinate vector (dx, dy)."""
    return math.degrees(math.atan2(-dy, dx)) % 360.0


def angle_difference(a: float, b: float) -> float:
    """Smallest absolute difference between two angles, in degrees [0, 180]."""
    return abs((a - b + 180.0) % 360.0 - 180.0)
