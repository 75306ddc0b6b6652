"""Caption embeddings for G_flow's cross-attention, from a text encoder of G_flow's own choosing.

G_flow's training section names it (``train_flow.text_encoder``, independent of the diffusion profile of the
twins) and the checkpoint records it. ``tiny`` and ``sd-random`` use the randomly initialised CLIP text
transformer that ``stages.diffusion.models`` builds for those profiles and ``init_seed``; ``sd14`` / ``sd15``
read Stable Diffusion's CLIP tokenizer and text encoder from ``local_dir`` or the Hugging Face cache,
without the UNet and VAE, never from the network.

With ``direction_token`` the last of the 77 tokens (padding for any caption shorter than 76 tokens) is
replaced by the direction the caption names: its unit vector (dx, dy) in image coordinates in the first two
channels (``DIRECTION_TOKEN``), zeros elsewhere and where the caption names no direction — a reading of the
caption that a small, briefly trained G_flow cannot learn from a randomly initialised encoder in minutes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from stages.errors import InputError
from stages.memo import loaded_once
from stages.text.directions import angle_to_vector, parse_direction
from stages.diffusion.models import RANDOM_PROFILES, REAL_MODELS, build_random, locate_weights, missing_weights_message

TOKENS = 77  # CLIP's context length
DIRECTION_TOKEN = TOKENS - 1  # the token that carries the caption's direction (direction_token)


@dataclass(frozen=True)
class TextEncoderOptions:
    """Which text encoder embeds the captions."""

    profile: str = "tiny"
    """tiny, sd-random, sd14 or sd15."""
    local_dir: str | None = None
    """Diffusers-format Stable Diffusion folder (real profiles); None: the Hugging Face cache."""
    init_seed: int = 0
    """Seed of the random profiles' weights."""
    direction_token: bool = False
    """Write the caption's direction into the last token (see the module's docstring)."""

    def to_dict(self) -> dict:
        """JSON-able form (recorded in checkpoints)."""
        return asdict(self)


def caption_direction(caption: str) -> tuple[float, float]:
    """Unit vector (dx, dy) in image coordinates (y down) of the direction ``caption`` names (the centre of
    its range, ``stages.text.directions``), or (0, 0) when it names none."""
    try:
        return angle_to_vector(parse_direction(caption).center)
    except InputError:
        return 0.0, 0.0


def _encoder(options: TextEncoderOptions) -> tuple[object, torch.nn.Module]:
    """(tokenizer, text encoder) of ``options``, float32 on the CPU, loaded once per process."""
    return _load_encoder(options.profile, options.local_dir, options.init_seed)


@loaded_once(maxsize=2)
def _load_encoder(profile: str, local_dir: str | None, init_seed: int) -> tuple[object, torch.nn.Module]:
    options = TextEncoderOptions(profile, local_dir, init_seed)
    if options.profile in RANDOM_PROFILES:
        parts = build_random(options.profile, options.init_seed)
        tokenizer, model = parts["tokenizer"], parts["text_encoder"]
    elif options.profile in REAL_MODELS:
        from transformers import CLIPTextModel, CLIPTokenizer

        folder = locate_weights(options.profile, options.local_dir)
        try:
            tokenizer = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer", local_files_only=True)
            model = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", local_files_only=True)
        except (OSError, ValueError) as error:
            raise InputError(missing_weights_message(options.profile, options.local_dir,
                                                     f"{folder} lacks a readable tokenizer/text_encoder")) from error
    else:
        profiles = ", ".join((*RANDOM_PROFILES, *REAL_MODELS))
        raise InputError(f"unknown text encoder {options.profile!r} (train_flow.text_encoder); choose one of {profiles}")
    return tokenizer, model.float().eval().requires_grad_(False)


def text_width(options: TextEncoderOptions) -> int:
    """Width D of the embeddings of ``options``' encoder."""
    return int(_encoder(options)[1].config.hidden_size)


@torch.no_grad()  # not inference_mode: the embeddings feed networks that are being trained
def encode_captions(captions: list[str], options: TextEncoderOptions,
                    device: str | torch.device = "cpu") -> torch.Tensor:
    """Embed ``captions`` → float32 (B, 77, D) on ``device``: the encoder's last hidden states, as Stable
    Diffusion's UNet reads them (with ``direction_token``, the last one replaced by the caption's direction)."""
    tokenizer, model = _encoder(options)
    tokens = tokenizer(list(captions), padding="max_length", max_length=TOKENS, truncation=True,
                       return_tensors="pt").input_ids
    embedding = model.to(device)(tokens.to(device)).last_hidden_state.float()
    if options.direction_token:
        embedding[:, DIRECTION_TOKEN] = 0.0
        embedding[:, DIRECTION_TOKEN, :2] = torch.tensor([caption_direction(c) for c in captions], device=device)
    return embedding
