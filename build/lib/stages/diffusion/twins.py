"""Twin image generation (method §2): an artistic image and its pixel-aligned realistic twin.

Both start from the same latent: seeded noise, or the DDIM inversion of a user's picture
(stages.diffusion.inversion). The realistic pass (twin prompt, guidance 7.5, unconditional embedding
mixed with the artistic prompt's: e = α·e_uncond + (1−α)·e_art, α = 0.75) receives the artistic pass's
features, Plug-and-Play style:
- the queries and keys of every decoder self-attention layer but the first, during the first half of the
  steps;
- the output of the decoder ResNet ``up_blocks.1.resnets.1`` (LDM output block 4), during the first 80 %.
Each classifier-free-guidance branch receives the same branch of the artistic pass (unconditional →
unconditional, conditional → conditional).

Two modes give the same result:
- ``lockstep`` (default): one UNet call per step on the batch [art_uncond, art_cond, real_uncond,
  real_cond]; the realistic rows are overwritten with the artistic rows inside that call. Nothing is stored.
- ``two-pass`` (the authors' way, kept as the reference): the artistic pass writes the features of every
  step to disk, then the realistic pass reads them back.

The attention cache (stages.diffusion.attention) is filled from the artistic conditional branch during the same
call. Latents stay float32 (float64 for float64 models) between steps; the UNet runs in the models'
precision.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from stages.diffusion.attention import AttentionMean, AttentionOptions, attention_grid
from stages.errors import InputError
from stages.images import to_uint8
from stages.diffusion.models import DiffusionModels
from stages.values import FRACTION, Range, SIZE, auto_or, ruled

MODES = ("lockstep", "two-pass")
SIZE_MULTIPLE = 64
ARTISTIC_CONDITIONAL_ROW = 1  # row of the artistic conditional branch in every batch that holds it


@dataclass(frozen=True)
class TwinOptions:
    """Knobs of twin generation (params.yaml ``twins``); defaults are the paper's."""

    height: int = ruled(512, auto_or(SIZE))
    """Image height in pixels, a multiple of 64."""
    width: int = ruled(512, auto_or(SIZE))
    """Image width in pixels, a multiple of 64."""
    steps: int = ruled(50, auto_or(Range(0, 1000, integer=True)))
    """DDIM steps (η = 0)."""
    artistic_guidance: float = ruled(5.0, Range(0, 100))
    """Classifier-free guidance of the artistic image."""
    realistic_guidance: float = ruled(7.5, Range(0, 100))
    """Classifier-free guidance of the realistic twin."""
    negative_mix: float = ruled(0.75, FRACTION)
    """α of the realistic pass's unconditional embedding α·e_uncond + (1−α)·e_art."""
    negative_prompt: str = ""
    """Prompt of the unconditional embedding e_uncond."""
    attention_injection: float = ruled(0.5, FRACTION)
    """Fraction of the steps (from the first) whose decoder self-attention queries/keys are injected."""
    resnet_injection: float = ruled(0.8, FRACTION)
    """Fraction of the steps (from the first) whose decoder ResNet output is injected."""
    resnet_layer: str = "up_blocks.1.resnets.1"
    """The injected ResNet block (LDM output block 4)."""
    mode: str = "lockstep"
    """lockstep (one batched UNet call per step) or two-pass (store features on disk, then inject)."""
    feature_dir: str | None = None
    """two-pass only: folder for the stored features (default: a temporary folder, removed afterwards)."""


@dataclass
class TwinResult:
    """Twin images, their final latents and the averaged self-attention."""

    artistic: np.ndarray
    """uint8 (H, W, 3)."""
    realistic: np.ndarray
    """uint8 (H, W, 3), pixel-aligned with ``artistic``."""
    artistic_latents: torch.Tensor
    """(1, 4, H/8, W/8) in the latent precision, before decoding."""
    realistic_latents: torch.Tensor
    """(1, 4, H/8, W/8) in the latent precision."""
    attention: np.ndarray
    """float32 (h·w, h·w) with (h, w) = ``attention_grid``; rows sum to 1."""
    attention_grid: tuple[int, int]
    """(h, w) of the attention grid: 1/16 of the image size."""
    attention_maps: int
    """How many (layer, head, step) maps Ā averages."""
    feature_bytes: int = 0
    """Bytes of features written to disk (two-pass mode; 0 in lockstep)."""
    timesteps: list[int] = field(default_factory=list)
    """The DDIM timesteps that were run, first to last."""


def check_size(height: int, width: int) -> None:
    """Refuse sizes the UNet cannot take (not positive multiples of 64) with the nearest valid ones."""
    for name, value in (("height", height), ("width", width)):
        if not isinstance(value, int) or value < SIZE_MULTIPLE or value % SIZE_MULTIPLE:
            lower = max(SIZE_MULTIPLE, int(value) // SIZE_MULTIPLE * SIZE_MULTIPLE)
            raise InputError(
                f"image {name} {value} is not a multiple of {SIZE_MULTIPLE} (the UNet halves the 1/8-size "
                f"latent three times): use {lower} or {lower + SIZE_MULTIPLE}"
            )


def check_options(options: TwinOptions) -> None:
    """Refuse option values that make no sense, saying which and why."""
    check_size(options.height, options.width)
    if options.mode not in MODES:
        raise InputError(f"twins.mode must be one of {', '.join(MODES)}, got {options.mode!r}")
    if not 1 <= options.steps <= 1000:
        raise InputError(f"twins.steps must be between 1 and 1000, got {options.steps}")
    for name in ("negative_mix", "attention_injection", "resnet_injection"):
        if not 0.0 <= getattr(options, name) <= 1.0:
            raise InputError(f"twins.{name} must lie in [0, 1], got {getattr(options, name)}")


class StepClock:
    """The denoising step in progress, read by the hooks inside the UNet."""

    def __init__(self) -> None:
        self.step = 0
        self.timestep = 0


class FeatureRouter(Protocol):
    """Decides what a hooked layer passes on: its own activation or the artistic pass's."""

    def route(self, layer: str, activation: torch.Tensor) -> torch.Tensor:
        """The activation to use at ``layer`` for the current step (batch along dim 0)."""


@dataclass(frozen=True)
class InjectionSchedule:
    """Which layers receive artistic features, and for how many of the first steps."""

    attention_layers: tuple[str, ...]
    resnet_layer: str
    attention_steps: int
    resnet_steps: int

    def active(self, layer: str, step: int) -> bool:
        """Whether ``layer`` ("<name>.query", "<name>.key" or the ResNet's name) is injected at ``step``."""
        if layer == self.resnet_layer:
            return step < self.resnet_steps
        return layer.rsplit(".", 1)[0] in self.attention_layers and step < self.attention_steps


class LockstepInjector:
    """Batch = [artistic rows, realistic rows] (halves): overwrite the realistic half with the artistic."""

    def __init__(self, schedule: InjectionSchedule, clock: StepClock):
        self.schedule, self.clock = schedule, clock

    def route(self, layer: str, activation: torch.Tensor) -> torch.Tensor:
        if not self.schedule.active(layer, self.clock.step):
            return activation
        artistic = activation[: activation.shape[0] // 2]
        return torch.cat([artistic, artistic])


class DiskFeatures:
    """Features of the artistic pass, one file per (step, layer), as the authors' code stores them."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.bytes_written = 0

    def path(self, step: int, layer: str) -> Path:
        """File of one layer's activation at one step."""
        return self.folder / f"{step:04d}.{layer}.pt"

    def save(self, step: int, layer: str, activation: torch.Tensor) -> None:
        """Write one activation (moved to the CPU)."""
        path = self.path(step, layer)
        torch.save(activation.detach().cpu().clone(), path)
        self.bytes_written += path.stat().st_size

    def load(self, step: int, layer: str, like: torch.Tensor) -> torch.Tensor:
        """Read one activation onto the device and dtype of ``like``."""
        stored = torch.load(self.path(step, layer), map_location=like.device, weights_only=True)
        return stored.to(like.dtype)


class FeatureRecorder:
    """Two-pass, first pass: store every activation that the realistic pass will receive."""

    def __init__(self, schedule: InjectionSchedule, clock: StepClock, features: DiskFeatures):
        self.schedule, self.clock, self.features = schedule, clock, features

    def route(self, layer: str, activation: torch.Tensor) -> torch.Tensor:
        if self.schedule.active(layer, self.clock.step):
            self.features.save(self.clock.step, layer, activation)
        return activation


class FeatureReplayer:
    """Two-pass, second pass: replace activations by the stored artistic ones."""

    def __init__(self, schedule: InjectionSchedule, clock: StepClock, features: DiskFeatures):
        self.schedule, self.clock, self.features = schedule, clock, features

    def route(self, layer: str, activation: torch.Tensor) -> torch.Tensor:
        if not self.schedule.active(layer, self.clock.step):
            return activation
        return self.features.load(self.clock.step, layer, activation)


class HookedSelfAttention:
    """Self-attention processor (diffusers ``AttnProcessor`` call signature) for the hooked layers.

    Routes queries and keys through a FeatureRouter and, when an AttentionMean wants this layer's maps at
    this step, computes the attention probabilities explicitly and adds the artistic conditional row's heads.
    """

    def __init__(self, layer: str, clock: StepClock, router: FeatureRouter | None,
                 attention_mean: AttentionMean | None):
        self.layer, self.clock, self.router, self.attention_mean = layer, clock, router, attention_mean

    def __call__(self, attn: torch.nn.Module, hidden_states: torch.Tensor,
                 encoder_hidden_states: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                 temb: torch.Tensor | None = None, *args: object, **kwargs: object) -> torch.Tensor:
        if encoder_hidden_states is not None or attention_mask is not None:
            raise ValueError(f"{self.layer}: hooked layers must be plain self-attention")
        residual = hidden_states
        batch, tokens, _ = hidden_states.shape
        heads = attn.heads

        def split_heads(projected: torch.Tensor) -> torch.Tensor:
            return projected.view(batch, tokens, heads, -1).transpose(1, 2)

        query = split_heads(attn.to_q(hidden_states))
        key = split_heads(attn.to_k(hidden_states))
        value = split_heads(attn.to_v(hidden_states))
        if self.router is not None:
            query = self.router.route(f"{self.layer}.query", query)
            key = self.router.route(f"{self.layer}.key", key)
        mean = self.attention_mean
        if mean is not None and mean.wants(self.clock.timestep, tokens):
            precise = torch.promote_types(query.dtype, torch.float32)
            scores = (query @ key.transpose(-1, -2)).to(precise) * attn.scale
            probabilities = scores.softmax(dim=-1)
            mean.add(probabilities[ARTISTIC_CONDITIONAL_ROW])
            output = probabilities.to(value.dtype) @ value
        else:
            output = F.scaled_dot_product_attention(query, key, value, scale=attn.scale)
        output = output.transpose(1, 2).reshape(batch, tokens, -1)
        output = attn.to_out[1](attn.to_out[0](output))
        if attn.residual_connection:
            output = output + residual
        return output / attn.rescale_output_factor


def decoder_self_attention_layers(unet: torch.nn.Module) -> list[str]:
    """Names of the decoder's self-attention layers ("up_blocks.i.attentions.j.transformer_blocks.k.attn1")
    in the order the UNet runs them."""
    return [name for name, _ in unet.named_modules() if name.startswith("up_blocks.") and name.endswith(".attn1")]


def injected_attention_layers(unet: torch.nn.Module) -> tuple[str, ...]:
    """The decoder self-attention layers that receive queries/keys: all but the first (LDM output blocks
    4–11 of SD 1.x)."""
    return tuple(decoder_self_attention_layers(unet)[1:])


def cached_attention_layers(unet: torch.nn.Module, blocks: tuple[str, ...]) -> tuple[str, ...]:
    """Self-attention layers inside the named blocks (e.g. "down_blocks.1")."""
    names = [name for name, _ in unet.named_modules() if name.endswith(".attn1")]
    layers = tuple(name for name in names if any(name.startswith(block + ".") for block in blocks))
    if not layers:
        raise InputError(f"attention.blocks {list(blocks)} hold no self-attention layer of this UNet")
    return layers


@contextlib.contextmanager
def hooked_unet(unet: torch.nn.Module, clock: StepClock, router: FeatureRouter | None,
                schedule: InjectionSchedule, attention_mean: AttentionMean | None,
                cached_layers: tuple[str, ...]) -> Iterator[None]:
    """Install the self-attention processors and the ResNet hook for one pass; restore the UNet after."""
    hooked = set(schedule.attention_layers if router else ()) | set(cached_layers if attention_mean else ())
    originals = {}
    handle = None
    try:
        for layer in sorted(hooked):
            module = unet.get_submodule(layer)
            originals[layer] = module.processor
            module.set_processor(HookedSelfAttention(layer, clock, router, attention_mean))
        if router is not None:
            handle = unet.get_submodule(schedule.resnet_layer).register_forward_hook(
                lambda _module, _inputs, output: router.route(schedule.resnet_layer, output))
        yield
    finally:
        for layer, processor in originals.items():
            unet.get_submodule(layer).set_processor(processor)
        if handle is not None:
            handle.remove()


@torch.inference_mode()
def encode_prompts(models: DiffusionModels, prompts: list[str]) -> torch.Tensor:
    """CLIP text embeddings (len(prompts), 77, D) in the latent precision, on the compute device."""
    tokens = models.tokenizer(prompts, padding="max_length", max_length=models.tokenizer.model_max_length,
                              truncation=True, return_tensors="pt")
    with models.using("text_encoder") as text_encoder:
        embeddings = text_encoder(tokens.input_ids.to(models.device))[0]
    return embeddings.to(models.latent_dtype)


def initial_noise(models: DiffusionModels, height: int, width: int, seed: int) -> torch.Tensor:
    """The shared starting latent (1, 4, H/8, W/8) in the latent precision, drawn in float32 on the CPU so a
    seed means the same noise on every device."""
    generator = torch.Generator("cpu").manual_seed(seed)
    shape = (1, models.latent_channels, height // models.vae_factor, width // models.vae_factor)
    noise = torch.randn(shape, generator=generator, dtype=torch.float32)
    return noise.to(models.device, models.latent_dtype) * models.scheduler.init_noise_sigma


@torch.inference_mode()
def denoise(models: DiffusionModels, latents: torch.Tensor, embeddings: torch.Tensor,
            guidance: list[float], clock: StepClock) -> torch.Tensor:
    """Run every DDIM step on k images at once with classifier-free guidance.

    latents: (k, 4, h, w) in the latent precision; embeddings: (2k, 77, D) ordered [uncond_1, cond_1, …,
    uncond_k, cond_k]; guidance: k scales. One UNet call of batch 2k per step. Returns the final latents (k, 4, h, w).
    """
    scales = torch.tensor(guidance, device=latents.device, dtype=latents.dtype).view(-1, 1, 1, 1)
    conditioning = embeddings.to(models.dtype)
    with models.using("unet") as unet:
        steps = tqdm(models.scheduler.timesteps, desc="denoising", unit="step", leave=False)
        for step, timestep in enumerate(steps):
            clock.step, clock.timestep = step, int(timestep)
            batch = models.scheduler.scale_model_input(latents.repeat_interleave(2, dim=0), timestep)
            noise = unet(batch.to(models.dtype), timestep, encoder_hidden_states=conditioning).sample
            noise = noise.to(latents.dtype)
            uncond, cond = noise[0::2], noise[1::2]
            guided = uncond + scales * (cond - uncond)
            latents = models.scheduler.step(guided, timestep, latents, eta=0.0).prev_sample
    return latents


@torch.inference_mode()
def decode(models: DiffusionModels, latents: torch.Tensor) -> np.ndarray:
    """VAE-decode one latent (1, 4, h, w) to uint8 (8h, 8w, 3)."""
    with models.using("vae") as vae:
        image = vae.decode((latents / vae.config.scaling_factor).to(models.dtype)).sample.float()
    return to_uint8((image + 1.0) / 2.0)


def generate_twins(models: DiffusionModels, prompt: str, twin_prompt: str, seed: int,
                   options: TwinOptions = TwinOptions(),
                   attention: AttentionOptions = AttentionOptions()) -> TwinResult:
    """Generate the artistic image of ``prompt`` and its realistic twin of ``twin_prompt`` from ``seed``,
    with the averaged self-attention of the artistic pass. Deterministic for a given seed and device."""
    check_options(options)
    noise = initial_noise(models, options.height, options.width, seed)
    return twins_from_latent(models, noise, prompt, twin_prompt, options, attention)


def twins_from_latent(models: DiffusionModels, start: torch.Tensor, prompt: str, twin_prompt: str,
                      options: TwinOptions = TwinOptions(),
                      attention: AttentionOptions = AttentionOptions()) -> TwinResult:
    """The twins denoised from the latent ``start`` (1, 4, H/8, W/8), latent precision, on the compute device:
    seeded noise (:func:`generate_twins`) or an inverted picture (stages.diffusion.inversion). Both passes
    start from it; the realistic one receives the artistic one's features."""
    check_options(options)
    expected = (1, models.latent_channels, options.height // models.vae_factor, options.width // models.vae_factor)
    if tuple(start.shape) != expected:
        raise ValueError(f"the starting latent is {tuple(start.shape)}, expected {expected} for "
                         f"{options.width}x{options.height} twins")
    unet = models.unet
    models.scheduler.set_timesteps(options.steps, device=models.device)
    grid = attention_grid(options.height, options.width)
    attention_mean = AttentionMean(grid[0] * grid[1], attention.max_timestep, models.device)
    schedule = InjectionSchedule(
        attention_layers=injected_attention_layers(unet), resnet_layer=options.resnet_layer,
        attention_steps=int(options.attention_injection * options.steps),
        resnet_steps=int(options.resnet_injection * options.steps))
    cached_layers = cached_attention_layers(unet, attention.blocks)
    uncond, artistic, realistic = encode_prompts(models, [options.negative_prompt, prompt, twin_prompt])
    negative = options.negative_mix * uncond + (1.0 - options.negative_mix) * artistic
    clock = StepClock()
    feature_bytes = 0
    if options.mode == "lockstep":
        router = LockstepInjector(schedule, clock)
        with hooked_unet(unet, clock, router, schedule, attention_mean, cached_layers):
            latents = denoise(models, torch.cat([start, start]), torch.stack([uncond, artistic, negative, realistic]),
                              [options.artistic_guidance, options.realistic_guidance], clock)
        art_latents, real_latents = latents[:1], latents[1:]
    else:
        with feature_folder(options.feature_dir) as folder:
            features = DiskFeatures(folder)
            recorder = FeatureRecorder(schedule, clock, features)
            with hooked_unet(unet, clock, recorder, schedule, attention_mean, cached_layers):
                art_latents = denoise(models, start, torch.stack([uncond, artistic]),
                                      [options.artistic_guidance], clock)
            replayer = FeatureReplayer(schedule, clock, features)
            with hooked_unet(unet, clock, replayer, schedule, None, cached_layers):
                real_latents = denoise(models, start, torch.stack([negative, realistic]),
                                       [options.realistic_guidance], clock)
            feature_bytes = features.bytes_written
    return TwinResult(
        artistic=decode(models, art_latents), realistic=decode(models, real_latents),
        artistic_latents=art_latents.cpu(), realistic_latents=real_latents.cpu(),
        attention=attention_mean.result(), attention_grid=grid, attention_maps=attention_mean.count,
        feature_bytes=feature_bytes,
        timesteps=[int(t) for t in models.scheduler.timesteps])


@contextlib.contextmanager
def feature_folder(configured: str | None) -> Iterator[Path]:
    """The two-pass feature folder: the configured one (kept), or a temporary one (removed after)."""
    if configured is not None:
        yield Path(configured)
        return
    folder = Path(tempfile.mkdtemp(prefix="twin-features-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
