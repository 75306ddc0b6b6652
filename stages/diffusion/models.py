"""Stable Diffusion 1.x components by profile: tiny random models, full-size random models, real weights.

Profiles (params.yaml ``models.profile``):
- ``tiny``: a randomly initialised Stable Diffusion with SD 1.x's topology (4 UNet levels, 2 layers per
  block, the same block names, VAE factor 8, SD's DDIM schedule) but 32–64 channels. Runs anywhere in
  seconds; used by tests and CI. Its pictures are noise-like: it exercises the code, not the art.
- ``sd-random``: SD 1.x's full-size architecture with random weights (benchmarks on a GPU, no weights).
- ``sd14`` / ``sd15``: real weights in diffusers format, read from ``models.local_dir`` or the Hugging Face
  cache, never from the network.
- ``procedural``: no diffusion model at all: the twins are drawn by the synthetic world with exact truth
  (stages.diffusion.procedural); nothing here is loaded for it.

Random profiles use a byte-level tokenizer vocabulary written here (every byte is one token). Their
self-attention query and key projections start 8× wider than PyTorch's default initialisation, so that
attention maps are peaked as in a trained model: default-initialised maps are almost uniform (row maxima
≈ 1.3 / N), which would leave attention injection and the attention cache nothing to act on.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from stages.devices import auto_dtype, resolve_device
from stages.errors import InputError
from stages.values import DEVICE, SEED, ruled

# The DDIM schedule of Stable Diffusion 1.x (its scheduler_config.json).
SD_SCHEDULE = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                   clip_sample=False, set_alpha_to_one=False, steps_offset=1)


@dataclass(frozen=True)
class RealModel:
    """Where a real-weights profile is looked for."""

    title: str
    repo_ids: tuple[str, ...]


REAL_MODELS = {
    "sd14": RealModel("Stable Diffusion v1.4", ("CompVis/stable-diffusion-v1-4",)),
    "sd15": RealModel("Stable Diffusion v1.5",
                      ("stable-diffusion-v1-5/stable-diffusion-v1-5", "runwayml/stable-diffusion-v1-5")),
}
RANDOM_PROFILES = ("tiny", "sd-random")
SUBFOLDERS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
RANDOM_ATTENTION_SHARPNESS = 8.0
PAPER_GEOMETRY = {"height": 512, "width": 512, "steps": 50}
TINY_GEOMETRY = {"height": 128, "width": 128, "steps": 10}
PROCEDURAL_PROFILE = "procedural"
PROCEDURAL_GEOMETRY = {"height": 256, "width": 256, "steps": 0}  # Ā grid 16 × 16; no denoising steps


@dataclass(frozen=True)
class ModelOptions:
    """Knobs of model loading (params.yaml ``models``)."""

    profile: str = "procedural"
    """procedural (the synthetic world with exact truth, offline; no model) | tiny (random SD, tests) |
    sd-random (full size, random) | sd14 | sd15 (real weights; the paper's)."""
    local_dir: str | None = None
    """Folder of a diffusers-format Stable Diffusion (model_index.json, unet/, vae/, …); real profiles only."""
    device: str = ruled("auto", DEVICE)
    """auto (CUDA when present, else CPU), cpu, cuda or cuda:N."""
    dtype: str = "auto"
    """auto (float16 on GPU, float32 on CPU), float16, float32 or float64 (exact comparisons)."""
    offload: bool = False
    """Keep each model on the CPU except while it runs (GPU only; saves ~1 GB of GPU memory)."""
    init_seed: int = ruled(0, SEED)
    """Seed of the random weights of the random profiles."""


@dataclass
class DiffusionModels:
    """The components of one Stable Diffusion, where they compute and in which precision."""

    name: str
    unet: torch.nn.Module
    vae: torch.nn.Module
    text_encoder: torch.nn.Module
    tokenizer: object
    scheduler: object
    device: torch.device
    dtype: torch.dtype
    offload: bool = False

    @contextlib.contextmanager
    def using(self, component: str) -> Iterator[torch.nn.Module]:
        """The named component on the compute device for the duration (moved back to CPU when offloading)."""
        module = getattr(self, component)
        if self.offload:
            module.to(self.device)
        try:
            yield module
        finally:
            if self.offload:
                module.to("cpu")
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()

    @property
    def latent_dtype(self) -> torch.dtype:
        """Precision of latents between steps: float32, or float64 for float64 models."""
        return torch.promote_types(self.dtype, torch.float32)

    @property
    def latent_channels(self) -> int:
        """Channels of the VAE latent (4 for SD 1.x)."""
        return int(self.unet.config.in_channels)

    @property
    def vae_factor(self) -> int:
        """Pixels per latent cell along each axis (8 for SD 1.x)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)


def default_geometry(profile: str) -> dict[str, int]:
    """Default image height, width (pixels) and DDIM steps of a profile: the paper's 512², 50 steps, except
    128², 10 steps for ``tiny`` (its pictures carry no meaning at any size) and 256², no steps for
    ``procedural``."""
    if profile == PROCEDURAL_PROFILE:
        return dict(PROCEDURAL_GEOMETRY)
    return dict(TINY_GEOMETRY if profile == "tiny" else PAPER_GEOMETRY)


def byte_level_vocabulary() -> dict[str, int]:
    """A CLIP-style byte-level BPE vocabulary without merges: the two special tokens, then each byte's
    printable stand-in on its own and at a word end ("</w>"): 514 tokens."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    stand_ins = {byte: chr(byte) for byte in printable}
    others = [byte for byte in range(256) if byte not in stand_ins]
    stand_ins.update({byte: chr(256 + index) for index, byte in enumerate(others)})
    symbols = [stand_ins[byte] for byte in range(256)]
    tokens = ["<|startoftext|>", "<|endoftext|>", *symbols, *(symbol + "</w>" for symbol in symbols)]
    return {token: index for index, token in enumerate(tokens)}


def byte_level_tokenizer() -> object:
    """A CLIPTokenizer over :func:`byte_level_vocabulary`, 77 tokens long like SD's."""
    from transformers import CLIPTokenizer

    return CLIPTokenizer(vocab=byte_level_vocabulary(), merges=[], model_max_length=77)


def random_architecture(profile: str) -> dict:
    """UNet, VAE and text-encoder settings of a random profile (SD 1.x topology; tiny or full width)."""
    full = profile == "sd-random"
    width = (320, 640, 1280, 1280) if full else (32, 32, 64, 64)
    text_width = 768 if full else 32
    unet = dict(sample_size=64 if full else 8, in_channels=4, out_channels=4, layers_per_block=2,
                block_out_channels=width, cross_attention_dim=text_width,
                attention_head_dim=8 if full else 2, norm_num_groups=32 if full else 8,
                down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
    vae = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2 if full else 1,
               block_out_channels=(128, 256, 512, 512) if full else (16, 16, 32, 32),
               norm_num_groups=32 if full else 8, sample_size=512 if full else 64,
               down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
    text = dict(vocab_size=49408 if full else len(byte_level_vocabulary()), hidden_size=text_width,
                intermediate_size=3072 if full else 64, num_hidden_layers=12 if full else 2,
                num_attention_heads=12 if full else 4, max_position_embeddings=77,
                bos_token_id=0, eos_token_id=1, pad_token_id=1)
    return dict(unet=unet, vae=vae, text=text)


def sharpen_self_attention(unet: torch.nn.Module, factor: float) -> None:
    """Multiply the query and key weights of every self-attention layer by ``factor`` (logits × factor²)."""
    with torch.no_grad():
        for name, module in unet.named_modules():
            if name.endswith(".attn1"):
                module.to_q.weight.mul_(factor)
                module.to_k.weight.mul_(factor)


def build_random(profile: str, init_seed: int) -> dict:
    """Randomly initialised components of a random profile (float32, on the CPU)."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    settings = random_architecture(profile)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        unet = UNet2DConditionModel(**settings["unet"])
        sharpen_self_attention(unet, RANDOM_ATTENTION_SHARPNESS)
        vae = AutoencoderKL(**settings["vae"])
        text_encoder = CLIPTextModel(CLIPTextConfig(**settings["text"]))
    return dict(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=byte_level_tokenizer(),
                scheduler=DDIMScheduler(**SD_SCHEDULE))


def missing_weights_message(profile: str, local_dir: str | None, reason: str) -> str:
    """What to do when a real profile's weights cannot be read."""
    model = REAL_MODELS[profile]
    where = f"in {local_dir}" if local_dir else "in the Hugging Face cache ($HF_HUB_CACHE)"
    return (
        f"{model.title} weights (profile {profile!r}) were not found {where} ({reason}). Either put the "
        f"diffusers-format folder (model_index.json, {', '.join(s + '/' for s in SUBFOLDERS)}) somewhere and "
        f"set models.local_dir in params.yaml (or --model-dir) to it, or, on a machine with network access, "
        f"run `hf download {model.repo_ids[0]}` and copy its cache folder ($HF_HOME, default "
        f"~/.cache/huggingface) to this machine. Nothing is downloaded at run time; the offline profile 'tiny' needs "
        f"no weights."
    )


def cached_snapshot(repo_id: str, marker: str) -> Path | None:
    """The Hugging Face cache's snapshot folder of ``repo_id`` when it holds the file ``marker`` (looked up
    without network access), else None."""
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(repo_id, local_files_only=True))
    except (OSError, ValueError):  # huggingface_hub's "not in the cache" errors derive from these
        return None
    return folder if (folder / marker).is_file() else None


def locate_weights(profile: str, local_dir: str | None) -> Path:
    """The diffusers-format folder of a real profile: ``local_dir``, or its snapshot in the Hugging Face
    cache (looked up without network access)."""
    if local_dir is not None:
        folder = Path(local_dir).expanduser()
        if not (folder / "model_index.json").is_file():
            raise InputError(missing_weights_message(profile, local_dir, "no model_index.json there"))
        return folder
    for repo_id in REAL_MODELS[profile].repo_ids:
        folder = cached_snapshot(repo_id, "model_index.json")
        if folder is not None:
            return folder
    raise InputError(missing_weights_message(profile, None, "not in the cache"))


def load_real(profile: str, local_dir: str | None, dtype: torch.dtype) -> dict:
    """Components of a real profile from ``local_dir`` or the Hugging Face cache (no network)."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    folder = locate_weights(profile, local_dir)
    common = dict(local_files_only=True, low_cpu_mem_usage=False)
    try:
        return dict(
            unet=UNet2DConditionModel.from_pretrained(folder, subfolder="unet", torch_dtype=dtype, **common),
            vae=AutoencoderKL.from_pretrained(folder, subfolder="vae", torch_dtype=dtype, **common),
            text_encoder=CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", dtype=dtype,
                                                       local_files_only=True),
            tokenizer=CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer", local_files_only=True),
            scheduler=DDIMScheduler.from_pretrained(folder, subfolder="scheduler", local_files_only=True),
        )
    except (OSError, ValueError) as error:  # a missing or damaged component
        reason = f"{folder} is incomplete: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
        raise InputError(missing_weights_message(profile, local_dir, reason)) from error


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto`` → float16 on GPU, float32 on CPU."""
    choices = {"float16": torch.float16, "float32": torch.float32, "float64": torch.float64}
    if name == "auto":
        return auto_dtype(device)
    if name not in choices:
        raise InputError(f"models.dtype must be auto, float16, float32 or float64, got {name!r}")
    return choices[name]


def load_models(options: ModelOptions) -> DiffusionModels:
    """Build or load the profile's components, in inference mode, placed on the compute device."""
    profiles = (*RANDOM_PROFILES, *REAL_MODELS)
    if options.profile not in profiles:
        raise InputError(f"unknown model profile {options.profile!r}; choose one of {', '.join(profiles)}")
    device = resolve_device(options.device, "models.device")
    dtype = resolve_dtype(options.dtype, device)
    if options.profile in RANDOM_PROFILES:
        parts = build_random(options.profile, options.init_seed)
    else:
        parts = load_real(options.profile, options.local_dir, dtype)
    offload = options.offload and device.type == "cuda"
    for key in ("unet", "vae", "text_encoder"):
        parts[key].requires_grad_(False).eval().to("cpu" if offload else device, dtype)  # one move, cast on the way
    return DiffusionModels(name=options.profile, device=device, dtype=dtype, offload=offload, **parts)
