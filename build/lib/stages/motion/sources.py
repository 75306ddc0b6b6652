"""Where each part of a region mask gets its motion when a prompt is animated (method §6 without G_flow).

The mask of a prompt comes in connected parts, each with a class (``waterfall``, ``river``, ``lake``, ``sea``,
``sky`` …, from the segmentation). Each part moves uniformly:

- the part(s) the prompt's direction phrase names — those of the prompt's region, or every part when none
  has that class — move in that direction (an angle drawn, seeded, inside its range);
- the others move as their class does by default: waterfalls fall, rivers run along their long axis
  (left to right along it), lakes and seas drift slowly to the right, clouds and skies drift sideways.

:func:`part_flow` returns the flow and, per part, which source made its motion (for meta.json).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Callable

import numpy as np

from stages.errors import InputError
from stages.options import options_from
from stages.registry import create, registry
from stages.text.directions import angle_to_vector, parse_direction
from stages.values import MAX_FLOW, SPEED, ruled

if TYPE_CHECKING:
    from stages.text.prompts import Rewrite

DEFAULT_MOTION = {
    "waterfall": (270.0, 1.0, "falls"),
    "river": (None, 1.0, "runs along its long axis"),
    "stream": (None, 1.0, "runs along its long axis"),
    "water": (None, 0.6, "flows along its long axis"),
    "lake": (0.0, 0.3, "drifts slowly"),
    "sea": (0.0, 0.4, "drifts slowly"),
    "ocean": (0.0, 0.4, "drifts slowly"),
    "sky": (0.0, 0.5, "drifts sideways"),
    "clouds": (0.0, 0.5, "drifts sideways"),
    "cloud": (0.0, 0.5, "drifts sideways"),
}
"""Class → (angle in degrees, None = along the part's long axis; speed factor; what it does)."""


@dataclass(frozen=True)
class FlowOptions:
    """The ``flow`` section: how the mask's parts move."""

    speed: float = ruled(1.0, SPEED)
    """pixels per frame of a part moving at its class's full speed (lakes and skies move slower)."""
    flow_model: str | None = None
    """a G_flow checkpoint folder (e.g. data/models/g_flow) predicting the flow from the realistic twin and
    the prompt; null: the prompt's direction phrase, else each part's class default."""
    max_flow: float = ruled(1.0, MAX_FLOW)
    """clamp of G_flow's flow, pixels per frame, before ``speed`` (the paper: 1)."""
    device: str = "cpu"
    """torch device of G_flow."""


def long_axis_angle(part: np.ndarray) -> float:
    """Viewer-space angle (degrees in (−90, 90]: pointing rightwards) of the long axis of ``part`` bool (H, W)."""
    rows, cols = np.nonzero(part)
    if len(rows) < 2:
        return 0.0
    points = np.stack([cols - cols.mean(), -(rows - rows.mean())]).astype(np.float64)  # y up
    values, vectors = np.linalg.eigh(points @ points.T)
    dx, dy = vectors[:, np.argmax(values)]
    if dx < 0 or (dx == 0 and dy < 0):
        dx, dy = -dx, -dy
    return float(np.degrees(np.arctan2(dy, dx)))


def default_angle(class_name: str, part: np.ndarray) -> tuple[float, float, str]:
    """(angle in degrees, speed factor, why) of a part of class ``class_name`` moving by default."""
    if class_name not in DEFAULT_MOTION:
        known = ", ".join(sorted(DEFAULT_MOTION))
        raise InputError(f"no default motion for a part of class {class_name!r} (classes: {known}): "
                         "give a direction phrase")
    angle, factor, why = DEFAULT_MOTION[class_name]
    return (long_axis_angle(part) if angle is None else angle), factor, f"default: a {class_name} {why}"


def part_flow(region_ids: np.ndarray, regions: list[dict], region: str | None, direction: str | None,
              speed: float = 1.0, seed: int = 0) -> tuple[np.ndarray, list[dict]]:
    """A uniform motion per part of the mask → flow float32 (2, H, W) in pixels per frame and per-part records.

    region_ids: int (H, W), the part id of every mask pixel (0 = static); regions: ``{"id", "class"}`` per part;
    region: the prompt's region (the parts the direction names); direction: a direction phrase or None;
    speed: pixels per frame of a speed-factor-1 part; seed: of the angle drawn inside the direction's range.
    """
    named = parse_direction(direction) if direction else None
    angle = named.sample(seed) if named else None
    classes = {part["class"] for part in regions}
    directed = {region} if region in classes else classes
    flow = np.zeros((2, *region_ids.shape), np.float32)
    records = []
    for part in regions:
        pixels = region_ids == part["id"]
        if named is not None and part["class"] in directed:
            part_angle, factor, source = angle, 1.0, f"direction phrase: {named.name}"
        else:
            part_angle, factor, source = default_angle(part["class"], pixels)
        dx, dy = angle_to_vector(part_angle)
        flow[0][pixels], flow[1][pixels] = speed * factor * dx, speed * factor * dy
        records.append({"id": part["id"], "class": part["class"], "source": source,
                        "angle_degrees": round(float(part_angle), 3), "speed": round(speed * factor, 4)})
    return flow, records


@dataclass(frozen=True)
class MotionRequest:
    """What a motion source reads besides the picture and the mask."""

    prompt: str
    """the artistic prompt (a text-conditioned G_flow reads it)."""
    region: str | None
    """the prompt's region: the parts a direction phrase names."""
    direction: str | None
    """a direction phrase, or None."""
    seed: int
    """seed of the angle drawn inside the direction's range."""

    @classmethod
    def of(cls, rewrite: Rewrite, seed: int) -> MotionRequest:
        """The request of a rewritten prompt."""
        return cls(rewrite.prompt, rewrite.region, rewrite.direction, seed)


MOTION_SOURCES: dict[str, Callable[[FlowOptions], object]] = {}
"""Motion source by name: ``g_flow`` (the trained network) or ``direction`` (the prompt's direction phrase on
the parts it names, each other part its class's default motion)."""


@registry(MOTION_SOURCES, "direction")
class DirectionMotion:
    """A uniform motion per part: the direction phrase on the parts it names, class defaults elsewhere."""

    def __init__(self, options: FlowOptions):
        self.options = options

    def __call__(self, realistic: np.ndarray, region_ids: np.ndarray, regions: list[dict], request: MotionRequest
                 ) -> tuple[np.ndarray, dict]:
        """flow float32 (2, H, W) in pixels per frame, and motion.json's record."""
        flow, parts = part_flow(region_ids, regions, request.region, request.direction, self.options.speed,
                                request.seed)
        return flow, {"source": "per part: direction phrase or class default", "parts": parts,
                      "settings": asdict(self.options)}


@registry(MOTION_SOURCES, "g_flow")
class LearnedMotion:
    """G_flow's flow from the realistic twin, the mask and the prompt (or the direction's angle)."""

    def __init__(self, options: FlowOptions):
        from stages.learned.loading import checkpoint_files, flow_predictor

        self.options = options
        self.predictor = flow_predictor(checkpoint_files("flow_model", self.options.flow_model)[0],
                                        self.options.device)

    def __call__(self, realistic: np.ndarray, region_ids: np.ndarray, regions: list[dict], request: MotionRequest
                 ) -> tuple[np.ndarray, dict]:
        """flow float32 (2, H, W) in pixels per frame, and motion.json's record."""
        from stages.motion.render import Motion, motion_flow

        motion = Motion(flow_model=self.predictor, speed=self.options.speed, max_flow=self.options.max_flow)
        if self.predictor.conditioning == "text":
            motion = replace(motion, caption=request.prompt)
        else:
            _, records = part_flow(region_ids, regions, request.region, request.direction, 1.0, request.seed)
            motion = replace(motion, angle=records[0]["angle_degrees"])
        flow, _ = motion_flow(motion, realistic, region_ids > 0)
        source = f"G_flow ({self.predictor.conditioning}-conditioned) from {self.options.flow_model}"
        parts = [{"id": part["id"], "class": part["class"], "source": source} for part in regions]
        return flow, {"source": source, "parts": parts, "settings": asdict(self.options)}


def motion_source(options: FlowOptions):
    """The motion source the ``flow`` settings name: G_flow when ``flow_model`` is set (its weights loaded once
    per process), else the direction."""
    return create(MOTION_SOURCES, "motion source", "g_flow" if options.flow_model else "direction", options)


def flow_options(section: dict | None) -> FlowOptions:
    """FlowOptions from the ``flow`` section, every key checked."""
    return options_from(FlowOptions, section, "flow")
