"""Where each part of a region mask gets its motion when a prompt is animated (method §6).

The mask of a prompt comes in connected parts, each with a class (``waterfall``, ``river``, ``lake``, ``sea``,
``sky`` …, from the segmentation). Four motion sources, by name (``flow.source``):

- ``g_flow`` (the default, the paper's): G_flow's flow predicted from the realistic twin, the mask and the
  prompt, clamped to ±``max_flow`` pixels per frame, its own output on every part (by default the mean of its
  flow and that of the mirrored picture, :func:`mirror_average`);
- ``direction``: each part moves uniformly — the parts the prompt's direction phrase names (those of the
  prompt's region, or every part when none has that class) in that direction (an angle drawn, seeded, inside
  its range), the others as their class does by default;
- ``class_default``: every part as its class does by default (the phrase ignored): waterfalls fall, rivers run
  along their long axis (left to right along it), lakes and seas drift slowly to the right, clouds and skies
  drift sideways;
- ``zero``: no motion (a reference for the scores).

The loop moves by the source's flow times ``flow.scale`` (the paper halves G_flow's motion for artistic
images); motion.json records the source of every part and the scale.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from stages.errors import InputError
from stages.options import options_from
from stages.registry import create, registry
from stages.text.directions import angle_to_vector, parse_direction, vector_to_angle
from stages.values import MAX_FLOW, SPEED, one_of, ruled

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


SOURCE_NAMES = ("g_flow", "direction", "class_default", "zero")
"""The motion sources, by name (see the module's docstring)."""


@dataclass(frozen=True)
class FlowOptions:
    """The ``flow`` section: which source moves the mask's parts, and how fast the loop moves."""

    source: str = ruled("g_flow", one_of(*SOURCE_NAMES))
    """g_flow (the paper's: G_flow from the realistic twin, the mask and the prompt) | direction (the prompt's
    direction phrase on the parts it names, class defaults elsewhere) | class_default (every part its class's
    motion) | zero."""
    flow_model: str = "data/models/g_flow"
    """the G_flow checkpoint folder of the g_flow source (the train_flow stage writes it)."""
    max_flow: float = ruled(1.0, MAX_FLOW)
    """clamp of G_flow's flow to ±this, pixels per frame (the paper: 1)."""
    speed: float = ruled(1.0, SPEED)
    """direction and class_default: pixels per frame of a part at its class's full speed (lakes and skies move
    slower); g_flow: multiplies G_flow's clamped flow."""
    mirror: bool = True
    """g_flow: average G_flow's flow with its flow of the mirrored picture (caption's left and right swapped),
    mirrored back, each part taking the mirrored flow's sign that agrees with the direct one. G_flow trains on
    mirrored crops too; averaging the two cancels a left-right bias a short training leaves."""
    scale: float = ruled(0.5, SPEED)
    """the loop moves by the source's flow times this (the paper: 0.5 for artistic images); scores against the
    truth are taken before it."""
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


def named_parts(regions: list[dict], region: str | None) -> list[dict]:
    """The parts a direction phrase moves: those of class ``region``, or every part when none has it."""
    return [part for part in regions if part["class"] == region] or list(regions)


def part_flow(region_ids: np.ndarray, regions: list[dict], region: str | None, direction: str | None,
              speed: float = 1.0, seed: int = 0) -> tuple[np.ndarray, list[dict]]:
    """A uniform motion per part of the mask → flow float32 (2, H, W) in pixels per frame and per-part records.

    region_ids: int (H, W), the part id of every mask pixel (0 = static); regions: ``{"id", "class"}`` per part;
    region: the prompt's region (the parts the direction names); direction: a direction phrase or None;
    speed: pixels per frame of a speed-factor-1 part; seed: of the angle drawn inside the direction's range.
    """
    named = parse_direction(direction) if direction else None
    angle = named.sample(seed) if named else None
    directed = {part["id"] for part in named_parts(regions, region)}
    flow = np.zeros((2, *region_ids.shape), np.float32)
    records = []
    for part in regions:
        pixels = region_ids == part["id"]
        if named is not None and part["id"] in directed:
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
"""Motion source by name (:data:`SOURCE_NAMES`); each is called as ``source(realistic, region_ids, regions,
request)`` → (flow float32 (2, H, W) in pixels per frame before ``scale``, per-part records)."""


@registry(MOTION_SOURCES, "direction")
class DirectionMotion:
    """A uniform motion per part: the direction phrase on the parts it names, class defaults elsewhere."""

    def __init__(self, options: FlowOptions):
        self.options = options

    def __call__(self, realistic: np.ndarray, region_ids: np.ndarray, regions: list[dict], request: MotionRequest
                 ) -> tuple[np.ndarray, list[dict]]:
        """flow float32 (2, H, W) in pixels per frame and per-part records."""
        return part_flow(region_ids, regions, request.region, self.phrase(request), self.options.speed,
                         request.seed)

    def phrase(self, request: MotionRequest) -> str | None:
        """The direction phrase this source follows."""
        return request.direction


@registry(MOTION_SOURCES, "class_default")
class ClassDefaultMotion(DirectionMotion):
    """A uniform motion per part, each its class's default (the prompt's direction phrase ignored)."""

    def phrase(self, request: MotionRequest) -> None:
        """None: no phrase is followed."""
        return None


@registry(MOTION_SOURCES, "zero")
class ZeroMotion:
    """No motion: the reference every other source's score is compared with."""

    def __init__(self, options: FlowOptions):
        self.options = options

    def __call__(self, realistic: np.ndarray, region_ids: np.ndarray, regions: list[dict], request: MotionRequest
                 ) -> tuple[np.ndarray, list[dict]]:
        """A zero flow float32 (2, H, W) and per-part records."""
        return (np.zeros((2, *region_ids.shape), np.float32),
                [{"id": part["id"], "class": part["class"], "source": "zero"} for part in regions])


@registry(MOTION_SOURCES, "g_flow")
class LearnedMotion:
    """G_flow's flow from the realistic twin, the mask and the prompt (a directional G_flow: the direction's
    angle), clamped to ±max_flow."""

    def __init__(self, options: FlowOptions):
        from stages.learned.loading import checkpoint_files, flow_predictor

        self.options = options
        self.predictor = flow_predictor(checkpoint_files("flow_model", options.flow_model)[0], options.device)

    def __call__(self, realistic: np.ndarray, region_ids: np.ndarray, regions: list[dict], request: MotionRequest
                 ) -> tuple[np.ndarray, list[dict]]:
        """flow float32 (2, H, W) in pixels per frame and per-part records (mean speed and angle of each)."""
        flow = self.predict(realistic, region_ids, regions, request, mirrored=False)
        if self.options.mirror:
            flow = mirror_average(flow, self.predict(realistic, region_ids, regions, request, mirrored=True),
                                  region_ids, regions)
        source = f"G_flow ({self.predictor.conditioning}-conditioned) from {self.options.flow_model}"
        return flow, [{"id": part["id"], "class": part["class"], "source": source,
                       **mean_motion(flow, region_ids == part["id"])} for part in regions]

    def predict(self, realistic: np.ndarray, region_ids: np.ndarray, regions: list[dict], request: MotionRequest,
                mirrored: bool) -> np.ndarray:
        """G_flow's flow float32 (2, H, W) of the picture, or (``mirrored``) of its left-right mirror image with
        the caption's left and right swapped (a directional G_flow: the angle mirrored), mirrored back."""
        from stages.learned.data import mirror_caption, mirror_flow

        image, mask = realistic, region_ids > 0
        if mirrored:
            image, mask = np.ascontiguousarray(image[:, ::-1]), np.ascontiguousarray(mask[:, ::-1])
        settings = {"speed": self.options.speed, "max_flow": self.options.max_flow}
        if self.predictor.conditioning == "text":
            caption = caption_of(request)
            flow = self.predictor.predict(image, mask, caption=mirror_caption(caption) if mirrored else caption,
                                          **settings)
        else:
            _, records = part_flow(region_ids, regions, request.region, request.direction, 1.0, request.seed)
            angle = records[0]["angle_degrees"]
            flow = self.predictor.predict(image, mask, angle=(180.0 - angle) % 360.0 if mirrored else angle,
                                          **settings)
        return mirror_flow(flow) if mirrored else flow


def mirror_average(flow: np.ndarray, mirrored: np.ndarray, region_ids: np.ndarray, regions: list[dict]
                   ) -> np.ndarray:
    """Per part, the mean of ``flow`` and ``mirrored`` (both float32 (2, H, W)), ``mirrored`` taken with the sign
    whose mean motion agrees with ``flow``'s: where the picture leaves a motion's sign open, the two predictions
    may each pick either, and averaging opposite ones would cancel the motion."""
    averaged = flow.copy()
    for part in regions:
        pixels = region_ids == part["id"]
        direct, other = flow[:, pixels], mirrored[:, pixels]
        sign = 1.0 if float(direct.mean(axis=1) @ other.mean(axis=1)) >= 0 else -1.0
        averaged[:, pixels] = (direct + sign * other) / 2
    return averaged


def caption_of(request: MotionRequest) -> str:
    """What a text-conditioned G_flow reads: the prompt, with the direction phrase appended when it was given
    apart from the prompt (a prompt list's column, or ``--direction``)."""
    if request.direction and request.direction.lower() not in request.prompt.lower():
        return f"{request.prompt}, {request.direction}"
    return request.prompt


def mean_motion(flow: np.ndarray, part: np.ndarray) -> dict:
    """Angle (degrees, viewer space) and speed (pixels per frame) of the mean of ``flow`` (2, H, W) over
    ``part`` bool (H, W)."""
    dx, dy = (float(component[part].mean()) if part.any() else 0.0 for component in flow)
    return {"angle_degrees": round(vector_to_angle(dx, dy), 3), "speed": round(float(np.hypot(dx, dy)), 4)}


class MotionStep:
    """The flow step of the pipeline: a motion source's flow times ``scale``, and motion.json's record."""

    def __init__(self, options: FlowOptions, source: str | None = None):
        self.options = options
        self.name = source or options.source
        self.source = create(MOTION_SOURCES, "motion source", self.name, options)

    def __call__(self, realistic: np.ndarray, region_ids: np.ndarray, regions: list[dict], request: MotionRequest
                 ) -> tuple[np.ndarray, dict]:
        """flow float32 (2, H, W) in pixels per frame (the source's times ``scale``), and motion.json's record.

        realistic: uint8 (H, W, 3); region_ids: int (H, W), the part of every mask pixel (0 = static); regions:
        ``{"id", "class"}`` per part."""
        flow, parts = self.source(realistic, region_ids, regions, request)
        return flow * np.float32(self.options.scale), {
            "source": self.name, "scale": self.options.scale, "parts": parts, "settings": asdict(self.options)}


def motion_source(options: FlowOptions, source: str | None = None) -> MotionStep:
    """The flow step of ``source`` (default: the one the ``flow`` settings name); G_flow's weights are loaded
    once per process."""
    return MotionStep(options, source)


def flow_options(section: dict | None) -> FlowOptions:
    """FlowOptions from the ``flow`` section, every key checked."""
    return options_from(FlowOptions, section, "flow")
