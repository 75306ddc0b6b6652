"""DDIM inversion (stages/diffusion/inversion.py): round trips on the tiny profile, and the twins of a picture.

The round trips run the tiny profile's VAE, text encoder and DDIM schedule with a UNet stand-in that
predicts the noise exactly as a trained model would for Gaussian latents: the tiny profile's random UNet
is no denoiser (its noise prediction changes ~80× faster than its input), so through it no DDIM round trip
returns, however correct the inversion.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from stages.diffusion.inversion import (InversionOptions, encode_picture, invert_latents, invert_twins,
                                        resize_picture)
from stages.diffusion.models import ModelOptions, load_models
from stages.diffusion.twins import StepClock, TwinOptions, denoise, encode_prompts
from stages.errors import InputError

PROMPT = "the ninth wave, a stormy sea"
TWIN = "wave, sea, nature, bright, realistic, photography, 4k, 8k"


class GaussianDenoiser(torch.nn.Module):
    """The exact noise prediction for latents drawn from N(0, std²): ε(x_t, t) = √(1−ā_t)·x_t / (ā_t·std² +
    1 − ā_t), called like a diffusers UNet (sample, timestep, encoder_hidden_states) → ``.sample``."""

    def __init__(self, alphas_cumprod: torch.Tensor, std: float):
        super().__init__()
        self.alphas_cumprod, self.std = alphas_cumprod, std

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor):
        alpha = self.alphas_cumprod[int(timestep)].to(sample.dtype)
        return SimpleNamespace(sample=(1 - alpha).sqrt() * sample / (alpha * self.std**2 + 1 - alpha))


@pytest.fixture(scope="module")
def tiny():
    return load_models(ModelOptions(profile="tiny", device="cpu", dtype="float32"))


LATENT_STD = 0.5
"""Spread of the round trips' latents, about that of Stable Diffusion's scaled VAE latents (1 would make
the denoiser's flow the identity)."""


@pytest.fixture(scope="module")
def gaussian(tiny):
    """A latent (1, 4, 16, 16) drawn from N(0, LATENT_STD²), and the tiny models around its exact denoiser."""
    latent = LATENT_STD * torch.randn((1, 4, 16, 16), generator=torch.Generator().manual_seed(0))
    return latent, dataclasses.replace(tiny, unet=GaussianDenoiser(tiny.scheduler.alphas_cumprod, LATENT_STD))


def round_trip(models, latent, inversion_steps: int, denoising_steps: int) -> tuple[torch.Tensor, ...]:
    """Invert ``latent`` with ``inversion_steps``, denoise it back with ``denoising_steps`` (same prompt, no
    guidance), and denoise unit noise alike → (inverted, reconstructed, denoised from noise)."""
    embeddings = encode_prompts(models, ["", PROMPT])
    models.scheduler.set_timesteps(denoising_steps)
    inverted, _ = invert_latents(models, latent, embeddings[1], inversion_steps, int(models.scheduler.timesteps[0]))
    noise = torch.randn(latent.shape, generator=torch.Generator().manual_seed(1))
    return inverted, *(denoise(models, start, embeddings, [1.0], StepClock()) for start in (inverted, noise))


def relative_error(estimate: torch.Tensor, truth: torch.Tensor) -> float:
    """RMS of the difference over the RMS of the truth."""
    return float((estimate - truth).pow(2).mean().sqrt() / truth.pow(2).mean().sqrt())


@pytest.mark.parametrize("inversion_steps,denoising_steps,bound",
                         [(10, 10, 0.25), (50, 50, 0.05), (200, 200, 0.012), (200, 10, 0.25)])
def test_inverting_then_denoising_returns_the_latent(gaussian, inversion_steps, denoising_steps, bound):
    """Measured: relative errors 0.197 (10 steps), 0.037 (50), 0.009 (200), 0.189 (200 up, 10 down); the
    reconstruction is shrunk towards 0, the saturation few steps lose. Unit noise denoised alike: 1.3."""
    latent, models = gaussian
    inverted, reconstructed, from_noise = round_trip(models, latent, inversion_steps, denoising_steps)
    assert abs(float(inverted.std()) - 1.0) < 0.15  # the inverted latent is noise of unit scale
    assert relative_error(reconstructed, latent) < bound
    assert relative_error(from_noise, latent) > 1.0  # another sample of the same distribution


def test_the_twins_of_a_picture_start_from_its_inversion(tiny):
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (72, 100, 3), dtype=np.uint8)
    options = TwinOptions(height=64, width=64, steps=4)
    result = invert_twins(tiny, picture, PROMPT, TWIN, options, inversion=InversionOptions(steps=8))
    assert result.timesteps == [1, 126, 251, 376, 501, 626, 751]  # none past the first denoising timestep, 751
    expected, _ = invert_latents(tiny, encode_picture(tiny, resize_picture(picture, 64, 64)),
                                 encode_prompts(tiny, [PROMPT])[0], 8, 751)
    assert torch.equal(result.inverted, expected)
    twins = result.twins
    assert twins.artistic.shape == twins.realistic.shape == (64, 64, 3)
    assert twins.attention.shape == (16, 16) and twins.attention_grid == (4, 4)
    assert np.allclose(twins.attention.sum(axis=1), 1.0, atol=1e-4)
    assert not np.array_equal(twins.artistic, twins.realistic)
    assert result.reconstruction_error == pytest.approx(
        np.abs(twins.artistic.astype(float) - resize_picture(picture, 64, 64)).mean())


@pytest.mark.parametrize("steps", [0, 1001, 2.5])
def test_inversion_steps_out_of_range_are_one_line(tiny, steps):
    with pytest.raises(InputError, match="inversion.steps"):
        invert_twins(tiny, np.zeros((64, 64, 3), np.uint8), PROMPT, TWIN, TwinOptions(height=64, width=64, steps=2),
                     inversion=InversionOptions(steps=steps))
