"""DDIM inversion of a user's picture (method §2, paper §4.6): the latent it would be denoised from, and the
twins denoised from that latent.

The picture, resized to the twins' size, is VAE-encoded (latent mean × ``scaling_factor``) and run up the
DDIM schedule by diffusers' ``DDIMInverseScheduler`` (built from the profile's DDIM scheduler config) with the
UNet's noise predictions conditioned on the artistic prompt, without classifier-free guidance: guidance
breaks the round trip. The inversion stops at the first timestep of the twins' denoising schedule, so any
number of inversion steps (the authors: 999 for paintings) hands the denoiser a latent at the noise level it
starts from.

From the inverted latent, stages.diffusion.twins denoises the artistic pass with the same conditioning
(guidance 1, so it reconstructs the picture) and, in the same UNet calls, the realistic twin with its
prompt and the usual feature injection; Ā is recorded from the artistic pass as for generated twins.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from tqdm import tqdm

from stages.diffusion.attention import AttentionOptions
from stages.diffusion.models import DiffusionModels
from stages.diffusion.twins import TwinOptions, TwinResult, check_options, encode_prompts, twins_from_latent
from stages.errors import InputError
from stages.images import to_tensor
from stages.values import STEPS, ruled

RECONSTRUCTION_GUIDANCE = 1.0
"""Classifier-free guidance of the inversion and of the artistic pass that reconstructs the picture."""
MAX_STEPS = 1000
"""Inversion steps at most: one per training timestep of SD 1.x."""


@dataclass(frozen=True)
class InversionOptions:
    """Knobs of DDIM inversion (params.yaml ``inversion``)."""

    steps: int = ruled(50, STEPS)
    """DDIM inversion steps, 1–1000, spread over the training timesteps; those above the twins' first
    denoising timestep are skipped. The authors use 999 for paintings: few steps lose saturation on the
    round trip, many cost one UNet call each."""


@dataclass
class InvertedTwins:
    """The twins of an inverted picture."""

    twins: TwinResult
    """Its ``artistic`` image is the reconstruction of the picture at the twins' size."""
    inverted: torch.Tensor
    """(1, 4, H/8, W/8) in the latent precision, on the CPU: the latent both passes start from."""
    timesteps: list[int]
    """The inversion's timesteps, first (least noisy) to last."""
    reconstruction_error: float
    """Mean absolute difference, 0–255 per channel, between the reconstruction and the resized picture."""


def check_inversion(options: InversionOptions) -> None:
    """Refuse an inversion step count outside 1–1000."""
    if isinstance(options.steps, bool) or not isinstance(options.steps, int) or not 1 <= options.steps <= MAX_STEPS:
        raise InputError(f"inversion.steps must be an integer from 1 to {MAX_STEPS}, got {options.steps!r}")


def resize_picture(picture: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (H, W, 3) resized (area interpolation) to uint8 (height, width, 3)."""
    return cv2.resize(picture, (width, height), interpolation=cv2.INTER_AREA)


@torch.inference_mode()
def encode_picture(models: DiffusionModels, picture: np.ndarray) -> torch.Tensor:
    """The VAE latent of uint8 (H, W, 3) ``picture`` (sides multiples of 8): its mean × ``scaling_factor``,
    (1, 4, H/8, W/8) in the latent precision, on the compute device."""
    pixels = to_tensor(picture, models.device) * 2.0 - 1.0
    with models.using("vae") as vae:
        latents = vae.encode(pixels.to(models.dtype)).latent_dist.mean * vae.config.scaling_factor
    return latents.to(models.latent_dtype)


@torch.inference_mode()
def invert_latents(models: DiffusionModels, latents: torch.Tensor, embedding: torch.Tensor, steps: int,
                   last_timestep: int) -> tuple[torch.Tensor, list[int]]:
    """Run clean latents (1, 4, h, w) up the DDIM schedule of ``steps`` inversion steps, no further than
    ``last_timestep``, with the UNet's noise predictions for ``embedding`` (77, D) → the noisy latents (same
    shape and precision) and the timesteps run."""
    from diffusers import DDIMInverseScheduler

    inverse = DDIMInverseScheduler.from_config(models.scheduler.config)
    inverse.set_timesteps(steps, device=models.device)
    timesteps = inverse.timesteps[inverse.timesteps <= last_timestep]
    conditioning = embedding[None].to(models.dtype)
    with models.using("unet") as unet:
        for timestep in tqdm(timesteps, desc="inverting", unit="step", leave=False):
            noise = unet(latents.to(models.dtype), timestep, encoder_hidden_states=conditioning).sample
            latents = inverse.step(noise.to(latents.dtype), timestep, latents).prev_sample
    return latents, [int(t) for t in timesteps]


def invert_twins(models: DiffusionModels, picture: np.ndarray, prompt: str, twin_prompt: str,
                 options: TwinOptions = TwinOptions(), attention: AttentionOptions = AttentionOptions(),
                 inversion: InversionOptions = InversionOptions()) -> InvertedTwins:
    """Invert uint8 (H, W, 3) ``picture`` (resized to ``options``' height × width) under ``prompt``, then denoise
    the reconstruction and the realistic twin of ``twin_prompt`` from it in lockstep, recording Ā.
    Deterministic for a given picture and device."""
    check_options(options)
    check_inversion(inversion)
    resized = resize_picture(picture, options.height, options.width)
    models.scheduler.set_timesteps(options.steps, device=models.device)
    first_timestep = int(models.scheduler.timesteps[0])
    embedding = encode_prompts(models, [prompt])[0]
    inverted, timesteps = invert_latents(models, encode_picture(models, resized), embedding, inversion.steps,
                                         first_timestep)
    reconstructing = dataclasses.replace(options, artistic_guidance=RECONSTRUCTION_GUIDANCE)
    twins = twins_from_latent(models, inverted, prompt, twin_prompt, reconstructing, attention)
    error = float(np.abs(twins.artistic.astype(np.float64) - resized).mean())
    return InvertedTwins(twins=twins, inverted=inverted.cpu(), timesteps=timesteps, reconstruction_error=error)
