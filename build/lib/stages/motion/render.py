"""One cinemagraph from a picture: the motion of its mask, the renderer of its loop, and its files.

Both the one-picture command line and the batch steps go through here, so a motion source or a renderer is
chosen in exactly one place:

- :class:`Motion` names one source of motion — arrows (hints), a direction phrase, a ready flow, or a trained
  G_flow read with a caption or a direction — and :func:`motion_flow` turns it into a dense flow;
- :func:`make_renderer` picks the motion engine or G_frame; :func:`stream_frames` runs it frame by frame,
  :func:`render_frames` collects every frame (for scoring);
- :func:`write_cinemagraph` writes the video (streamed: encoded while the next frames render), its flow
  picture and ``meta.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
from tqdm import tqdm

from stages.errors import InputError
from stages.images import save_png
from stages.motion.engine import LoopRenderer
from stages.options import options_from
from stages.registry import create, registry
from stages.motion.flowfield import Hint, check_flow, dense_flow, flow_to_rgb, region_hints
from stages.text.directions import parse_direction
from stages.video import VIDEO_SUFFIXES, write_video
from stages.values import FEATHER, FPS, FRAMES, ruled

VIDEO_STEM = "cinemagraph"
"""File stem of a prompt's loop: ``cinemagraph.<format>``, ``cinemagraph_flow.png``, ``cinemagraph_meta.json``."""


@dataclass(frozen=True)
class VideoOptions:
    """The ``video`` section: how the loop is rendered and written."""

    frames: int = ruled(120, FRAMES)
    """frames per loop (the paper: 120 for artistic prompts)."""
    fps: float = ruled(30, FPS)
    """frames per second."""
    formats: tuple[str, ...] = field(default=("mp4",))
    """any of mp4, gif, webm, npz (lossless)."""
    feather_px: float = ruled(3.0, FEATHER)
    """width of the feathered edge between moving and static pixels."""
    frame_model: str | None = None
    """a G_frame checkpoint folder rendering the frames; null: the motion engine."""
    device: str = "cpu"
    """torch device of the renderer."""

    def check_formats(self) -> None:
        """InputError unless every format is known (and there is at least one)."""
        unknown = [name for name in self.formats if f".{name}" not in VIDEO_SUFFIXES]
        if unknown or not self.formats:
            raise InputError(f"video.formats: unknown {', '.join(unknown) or 'none given'}; formats: "
                             f"{', '.join(s.lstrip('.') for s in VIDEO_SUFFIXES)}")

    def shown_format(self) -> str:
        """The format a browser plays first (mp4, webm, gif before npz): the one with the flow picture and meta."""
        return next((name for name in self.formats if name != "npz"), self.formats[0])


@dataclass(frozen=True)
class Motion:
    """One source of motion for a masked region; exactly one of ``hints``, ``direction``, ``flow`` or
    ``flow_model`` is set.

    ``flow_model`` is a G_flow (:class:`stages.learned.inference.FlowPredictor`): it reads ``caption`` when it
    is text-conditioned, else ``direction`` or, failing that, ``angle``.
    """

    hints: tuple[Hint, ...] | None = None
    """arrows: position (x, y) in pixels, vector (dx, dy) in pixels per frame, y down."""
    direction: str | None = None
    """a direction phrase such as "flowing from left to right" (the paper's 12 directions and variants)."""
    flow: np.ndarray | None = None
    """a ready flow float32 (2, H, W), pixels per frame."""
    flow_model: object | None = None
    """a loaded G_flow (FlowPredictor)."""
    caption: str | None = None
    """the prompt or caption a text-conditioned G_flow reads."""
    angle: float | None = None
    """degrees (0 = left to right, counter-clockwise): the direction a directional G_flow reads without one."""
    speed: float = 1.0
    """flow multiplier."""
    seed: int = 0
    """seed of the angle drawn inside a direction's range."""
    smoothness: float = 0.25
    """Gaussian width of hint interpolation, fraction of the larger image side."""
    max_flow: float | None = 1.0
    """clamp of G_flow's flow, pixels per frame, before ``speed`` (None: no clamp)."""


def motion_flow(motion: Motion, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, dict]:
    """The dense flow float32 (2, H, W) in pixels per frame for ``motion`` and what to record about it.

    image: uint8 (H, W, 3); mask: bool (H, W). The flow is zero outside the mask.
    """
    sources = [name for name in ("hints", "direction", "flow", "flow_model") if getattr(motion, name) is not None]
    if motion.flow_model is not None:
        return _learned_flow(motion, image, mask)
    if len(sources) != 1:
        raise InputError("give exactly one of --direction, --hint (repeatable), --flow or --flow-model")
    if motion.flow is not None:
        return check_flow(motion.flow, mask.shape) * mask * np.float32(motion.speed), {"motion": "flow"}
    if motion.direction is not None:
        direction = parse_direction(motion.direction)
        angle = direction.sample(motion.seed)
        hints = region_hints(mask, angle, motion.speed)
        return dense_flow(mask, hints, motion.smoothness), {
            "motion": "direction", "direction": direction.name, "angle_degrees": round(angle, 3)}
    hints = [Hint(h.x, h.y, h.dx * motion.speed, h.dy * motion.speed) for h in motion.hints]
    return dense_flow(mask, hints, motion.smoothness), {"motion": "hints", "hints": [h.__dict__ for h in hints]}


def _learned_flow(motion: Motion, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, dict]:
    """G_flow's flow: the text variant reads the caption, the directional one the direction (or angle)."""
    predictor = motion.flow_model
    if motion.hints is not None or motion.flow is not None:
        raise InputError("a G_flow predicts the flow: drop --hint and --flow")
    record = {"motion": f"G_flow ({predictor.conditioning}-conditioned)", "max_flow": motion.max_flow}
    if predictor.conditioning == "text":
        if not motion.caption:
            raise InputError("this is a text-conditioned G_flow: give --prompt \"...\"")
        flow = predictor.predict(image, mask, caption=motion.caption, speed=motion.speed, max_flow=motion.max_flow)
        return flow, {**record, "prompt": motion.caption}
    angle, named = motion.angle, {}
    if motion.direction:
        direction = parse_direction(motion.direction)
        angle = direction.sample(motion.seed)
        named = {"direction": direction.name}
    if angle is None:
        raise InputError("this is a directional G_flow: give --direction \"...\"")
    flow = predictor.predict(image, mask, angle=angle, speed=motion.speed, max_flow=motion.max_flow)
    return flow, {**record, **named, "angle_degrees": round(float(angle), 3)}


def make_renderer(image: np.ndarray, mask: np.ndarray, flow: np.ndarray, frames: int, feather_px: float = 3.0,
                  device: str = "cpu", model: object | None = None) -> tuple[object, dict]:
    """The renderer of a loop — the motion engine, or G_frame when ``model`` (a FrameNet) is given — and what to
    record about it. image uint8 (H, W, 3), mask bool (H, W), flow (2, H, W) pixels per frame."""
    if model is None:
        return (LoopRenderer(image, mask, flow, frames, feather_px, device=device),
                {"renderer": "softmax splatting (motion engine)"})
    from stages.learned.inference import LearnedRenderer

    return LearnedRenderer(model, image, mask, flow, frames, feather_px), {"renderer": "G_frame"}


def stream_frames(renderer) -> Iterator[np.ndarray]:
    """The loop's N uint8 (H, W, 3) frames one by one with a progress bar; ``len()`` is N."""
    return tqdm(renderer, total=len(renderer), desc="rendering", unit="frame", leave=False)


def render_frames(renderer) -> np.ndarray:
    """Render every frame of the loop with a progress bar → uint8 (N, H, W, 3) (memory grows with N)."""
    return np.stack(list(stream_frames(renderer)))


def sidecar_paths(video: Path) -> dict[str, Path]:
    """The files written beside ``video``: its flow picture and its meta.json."""
    return {"flow_picture": video.with_name(f"{video.stem}_flow.png"),
            "meta": video.with_name(f"{video.stem}_meta.json")}


def write_cinemagraph(path: Path, frames: Iterable[np.ndarray], flow: np.ndarray, fps: float, meta: dict,
                      compress: bool = False) -> dict:
    """Write ``frames`` — uint8 (N, H, W, 3), or N uint8 (H, W, 3) as a renderer or :func:`stream_frames`
    yields them, encoded as they come — to ``path`` (format by suffix; ``compress`` deflates ``.npz``) and,
    beside it, the flow picture and meta.json (``meta`` plus frames, fps and file names) → that meta."""
    count = _Counted(frames)
    write_video(path, count, fps=fps, compress=compress)
    sidecars = sidecar_paths(path)
    save_png(sidecars["flow_picture"], flow_to_rgb(flow))
    meta = {**meta, "frames": count.seen, "fps": fps, "video": path.name,
            "flow_picture": sidecars["flow_picture"].name}
    sidecars["meta"].write_text(json.dumps(meta, indent=2))
    return meta


class _Counted:
    """An iterable of frames that counts what went through (and keeps the ``len()`` of what it wraps)."""

    def __init__(self, frames: Iterable[np.ndarray]):
        self.frames, self.seen = frames, 0

    def __len__(self) -> int:
        return len(self.frames)  # TypeError when what it wraps has no length

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame in self.frames:
            self.seen += 1
            yield frame


def video_options(section: dict | None) -> VideoOptions:
    """VideoOptions from the ``video`` section, every key checked (and the formats known)."""
    options = options_from(VideoOptions, section, "video")
    options.check_formats()
    return options


RENDERERS: dict[str, Callable[[VideoOptions], object]] = {}
"""Renderer by name: ``engine`` (softmax splatting of the artistic image) or ``g_frame`` (the trained network)."""


@registry(RENDERERS, "engine")
def engine_model(options: VideoOptions) -> None:
    """The motion engine: no network to load."""
    return None


@registry(RENDERERS, "g_frame")
def g_frame_model(options: VideoOptions):
    """G_frame of ``options.frame_model``, loaded once per process and weights digest."""
    from stages.learned.loading import checkpoint_files, frame_model

    return frame_model(checkpoint_files("frame_model", options.frame_model)[0], options.device)


def render_loop(options: VideoOptions, artistic: np.ndarray, mask: np.ndarray, flow: np.ndarray
                ) -> tuple[np.ndarray, dict]:
    """The seamless loop of ``artistic`` (uint8 (H, W, 3); mask bool (H, W); flow float32 (2, H, W) in pixels per
    frame) by the renderer ``options`` name (G_frame when ``frame_model`` is set, else the engine) → uint8
    (N, H, W, 3) and which renderer made it."""
    model = create(RENDERERS, "renderer", "g_frame" if options.frame_model else "engine", options)
    renderer, rendering = make_renderer(artistic, mask, flow, options.frames, options.feather_px, options.device,
                                        model)
    return render_frames(renderer), rendering
