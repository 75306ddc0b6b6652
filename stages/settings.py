"""The method's settings, parsed once from params sections into typed options (every key checked).

:class:`PipelineSettings` holds one options dataclass per component of :class:`stages.pipeline.CinemagraphPipeline`;
:meth:`PipelineSettings.from_params` reads them from the parsed params (``rewrite``, ``models``, ``twins``
with ``twins.procedural``, ``attention``, ``inversion``, ``mask``, ``flow``, ``video``; a missing section is
its defaults). The section readers below are what every stage and command uses, so each section is parsed
in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stages.diffusion.attention import AttentionOptions
from stages.diffusion.inversion import InversionOptions
from stages.diffusion.models import ModelOptions, default_geometry
from stages.diffusion.procedural import ProceduralOptions
from stages.diffusion.twins import TwinOptions
from stages.masks.segmenters import SegmenterOptions
from stages.masks.selection import MaskOptions
from stages.motion.render import VideoOptions
from stages.motion.sources import FlowOptions
from stages.options import check_keys, options_from, pick
from stages.text.prompts import RewriteOptions

BATCH_KEYS = {"rewrite": ("prompts",), "twins": ("seed", "procedural")}
"""Keys of a section that configure the batch (the prompt list, the first seed) or a nested section, not the
component the section's dataclass describes."""


def rewrite_options(params: dict) -> RewriteOptions:
    """RewriteOptions from ``params["rewrite"]`` (its ``prompts`` entry names the batch file)."""
    return options_from(RewriteOptions, params.get("rewrite"), "rewrite", batch_keys=BATCH_KEYS["rewrite"])


def model_options(params: dict) -> ModelOptions:
    """ModelOptions from ``params["models"]``."""
    return options_from(ModelOptions, params.get("models"), "models")


def twin_options(params: dict) -> TwinOptions:
    """TwinOptions from ``params["twins"]``; ``auto`` height/width/steps take the profile's defaults."""
    section = dict(params.get("twins") or {})
    for key, value in default_geometry(model_options(params).profile).items():
        if section.get(key, "auto") == "auto":
            section[key] = value
    return options_from(TwinOptions, section, "twins", batch_keys=BATCH_KEYS["twins"])


def procedural_options(params: dict) -> ProceduralOptions:
    """ProceduralOptions from ``params["twins"]["procedural"]``."""
    return options_from(ProceduralOptions, (params.get("twins") or {}).get("procedural"), "twins.procedural")


def attention_options(params: dict) -> AttentionOptions:
    """AttentionOptions from ``params["attention"]``."""
    return options_from(AttentionOptions, params.get("attention"), "attention")


def inversion_options(params: dict) -> InversionOptions:
    """InversionOptions from ``params["inversion"]``."""
    return options_from(InversionOptions, params.get("inversion"), "inversion")


def mask_options(section: dict | None) -> tuple[MaskOptions, SegmenterOptions]:
    """The selection and segmenter options of the ``mask`` section (every key checked)."""
    check_keys(section, "mask", MaskOptions, SegmenterOptions)
    return pick(MaskOptions, section), pick(SegmenterOptions, section)


def flow_options(section: dict | None) -> FlowOptions:
    """FlowOptions from the ``flow`` section, every key checked."""
    return options_from(FlowOptions, section, "flow")


def video_options(section: dict | None) -> VideoOptions:
    """VideoOptions from the ``video`` section, every key checked (and the formats known)."""
    options = options_from(VideoOptions, section, "video")
    options.check_formats()
    return options


@dataclass(frozen=True)
class PipelineSettings:
    """Every setting of the method, one options dataclass per component (the defaults are the offline default)."""

    rewrite: RewriteOptions = field(default_factory=RewriteOptions)
    """the prompt rewriter."""
    models: ModelOptions = field(default_factory=ModelOptions)
    """the profile making the twins (procedural world or a diffusion model)."""
    twins: TwinOptions = field(default_factory=lambda: twin_options({}))
    """lockstep twin generation (sizes resolved for the profile)."""
    procedural: ProceduralOptions = field(default_factory=ProceduralOptions)
    """the procedural world's twins."""
    attention: AttentionOptions = field(default_factory=AttentionOptions)
    """Ā's averaging."""
    inversion: InversionOptions = field(default_factory=InversionOptions)
    """DDIM inversion of a user's picture."""
    mask: MaskOptions = field(default_factory=MaskOptions)
    """clustering of Ā and the selection of its parts."""
    segmenter: SegmenterOptions = field(default_factory=SegmenterOptions)
    """the segmenter of the realistic twin."""
    flow: FlowOptions = field(default_factory=FlowOptions)
    """the motion source."""
    video: VideoOptions = field(default_factory=VideoOptions)
    """the renderer and the loop's files."""
    seed: int = 0
    """``twins.seed``: the seed of a prompt given none (a prompt list's row i uses seed + i)."""

    @classmethod
    def from_params(cls, params: dict) -> PipelineSettings:
        """The settings of parsed params (missing sections: defaults), every key of every section checked."""
        mask, segmenter = mask_options(params.get("mask"))
        return cls(rewrite=rewrite_options(params), models=model_options(params), twins=twin_options(params),
                   procedural=procedural_options(params), attention=attention_options(params),
                   inversion=inversion_options(params), mask=mask, segmenter=segmenter,
                   flow=flow_options(params.get("flow")), video=video_options(params.get("video")),
                   seed=int((params.get("twins") or {}).get("seed", 0)))
