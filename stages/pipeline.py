"""The method as one object you can read and call: :class:`CinemagraphPipeline`.

    from stages.pipeline import CinemagraphPipeline
    pipeline = CinemagraphPipeline.from_params({})          # the offline default (procedural world)
    result = pipeline("a watercolor painting of a waterfall, high definition")
    result.frames  # uint8 (N, H, W, 3): frame 0 = frame N = result.twins.artistic

The pipeline holds named, swappable components, each chosen by name from a registry where it is defined: the
twin maker (``stages.diffusion.makers.TWIN_MAKERS``, by profile), the clusterer and mask selector
(``mask.method``), the segmenter (``stages.masks.segmenters.SEGMENTERS``), the motion source
(``stages.motion.sources.MOTION_SOURCES``) and the renderer (``stages.motion.render.RENDERERS``); the prompt
rewriter is ``stages.text.prompts``. ``__call__`` runs the paper's steps in order and returns every
intermediate result as arrays, writing no file. Each step is a function of its component module, and the
batch stages (``tasks/``) call those same functions one step at a time, turning files into arguments and
results into files — so a change to one component re-keys only the items of its step.
Images are uint8 (H, W, 3) at every step's edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stages.diffusion.makers import PictureTwins, TwinSettings, twin_maker
from stages.errors import InputError
from stages.masks.maker import GivenMask, MaskSettings, given_mask, mask_of_twins
from stages.masks.selection import MaskResult
from stages.motion.render import VideoOptions, render_loop, video_options
from stages.motion.sources import FlowOptions, MotionRequest, flow_options, motion_source
from stages.text.prompts import Rewrite, RewriteOptions, rewrite_options, rewrite_prompt


@dataclass(frozen=True)
class PipelineSettings:
    """Every setting of the method, one group per step (the defaults are the offline default)."""

    rewrite: RewriteOptions = field(default_factory=RewriteOptions)
    """the prompt rewriter (params ``rewrite``)."""
    twins: TwinSettings = field(default_factory=TwinSettings)
    """the twin maker (params ``models``, ``twins``, ``attention``, ``inversion``)."""
    mask: MaskSettings = field(default_factory=MaskSettings)
    """clustering, segmenter and selection (params ``mask``)."""
    flow: FlowOptions = field(default_factory=FlowOptions)
    """the motion source (params ``flow``)."""
    video: VideoOptions = field(default_factory=VideoOptions)
    """the renderer and the loop (params ``video``)."""
    seed: int = 0
    """``twins.seed``: the seed of a prompt given none (a prompt list's row i uses seed + i)."""

    @classmethod
    def from_params(cls, params: dict) -> PipelineSettings:
        """The settings of parsed params (missing sections: defaults), every key of every section checked."""
        return cls(rewrite=rewrite_options(params), twins=TwinSettings.from_params(params),
                   mask=MaskSettings.from_section(params.get("mask")), flow=flow_options(params.get("flow")),
                   video=video_options(params.get("video")), seed=int((params.get("twins") or {}).get("seed", 0)))


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

    @classmethod
    def from_params(cls, params: dict) -> CinemagraphPipeline:
        """The pipeline of parsed params (sections rewrite, models, twins, attention, inversion, mask, flow,
        video; a missing one is its defaults)."""
        return cls(PipelineSettings.from_params(params))

    @property
    def twin_maker(self):
        """The twin maker of ``models.profile`` (a diffusion profile loads its models once per process)."""
        return twin_maker(self.settings.twins)

    def rewrite(self, prompt: str, region: str | None = None, direction: str | None = None) -> Rewrite:
        """Step 1: the artistic prompt → the twin prompt, the region and the direction (method §3)."""
        return rewrite_prompt(prompt, region or None, direction or None, self.settings.rewrite)

    def make_twins(self, rewrite: Rewrite, seed: int):
        """Step 2: the artistic image and its realistic twin, and Ā (method §3–4)."""
        return self.twin_maker.make(rewrite, seed)

    def twins_of_picture(self, picture: np.ndarray, rewrite: Rewrite) -> PictureTwins:
        """Step 2 for a user's picture (uint8 (H, W, 3), at least 32 × 32): its twin and Ā."""
        if picture.shape[0] < 32 or picture.shape[1] < 32:
            raise InputError(f"the picture is {picture.shape[1]}x{picture.shape[0]}: give a picture of at least 32x32")
        return self.twin_maker.of_picture(picture, rewrite)

    def make_mask(self, attention: np.ndarray, grid: tuple[int, int], realistic: np.ndarray, artistic: np.ndarray,
                  region: str) -> MaskResult:
        """Step 3: Ā's clusters (float32 (h·w, h·w) over ``grid``) that the segmentation of the realistic twin
        for ``region`` covers, the edge following the artistic image (method §4–5)."""
        return mask_of_twins(self.settings.mask, attention, grid, realistic, artistic, region)

    def make_flow(self, realistic: np.ndarray, region_ids: np.ndarray, regions: list[dict], request: MotionRequest
                  ) -> tuple[np.ndarray, dict]:
        """Step 4: the flow of the mask's parts (region_ids int (H, W), 0 = static; regions: id and class of
        each) → float32 (2, H, W) in pixels per frame and which source moved each part (method §6)."""
        return motion_source(self.settings.flow)(realistic, region_ids, regions, request)

    def render(self, artistic: np.ndarray, mask: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, dict]:
        """Step 5: the seamless loop of the artistic image (mask bool (H, W), flow (2, H, W)) → uint8
        (N, H, W, 3) and which renderer made it (method §7)."""
        return render_loop(self.settings.video, artistic, mask, flow)

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
