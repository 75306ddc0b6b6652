"""Caption embeddings for G_flow's cross-attention: the text encoder of the active diffusion profile.

Profiles (the ``models`` section of params.yaml; ``profile`` defaults to ``tiny``):
- ``tiny``: a randomly initialised CLIP text transformer (width 32, 2 layers) over a byte-level vocabulary,
  seeded by ``init_seed``. Offline; different captions give different, deterministic embeddings.
- ``sd14`` / ``sd15``: Stable Diffusion's CLIP ViT-L/14 text encoder and tokenizer (width 768), read from
  ``local_dir`` (a diffusers-format folder) or the Hugging Face cache, never from the network.

Everything goes through :func:`encode_captions`, so switching to the diffusion stage's model loader is
a change to one function.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import torch

from stages.errors import InputError

TOKENS = 77  # CLIP's context length
REAL_TEXT_ENCODERS = {
    "sd14": ("CompVis/stable-diffusion-v1-4",),
    "sd15": ("stable-diffusion-v1-5/stable-diffusion-v1-5", "runwayml/stable-diffusion-v1-5"),
}


@dataclass(frozen=True)
class TextEncoderOptions:
    """Which text encoder embeds the captions."""

    profile: str = "tiny"
    """tiny (random, offline) or a real Stable Diffusion profile: sd14, sd15."""
    local_dir: str | None = None
    """Diffusers-format Stable Diffusion folder (real profiles); None: the Hugging Face cache."""
    init_seed: int = 0
    """Seed of the random weights of the tiny profile."""

    @classmethod
    def from_params(cls, models: dict | None) -> "TextEncoderOptions":
        """Options from the ``models`` section of params.yaml (missing keys take the defaults)."""
        models = models or {}
        return cls(str(models.get("profile", "tiny")), models.get("local_dir"), int(models.get("init_seed", 0)))

    def to_dict(self) -> dict:
        """JSON-able form (recorded in checkpoints)."""
        return asdict(self)


def byte_tokens(captions: list[str]) -> torch.Tensor:
    """Byte-level token ids (B, 77): start token 0, each UTF-8 byte b as b + 2, end token 1 padding the rest."""
    ids = torch.ones(len(captions), TOKENS, dtype=torch.long)
    ids[:, 0] = 0
    for row, caption in enumerate(captions):
        data = list(caption.strip().lower().encode("utf-8"))[: TOKENS - 2]
        ids[row, 1: 1 + len(data)] = torch.tensor(data, dtype=torch.long) + 2
    return ids


class _TinyEncoder:
    """The tiny profile: random CLIP text transformer over byte tokens."""

    def __init__(self, init_seed: int):
        from transformers import CLIPTextConfig, CLIPTextModel

        config = CLIPTextConfig(vocab_size=258, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                num_attention_heads=4, max_position_embeddings=TOKENS,
                                bos_token_id=0, eos_token_id=1, pad_token_id=1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.model = CLIPTextModel(config).eval().requires_grad_(False)

    def tokens(self, captions: list[str]) -> torch.Tensor:
        return byte_tokens(captions)


class _RealEncoder:
    """A real profile's CLIP tokenizer and text encoder, from a local folder or the Hugging Face cache."""

    def __init__(self, profile: str, local_dir: str | None):
        from transformers import CLIPTextModel, CLIPTokenizer

        sources = [str(Path(local_dir).expanduser())] if local_dir else list(REAL_TEXT_ENCODERS[profile])
        reason = "not in the Hugging Face cache"
        for source in sources:
            try:
                self.tokenizer = CLIPTokenizer.from_pretrained(source, subfolder="tokenizer", local_files_only=True)
                self.model = CLIPTextModel.from_pretrained(source, subfolder="text_encoder",
                                                           local_files_only=True).eval().requires_grad_(False)
                return
            except (OSError, ValueError) as error:
                reason = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
        where = f"in {local_dir}" if local_dir else "in the Hugging Face cache"
        raise InputError(
            f"the {profile} text encoder was not found {where} ({reason}). Put a diffusers-format Stable "
            f"Diffusion folder (with tokenizer/ and text_encoder/) there and set models.local_dir in "
            f"params.yaml, or use models.profile: tiny (offline). Nothing is downloaded at run time.")

    def tokens(self, captions: list[str]) -> torch.Tensor:
        return self.tokenizer(captions, padding="max_length", max_length=TOKENS, truncation=True,
                              return_tensors="pt").input_ids


@lru_cache(maxsize=4)
def _encoder(options: TextEncoderOptions) -> _TinyEncoder | _RealEncoder:
    """One encoder per options and process, on the CPU (moved per call)."""
    if options.profile == "tiny":
        return _TinyEncoder(options.init_seed)
    if options.profile in REAL_TEXT_ENCODERS:
        return _RealEncoder(options.profile, options.local_dir)
    raise InputError(f"unknown model profile {options.profile!r}; choose tiny, {', '.join(REAL_TEXT_ENCODERS)}")


def text_width(options: TextEncoderOptions) -> int:
    """Width D of the embeddings of ``options``' encoder."""
    return int(_encoder(options).model.config.hidden_size)


@torch.no_grad()  # not inference_mode: the embeddings feed networks that are being trained
def encode_captions(captions: list[str], options: TextEncoderOptions,
                    device: str | torch.device = "cpu") -> torch.Tensor:
    """Embed ``captions`` → float32 (B, 77, D) on ``device`` (the last hidden states, as Stable Diffusion uses)."""
    encoder = _encoder(options)
    model = encoder.model.to(device)
    hidden = model(encoder.tokens(list(captions)).to(device)).last_hidden_state
    return hidden.float()
