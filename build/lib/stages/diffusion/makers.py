"""Twin makers: the artistic image, its realistic twin and Ā for a rewritten prompt or a user's picture.

:data:`TWIN_MAKERS` holds one maker per kind of profile — ``procedural`` (the synthetic world, drawn with its
exact truth; a picture is its own twin) and ``diffusion`` (every Stable Diffusion profile: lockstep twins with
feature injection; a picture is DDIM-inverted). :class:`TwinSettings` reads their params sections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from stages.diffusion.attention import AttentionOptions
from stages.diffusion.inversion import InversionOptions
from stages.diffusion.models import PROCEDURAL_PROFILE, ModelOptions, default_geometry
from stages.diffusion.procedural import ProceduralOptions, ProceduralTwins, procedural_twins, self_attention
from stages.diffusion.twins import TwinOptions
from stages.errors import InputError
from stages.memo import loaded_once
from stages.options import options_from
from stages.registry import create, registry
from stages.text.prompts import Rewrite

BATCH_KEYS = ("seed", "procedural")
"""Keys of the ``twins`` section that are not TwinOptions: the first seed of a batch, the procedural world."""


def model_options(params: dict) -> ModelOptions:
    """ModelOptions from ``params["models"]``."""
    return options_from(ModelOptions, params.get("models"), "models")


def twin_options(params: dict) -> TwinOptions:
    """TwinOptions from ``params["twins"]``; ``auto`` height/width/steps take the profile's defaults."""
    section = dict(params.get("twins") or {})
    for key, value in default_geometry(model_options(params).profile).items():
        if section.get(key, "auto") == "auto":
            section[key] = value
    return options_from(TwinOptions, section, "twins", batch_keys=BATCH_KEYS)


def procedural_options(params: dict) -> ProceduralOptions:
    """ProceduralOptions from ``params["twins"]["procedural"]``."""
    return options_from(ProceduralOptions, (params.get("twins") or {}).get("procedural"), "twins.procedural")


def attention_options(params: dict) -> AttentionOptions:
    """AttentionOptions from ``params["attention"]``."""
    return options_from(AttentionOptions, params.get("attention"), "attention")


def inversion_options(params: dict) -> InversionOptions:
    """InversionOptions from ``params["inversion"]``."""
    return options_from(InversionOptions, params.get("inversion"), "inversion")


@dataclass(frozen=True)
class TwinSettings:
    """The settings of the twins step (params sections models, twins, attention, inversion)."""

    models: ModelOptions = field(default_factory=ModelOptions)
    """the profile making the twins."""
    twins: TwinOptions = field(default_factory=lambda: twin_options({}))
    """lockstep twin generation (sizes resolved for the profile)."""
    procedural: ProceduralOptions = field(default_factory=ProceduralOptions)
    """the procedural world's twins."""
    attention: AttentionOptions = field(default_factory=AttentionOptions)
    """Ā's averaging."""
    inversion: InversionOptions = field(default_factory=InversionOptions)
    """DDIM inversion of a user's picture."""

    @classmethod
    def from_params(cls, params: dict) -> TwinSettings:
        """The settings of parsed params (missing sections: defaults), every key checked."""
        return cls(model_options(params), twin_options(params), procedural_options(params),
                   attention_options(params), inversion_options(params))


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


TWIN_MAKERS: dict[str, Callable[[TwinSettings], object]] = {}
"""Twin maker by kind: ``procedural`` (the synthetic world) or ``diffusion`` (every Stable Diffusion profile)."""


@registry(TWIN_MAKERS, "procedural")
class ProceduralTwinMaker:
    """The procedural world: twins drawn with their exact truth; a picture is its own twin (Ā from its
    colour and texture features)."""

    def __init__(self, settings: TwinSettings):
        self.settings = settings

    def make(self, rewrite: Rewrite, seed: int) -> ProceduralTwins:
        """The pair of a rewritten prompt at the twins' size."""
        from stages.diffusion.twins import check_size

        options = self.settings.twins
        check_size(options.height, options.width)
        return procedural_twins(rewrite, seed, options.height, options.width, self.settings.procedural)

    def of_picture(self, picture: np.ndarray, rewrite: Rewrite) -> PictureTwins:
        """The picture, at its exact size, as both twins; Ā from its own features on the nearest grid of 16-pixel
        cells (the picture resized to it for the features only)."""
        import cv2

        grid = (max(1, round(picture.shape[0] / 16)), max(1, round(picture.shape[1] / 16)))
        cells = picture
        if picture.shape[:2] != (grid[0] * 16, grid[1] * 16):
            cells = cv2.resize(picture, (grid[1] * 16, grid[0] * 16), interpolation=cv2.INTER_AREA)
        return PictureTwins(picture, picture, self_attention(cells), grid, "own-picture")


@loaded_once(maxsize=2)
def diffusion_models(options):
    """The diffusion models of ModelOptions ``options``, loaded once per process (each Ray worker its own)."""
    from stages.diffusion.models import load_models

    return load_models(options)


@registry(TWIN_MAKERS, "diffusion")
class DiffusionTwinMaker:
    """A Stable Diffusion profile: lockstep twins with feature injection; a picture is DDIM-inverted."""

    def __init__(self, settings: TwinSettings):
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


def twin_maker(settings: TwinSettings):
    """The twin maker of ``settings.models.profile`` (a diffusion profile loads its models, once per process)."""
    return create(TWIN_MAKERS, "twin maker", twin_maker_kind(settings.models.profile), settings)
