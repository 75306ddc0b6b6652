"""The method as one object you can read and call: :class:`CinemagraphPipeline`.

    from stages.pipeline import CinemagraphPipeline
    pipeline = CinemagraphPipeline.from_params({})          # the offline default (procedural world)
    result = pipeline("a watercolor painting of a waterfall, high definition")
    result.frames  # uint8 (N, H, W, 3): frame 0 = frame N = result.twins.artistic

The pipeline holds named, swappable components, each chosen by name from a registry where it is defined:
the prompt rewriter, the twin maker (:data:`TWIN_MAKERS`, by profile), the clusterer and the mask selector
(``mask.method``), the segmenter (:data:`stages.masks.segmenters.SEGMENTERS`), the motion source
(:data:`MOTION_SOURCES`) and the renderer (:data:`RENDERERS`). ``__call__`` runs the paper's steps in order and
returns every intermediate result as arrays, writing no file; each step is a method of its own, so the batch
stages (``tasks/``) run the same code one step at a time and only turn files into arguments and results into
files. Images are uint8 (H, W, 3) at every step's edge.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from stages.diffusion.models import PROCEDURAL_PROFILE
from stages.diffusion.procedural import ProceduralTwins, procedural_twins, self_attention
from stages.errors import InputError
from stages.masks.segmenters import Segmenter, SegmenterOptions, create_segmenter, vocabulary_for
from stages.masks.selection import MaskResult, region_mask
from stages.memo import loaded_once
from stages.settings import PipelineSettings
from stages.text.prompts import Rewrite, rewrite_prompt

def registry(components: dict[str, Callable], name: str) -> Callable[[Callable], Callable]:
    """Decorator: add a component builder to ``components`` under ``name``."""
    def add(builder: Callable) -> Callable:
        components[name] = builder
        return builder
    return add


def create(components: dict[str, Callable], kind: str, name: str, *args) -> object:
    """The component ``name`` of the registry ``components`` built from ``args``; InputError listing the names
    for an unknown one (``kind`` says what it is)."""
    if name not in components:
        raise InputError(f"unknown {kind} {name!r}; {kind}s: {', '.join(components)}")
    return components[name](*args)


# --- twin makers ------------------------------------------------------------------------------------------


@dataclass
class PictureTwins:
    """The twins of a user's picture: ``artistic`` is the picture, ``realistic`` its twin (same size)."""

    artistic: np.ndarray
    """uint8 (H, W, 3)."""
    realistic: np.ndarray
    """uint8 (H, W, 3)."""
    attention: np.ndarray
    """float32 (h·w, h·w), rows sum to 1."""
    attention_grid: tuple[int, int]
    """(h, w) of Ā's grid."""
    source: str
    """own-picture (the picture is its own twin) or ddim-inversion."""
    inverted: object | None = None
    """ddim-inversion: the :class:`stages.diffusion.inversion.InvertedTwins` (reconstruction, timesteps)."""


TWIN_MAKERS: dict[str, Callable[[PipelineSettings], object]] = {}
"""Twin maker by kind: ``procedural`` (the synthetic world) or ``diffusion`` (every Stable Diffusion profile)."""


@registry(TWIN_MAKERS, "procedural")
class ProceduralTwinMaker:
    """The procedural world: twins drawn with their exact truth; a picture is its own twin (Ā from its
    colour and texture features)."""

    def __init__(self, settings: PipelineSettings):
        self.settings = settings

    def make(self, rewrite: Rewrite, seed: int) -> ProceduralTwins:
        """The pair of a rewritten prompt at the twins' size."""
        from stages.diffusion.twins import check_size

        options = self.settings.twins
        check_size(options.height, options.width)
        return procedural_twins(rewrite, seed, options.height, options.width, self.settings.procedural)

    def of_picture(self, picture: np.ndarray, rewrite: Rewrite) -> PictureTwins:
        """The picture (cropped to multiples of 16 pixels) as both twins, Ā from its own features."""
        height, width = (picture.shape[0] // 16) * 16, (picture.shape[1] // 16) * 16
        picture = np.ascontiguousarray(picture[:height, :width])
        return PictureTwins(picture, picture, self_attention(picture), (height // 16, width // 16), "own-picture")


@loaded_once(maxsize=2)
def diffusion_models(options):
    """The diffusion models of ModelOptions ``options``, loaded once per process (each Ray worker its own)."""
    from stages.diffusion.models import load_models

    return load_models(options)


@registry(TWIN_MAKERS, "diffusion")
class DiffusionTwinMaker:
    """A Stable Diffusion profile: lockstep twins with feature injection; a picture is DDIM-inverted."""

    def __init__(self, settings: PipelineSettings):
        self.settings = settings
        self.models = diffusion_models(settings.models)

    def make(self, rewrite: Rewrite, seed: int):
        """The pair (TwinResult) of a rewritten prompt, Ā from the same UNet calls."""
        from stages.diffusion.twins import generate_twins

        return generate_twins(self.models, rewrite.prompt, rewrite.twin_prompt, seed, self.settings.twins,
                              self.settings.attention)

    def of_picture(self, picture: np.ndarray, rewrite: Rewrite) -> PictureTwins:
        """The picture unchanged as the artistic image, its realistic twin resized to the picture."""
        from stages.diffusion.inversion import invert_twins, resize_picture

        result = invert_twins(self.models, picture, rewrite.prompt, rewrite.twin_prompt, self.settings.twins,
                              self.settings.attention, self.settings.inversion)
        height, width = picture.shape[:2]
        return PictureTwins(picture, resize_picture(result.twins.realistic, height, width), result.twins.attention,
                            tuple(result.twins.attention_grid), "ddim-inversion", result)


def twin_maker_kind(profile: str) -> str:
    """The twin maker a models profile uses."""
    return PROCEDURAL_PROFILE if profile == PROCEDURAL_PROFILE else "diffusion"


# --- motion sources ---------------------------------------------------------------------------------------


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


MOTION_SOURCES: dict[str, Callable[[PipelineSettings], object]] = {}
"""Motion source by name: ``g_flow`` (the trained network) or ``direction`` (the prompt's direction phrase on
the parts it names, each other part its class's default motion)."""


@registry(MOTION_SOURCES, "direction")
class DirectionMotion:
    """A uniform motion per part: the direction phrase on the parts it names, class defaults elsewhere."""

    def __init__(self, settings: PipelineSettings):
        self.options = settings.flow

    def __call__(self, realistic: np.ndarray, region_ids: np.ndarray, regions: list[dict], request: MotionRequest
                 ) -> tuple[np.ndarray, dict]:
        """flow float32 (2, H, W) in pixels per frame, and motion.json's record."""
        from dataclasses import asdict

        from stages.motion.sources import part_flow

        flow, parts = part_flow(region_ids, regions, request.region, request.direction, self.options.speed,
                                request.seed)
        return flow, {"source": "per part: direction phrase or class default", "parts": parts,
                      "settings": asdict(self.options)}


@registry(MOTION_SOURCES, "g_flow")
class LearnedMotion:
    """G_flow's flow from the realistic twin, the mask and the prompt (or the direction's angle)."""

    def __init__(self, settings: PipelineSettings):
        from stages.learned.loading import checkpoint_files, flow_predictor

        self.options = settings.flow
        self.predictor = flow_predictor(checkpoint_files("flow_model", self.options.flow_model)[0],
                                        self.options.device)

    def __call__(self, realistic: np.ndarray, region_ids: np.ndarray, regions: list[dict], request: MotionRequest
                 ) -> tuple[np.ndarray, dict]:
        """flow float32 (2, H, W) in pixels per frame, and motion.json's record."""
        from dataclasses import asdict

        from stages.motion.render import Motion, motion_flow
        from stages.motion.sources import part_flow

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


def motion_source_name(settings: PipelineSettings) -> str:
    """The motion source the settings name: G_flow when ``flow.flow_model`` is set, else the direction."""
    return "g_flow" if settings.flow.flow_model else "direction"


# --- renderers ----------------------------------------------------------------------------------------------


RENDERERS: dict[str, Callable[[PipelineSettings], object]] = {}
"""Renderer by name: ``engine`` (softmax splatting of the artistic image) or ``g_frame`` (the trained network)."""


@registry(RENDERERS, "engine")
def engine_renderer(settings: PipelineSettings) -> None:
    """The motion engine: no network to load."""
    return None


@registry(RENDERERS, "g_frame")
def g_frame_renderer(settings: PipelineSettings):
    """G_frame of ``video.frame_model``, loaded once per process and weights digest."""
    from stages.learned.loading import checkpoint_files, frame_model

    return frame_model(checkpoint_files("frame_model", settings.video.frame_model)[0], settings.video.device)


def renderer_name(settings: PipelineSettings) -> str:
    """The renderer the settings name: G_frame when ``video.frame_model`` is set, else the engine."""
    return "g_frame" if settings.video.frame_model else "engine"


# --- masks --------------------------------------------------------------------------------------------------


@loaded_once(maxsize=2)
def segmenter_for(options: SegmenterOptions) -> Segmenter:
    """The segmenter of ``options``, built once per process (each Ray worker keeps its own)."""
    return create_segmenter(options)


@dataclass
class GivenMask:
    """A user's mask as the region mask: every connected part gets the prompt's region as its class."""

    mask: np.ndarray
    """bool (H, W)."""
    region_ids: np.ndarray
    """int32 (H, W): 1… for the connected parts, 0 outside the mask."""
    regions: list[dict]
    """one dict per part: id, class, pixels."""


def given_mask(mask: np.ndarray, size: tuple[int, int], region: str) -> GivenMask:
    """A bool mask (its top-left part of ``size`` (H, W), for a picture cropped to the artistic image) with
    every connected part (8-connectivity) of class ``region``; InputError past 255 parts."""
    import cv2

    mask = mask[: size[0], : size[1]]
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count > 256:
        raise InputError(f"the mask has {count - 1} separate white parts; at most 255 are supported")
    return GivenMask(mask, labels, [{"id": label, "class": region, "pixels": int((labels == label).sum())}
                                    for label in range(1, count)])


# --- the pipeline ---------------------------------------------------------------------------------------


@dataclass
class CinemagraphOutput:
    """Every intermediate result of one cinemagraph."""

    rewrite: Rewrite
    """the artistic prompt, the twin prompt, the region and the direction."""
    seed: int
    """seed of the twins and of a direction's angle."""
    twins: object
    """ProceduralTwins, TwinResult or PictureTwins: artistic, realistic (uint8 (H, W, 3)), attention (Ā, float32
    (h·w, h·w)), attention_grid (h, w)."""
    mask: MaskResult | GivenMask
    """mask bool (H, W), region_ids int (H, W), regions; a MaskResult also holds clusters and segmentation."""
    flow: np.ndarray
    """float32 (2, H, W), pixels per frame."""
    motion: dict
    """which source moved each part (motion.json)."""
    frames: np.ndarray
    """uint8 (N, H, W, 3); frame 0 is the artistic image, and so would frame N be."""
    rendering: dict
    """which renderer made the frames."""


class CinemagraphPipeline:
    """Text (or a picture) to a cinemagraph: rewrite → twins → Ā's clusters and the mask → flow → frames."""

    def __init__(self, settings: PipelineSettings = PipelineSettings()):
        self.settings = settings
        self._twin_maker = self._motion = None

    @classmethod
    def from_params(cls, params: dict) -> CinemagraphPipeline:
        """The pipeline of parsed params (sections rewrite, models, twins, attention, inversion, mask, flow,
        video; a missing one is its defaults)."""
        return cls(PipelineSettings.from_params(params))

    @property
    def twin_maker(self):
        """The twin maker of ``models.profile`` (built on first use: a diffusion profile loads its models)."""
        if self._twin_maker is None:
            kind = twin_maker_kind(self.settings.models.profile)
            self._twin_maker = create(TWIN_MAKERS, "twin maker", kind, self.settings)
        return self._twin_maker

    @property
    def motion_source(self):
        """The motion source the ``flow`` settings name (built on first use: G_flow loads its weights)."""
        if self._motion is None:
            self._motion = create(MOTION_SOURCES, "motion source", motion_source_name(self.settings), self.settings)
        return self._motion

    def rewrite(self, prompt: str, region: str | None = None, direction: str | None = None) -> Rewrite:
        """Step 1: the artistic prompt → the twin prompt, the region and the direction (method §3)."""
        return rewrite_prompt(prompt, region or None, direction or None, self.settings.rewrite)

    def make_twins(self, rewrite: Rewrite, seed: int):
        """Step 2: the artistic image and its realistic twin, and Ā (method §3–4)."""
        return self.twin_maker.make(rewrite, seed)

    def twins_of_picture(self, picture: np.ndarray, rewrite: Rewrite) -> PictureTwins:
        """Step 2 for a user's picture (uint8 (H, W, 3), at least 32 × 32): its twin and Ā."""
        if picture.shape[0] < 32 or picture.shape[1] < 32:
            raise InputError(f"the picture is {picture.shape[1]}x{picture.shape[0]}: give one of at least 32x32")
        return self.twin_maker.of_picture(picture, rewrite)

    def make_mask(self, attention: np.ndarray, grid: tuple[int, int], realistic: np.ndarray, artistic: np.ndarray,
                  region: str) -> MaskResult:
        """Step 3: Ā's clusters (float32 (h·w, h·w) over ``grid``) that the segmentation of the realistic twin
        for ``region`` covers, the edge following the artistic image (method §4–5)."""
        return region_mask(attention, grid, realistic, segmenter_for(self.settings.segmenter),
                           vocabulary_for(region), self.settings.mask, artistic)

    def make_flow(self, realistic: np.ndarray, region_ids: np.ndarray, regions: list[dict], request: MotionRequest
                  ) -> tuple[np.ndarray, dict]:
        """Step 4: the flow of the mask's parts (region_ids int (H, W), 0 = static; regions: id and class of
        each) → float32 (2, H, W) in pixels per frame and which source moved each part (method §6)."""
        return self.motion_source(realistic, region_ids, regions, request)

    def render(self, artistic: np.ndarray, mask: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, dict]:
        """Step 5: the seamless loop of the artistic image (mask bool (H, W), flow (2, H, W)) → uint8
        (N, H, W, 3) and which renderer made it (method §7)."""
        from stages.motion.render import make_renderer, render_frames

        options = self.settings.video
        model = create(RENDERERS, "renderer", renderer_name(self.settings), self.settings)
        renderer, rendering = make_renderer(artistic, mask, flow, options.frames, options.feather_px, options.device,
                                            model)
        return render_frames(renderer), rendering

    def __call__(self, prompt: str, image: np.ndarray | None = None, mask: np.ndarray | None = None,
                 region: str | None = None, direction: str | None = None, seed: int | None = None
                 ) -> CinemagraphOutput:
        """One cinemagraph of ``prompt``; ``image`` (uint8 (H, W, 3)): animate this picture instead of
        generating one; ``mask`` (bool, the picture's size): the region instead of clusters and segmentation;
        ``seed``: default ``twins.seed``."""
        seed = self.settings.seed if seed is None else seed
        rewrite = self.rewrite(prompt, region, direction)
        twins = self.make_twins(rewrite, seed) if image is None else self.twins_of_picture(image, rewrite)
        if mask is None:
            chosen = self.make_mask(twins.attention, tuple(twins.attention_grid), twins.realistic, twins.artistic,
                                    rewrite.region)
        else:
            chosen = given_mask(mask, twins.artistic.shape[:2], rewrite.region)
        flow, motion = self.make_flow(twins.realistic, chosen.region_ids, chosen.regions,
                                      MotionRequest.of(rewrite, seed))
        frames, rendering = self.render(twins.artistic, chosen.region_ids > 0, flow)
        return CinemagraphOutput(rewrite, seed, twins, chosen, flow, motion, frames, rendering)
