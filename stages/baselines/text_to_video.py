"""Text-to-video baselines on Stable Diffusion: Text2Video-Zero (the paper's baseline) and AnimateDiff.

Both run on the Stable Diffusion of ``models.profile`` — the tiny random one, or real v1.4/v1.5 weights read
by :func:`stages.diffusion.models.load_models` — loaded for the baseline alone: Text2Video-Zero swaps the
UNet's attention processors while it runs, which the twins' UNet must never see.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from stages.baselines.common import (BASELINES, Geometry, PipelineBaseline, BaselineSettings, load_failure,
                                     model_folder)
from stages.diffusion.models import REAL_MODELS, DiffusionModels, load_models, locate_weights
from stages.errors import InputError
from stages.registry import registry

# The time window of Text2Video-Zero's motion in DDIM steps counted from the end (the pipeline's t0=44, t1=47 of
# 50 steps): the first frame's latent at step t1 is warped along the motion field and noised back to t0.
NOISE_WINDOW = (44, 47, 50)


def stable_diffusion(baseline: str, settings: BaselineSettings) -> tuple[DiffusionModels, str]:
    """The profile's Stable Diffusion on the compute device, and where its weights came from."""
    options = dataclasses.replace(settings.models, offload=False)
    try:
        models = load_models(options)
    except InputError as error:
        raise InputError(f"{baseline} needs Stable Diffusion: {error}") from None
    if options.profile in REAL_MODELS:
        folder = locate_weights(options.profile, options.local_dir)
        return models, f"{REAL_MODELS[options.profile].title} from {folder}"
    return models, f"tiny random Stable Diffusion (models.init_seed {options.init_seed})"


def noise_window(steps: int) -> tuple[int, int]:
    """Text2Video-Zero's (t0, t1) for ``steps`` DDIM steps: the pipeline's 44 and 47 of 50 scaled, with
    t0 < t1 < steps (``steps`` ≥ 2)."""
    low, high, base = NOISE_WINDOW
    t1 = min(steps - 1, round(steps * high / base))
    return min(t1 - 1, round(steps * low / base)), t1


@registry(BASELINES, "text2video_zero")
class TextToVideoZero(PipelineBaseline):
    """Text2Video-Zero (Khachatryan et al.): Stable Diffusion with cross-frame attention and latents warped along
    a global motion field; no training. diffusers' TextToVideoZeroPipeline with DDIM (as the authors' code), no
    safety checker."""

    name = "text2video_zero"
    reference = "the paper's appendix F: Text2Video-Zero natively makes 8 frames at 512×512"
    fps = 4  # diffusers' documentation of the pipeline saves its videos at 4 fps
    native = Geometry(8, 512, 512, 50)
    small = Geometry(8, 64, 64, 3)

    def build(self) -> tuple[object, tuple[str, ...]]:
        """TextToVideoZeroPipeline on the profile's Stable Diffusion."""
        from diffusers import DDIMScheduler, TextToVideoZeroPipeline

        models, weights = stable_diffusion(self.name, self.settings)
        pipeline = TextToVideoZeroPipeline(
            vae=models.vae, text_encoder=models.text_encoder, tokenizer=models.tokenizer, unet=models.unet,
            scheduler=DDIMScheduler.from_config(models.scheduler.config), safety_checker=None,
            feature_extractor=None, requires_safety_checker=False)
        return pipeline, (weights,)

    def run(self, prompt: str, image: np.ndarray | None, generator: torch.Generator) -> np.ndarray:
        """The video of ``prompt`` (``image`` is not used)."""
        geometry = self.geometry
        t0, t1 = noise_window(geometry.steps)
        return self.pipeline(prompt, video_length=geometry.frames, height=geometry.height, width=geometry.width,
                             num_inference_steps=geometry.steps, generator=generator, t0=t0, t1=t1).images


def motion_adapter(settings: BaselineSettings, dtype: torch.dtype) -> tuple[torch.nn.Module, str]:
    """AnimateDiff's motion adapter: tiny random on the tiny profile, else read from its folder or the cache."""
    from diffusers import MotionAdapter

    from stages.baselines.tiny import tiny_motion_adapter

    if settings.models.profile == "tiny":
        seed = settings.models.init_seed
        return tiny_motion_adapter(seed), f"tiny random motion adapter (models.init_seed {seed})"
    options = settings.baselines
    folder = model_folder("animatediff", "the motion adapter", options.adapter_model, options.adapter_dir,
                          "config.json", "baselines.adapter_dir")
    try:
        adapter = MotionAdapter.from_pretrained(folder, dtype=dtype, local_files_only=True)
    except (OSError, ValueError) as error:  # a missing or damaged weights file
        raise load_failure("animatediff", folder, error) from error
    return adapter, f"motion adapter {options.adapter_model} from {folder}"


@registry(BASELINES, "animatediff")
class AnimateDiff(PipelineBaseline):
    """AnimateDiff (Guo et al.): motion modules trained on videos, inserted into Stable Diffusion 1.5's UNet.
    diffusers' AnimateDiffPipeline with DDIM on the linear beta schedule the adapter was trained with (its model
    card)."""

    name = "animatediff"
    reference = "AnimateDiffPipeline's own default: 16 frames at Stable Diffusion 1.5's 512×512, 50 steps"
    fps = 8  # the authors' code saves its samples at 8 fps
    native = Geometry(16, 512, 512, 50)
    small = Geometry(16, 64, 64, 3)

    def build(self) -> tuple[object, tuple[str, ...]]:
        """AnimateDiffPipeline: the profile's Stable Diffusion UNet with the motion adapter's modules."""
        from diffusers import AnimateDiffPipeline, DDIMScheduler

        models, weights = stable_diffusion(self.name, self.settings)
        adapter, adapter_weights = motion_adapter(self.settings, self.dtype)
        scheduler = DDIMScheduler.from_config(models.scheduler.config, clip_sample=False, timestep_spacing="linspace",
                                              beta_schedule="linear", steps_offset=1)
        pipeline = AnimateDiffPipeline(vae=models.vae, text_encoder=models.text_encoder, tokenizer=models.tokenizer,
                                       unet=models.unet, motion_adapter=adapter, scheduler=scheduler)
        return pipeline.to(device=self.device, dtype=self.dtype), (weights, adapter_weights)

    def run(self, prompt: str, image: np.ndarray | None, generator: torch.Generator) -> np.ndarray:
        """The video of ``prompt`` (``image`` is not used)."""
        geometry = self.geometry
        return self.pipeline(prompt, num_frames=geometry.frames, height=geometry.height, width=geometry.width,
                             num_inference_steps=geometry.steps, generator=generator, output_type="np").frames[0]
