"""What every diffusion baseline shares: its settings, its geometry, its output and where its weights are.

A baseline is registered in :data:`BASELINES` under its name and built from :class:`BaselineSettings`; its
``generate(prompt, image, seed)`` returns a :class:`BaselineVideo`: uint8 frames and their
:class:`BaselineRecord`. Which profiles can run one is said by :func:`skip_reason`.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from stages.devices import resolve_device
from stages.diffusion.models import (PROCEDURAL_PROFILE, RANDOM_PROFILES, REAL_MODELS, ModelOptions,
                                    cached_snapshot, resolve_dtype)
from stages.errors import InputError, shorten
from stages.options import options_from
from stages.values import rule

if TYPE_CHECKING:
    import torch

BASELINES: dict[str, Callable[["BaselineSettings"], object]] = {}
"""Baseline builder by name: ``text2video_zero``, ``animatediff``, ``svd`` (registered where each is defined)."""

SIZES = ("auto", "native", "small")
ADAPTER_REPO = "guoyww/animatediff-motion-adapter-v1-5-2"
SVD_REPO = "stabilityai/stable-video-diffusion-img2vid"


def size_rule(value: Any, setting: str) -> str:
    """A baseline size setting: one of :data:`SIZES`."""
    if value not in SIZES:
        raise InputError(f"{setting} must be one of {', '.join(SIZES)}, got {shorten(value)}")
    return value


@dataclass(frozen=True)
class BaselineOptions:
    """The ``baselines`` params section: how big the baselines run and where their own weights are."""

    size: str = field(default="auto", metadata=rule(size_rule))
    """auto (native on real-weight profiles, small on tiny) | native (the size the paper compared: appendix F,
    or the model's own default) | small (a few pixels and steps: plumbing only)."""
    adapter_model: str = ADAPTER_REPO
    """Hugging Face repository of AnimateDiff's motion adapter (looked up in the cache only)."""
    adapter_dir: str | None = None
    """folder of the motion adapter (config.json, weights); null: $CINEMAGRAPH_MODELS/<repository name>."""
    svd_model: str = SVD_REPO
    """Hugging Face repository of Stable Video Diffusion (-img2vid: 14 frames; -img2vid-xt: 25)."""
    svd_dir: str | None = None
    """folder of Stable Video Diffusion (model_index.json, unet/, vae/, …); null: $CINEMAGRAPH_MODELS/<name>."""


@dataclass(frozen=True)
class BaselineSettings:
    """The settings a baseline is built from: the models section (profile, device, dtype) and its own."""

    models: ModelOptions = field(default_factory=ModelOptions)
    baselines: BaselineOptions = field(default_factory=BaselineOptions)

    @classmethod
    def from_params(cls, params: dict) -> BaselineSettings:
        """The settings of parsed params (sections ``models`` and ``baselines``; missing: defaults)."""
        from stages.diffusion.makers import model_options

        return cls(model_options(params), options_from(BaselineOptions, params.get("baselines"), "baselines"))

    def small(self) -> bool:
        """Whether the baselines run at their small size (``size: auto`` is small on the tiny profile only)."""
        size = self.baselines.size
        return size == "small" or (size == "auto" and self.models.profile == "tiny")


@dataclass(frozen=True)
class Geometry:
    """Length, size and denoising steps of one baseline's videos."""

    frames: int | None
    """frames per video; None: the model's own default (SVD's UNet config: 14, or 25 for -xt)."""
    height: int
    """pixels."""
    width: int
    """pixels."""
    steps: int
    """denoising steps."""


@dataclass(frozen=True)
class BaselineRecord:
    """What made one baseline video (written beside it)."""

    method: str
    """the baseline's name."""
    weights: tuple[str, ...]
    """each model's weights: a folder, or the tiny random components and their seed."""
    frames: int
    height: int
    """pixels."""
    width: int
    """pixels."""
    fps: int
    """frames per second the video plays at: the rate its authors show it at."""
    seed: int
    """seed of the torch.Generator (on the CPU, so the noise is the same on every device)."""
    steps: int
    """denoising steps."""
    reference: str
    """where its length and size come from."""


@dataclass
class BaselineVideo:
    """One baseline video and its record."""

    frames: np.ndarray
    """uint8 (N, H, W, 3)."""
    record: BaselineRecord


SKIPPED = {PROCEDURAL_PROFILE: "the procedural profile has no diffusion model",
           "sd-random": "there are no full-size random video models"}
"""Profiles the diffusion baselines cannot run on, and why."""


def skip_reason(profile: str) -> str | None:
    """One line saying why the diffusion baselines cannot run on ``profile`` (the comparison lists them as
    skipped with it), or None when they can: the tiny profile (random weights) and sd14/sd15 (real weights)."""
    if profile in SKIPPED:
        return (f"diffusion baselines skipped: {SKIPPED[profile]} (models.profile tiny runs them on random "
                "weights, sd15 or sd14 with real weights)")
    if profile not in (*RANDOM_PROFILES, *REAL_MODELS):
        raise InputError(f"unknown model profile {shorten(profile)}; choose one of "
                         f"{', '.join((PROCEDURAL_PROFILE, *RANDOM_PROFILES, *REAL_MODELS))}")
    return None


def check_profile(profile: str) -> None:
    """InputError with :func:`skip_reason`'s line unless the baselines can run on ``profile``."""
    reason = skip_reason(profile)
    if reason is not None:
        raise InputError(reason)


def seeded(seed: int) -> "torch.Generator":
    """A CPU torch.Generator seeded with ``seed`` (pipelines draw their noise from it, then move it)."""
    import torch

    return torch.Generator("cpu").manual_seed(int(seed))


def as_frames(video: np.ndarray) -> np.ndarray:
    """A pipeline's float video in [0, 1], (N, H, W, 3), as uint8 frames (rounded)."""
    return (np.clip(np.asarray(video, dtype=np.float32), 0.0, 1.0) * 255.0).round().astype(np.uint8)


def model_folder(baseline: str, what: str, repo_id: str, folder: str | None, marker: str, setting: str) -> Path:
    """The folder of a baseline's own model: ``folder`` (default ``$CINEMAGRAPH_MODELS/<repository name>``)
    when it holds ``marker``, else the cached snapshot of ``repo_id`` (no network); else InputError saying
    what to put where."""
    from stages.diffusion.local_models import models_dir

    place = Path(folder).expanduser() if folder else models_dir() / repo_id.rsplit("/", 1)[-1]
    if (place / marker).is_file():
        return place
    cached = cached_snapshot(repo_id, marker)
    if cached is not None:
        return cached
    raise InputError(
        f"{baseline} needs {what} {repo_id} in the Hugging Face cache or in {place} (no {marker} in either): on a "
        f"machine with network access run `hf download {repo_id}` and copy ~/.cache/huggingface here, or put "
        f"its diffusers folder at {place} (or set {setting}); nothing is downloaded at run time")


def load_failure(baseline: str, folder: Path, error: Exception) -> InputError:
    """The one-line error for a model folder that is there but cannot be read."""
    return InputError(f"{baseline}: {folder} is incomplete ({type(error).__name__}: "
                      f"{str(error).splitlines()[0][:200]}); download it again")


class PipelineBaseline(ABC):
    """A baseline running one diffusers pipeline: built once (:meth:`build`), then one video per call of
    :meth:`generate`, one call at a time (a pipeline keeps its scheduler's state between steps).

    Subclasses set ``name``, ``reference`` (where its length and size come from), ``fps`` and the geometries
    ``native`` and ``small``, and define :meth:`build` and :meth:`run`.
    """

    name: str
    reference: str
    fps: int
    native: Geometry
    small: Geometry

    def __init__(self, settings: BaselineSettings):
        check_profile(settings.models.profile)
        self.settings = settings
        self.device = resolve_device(settings.models.device, "models.device")
        self.dtype = resolve_dtype(settings.models.dtype, self.device)
        self.geometry = self.small if settings.small() else self.native
        self.pipeline, self.weights = self.build()
        self.pipeline.set_progress_bar_config(disable=True)
        self.lock = threading.Lock()

    @abstractmethod
    def build(self) -> tuple[object, tuple[str, ...]]:
        """The pipeline on the compute device, and where each of its models' weights came from."""

    @abstractmethod
    def run(self, prompt: str, image: np.ndarray | None, generator: "torch.Generator") -> np.ndarray:
        """The pipeline's video for ``prompt`` or ``image``: float (N, H, W, 3) in [0, 1]."""

    def generate(self, prompt: str, image: np.ndarray | None, seed: int) -> BaselineVideo:
        """One video: from ``prompt`` (text-to-video) or from ``image``, uint8 (H, W, 3) (image-to-video)."""
        import torch

        with self.lock, torch.no_grad():
            frames = as_frames(self.run(prompt, image, seeded(seed)))
        count, height, width = frames.shape[:3]
        return BaselineVideo(frames, BaselineRecord(self.name, self.weights, count, height, width, self.fps,
                                                    int(seed), self.geometry.steps, self.reference))
