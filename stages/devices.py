"""Which torch device to run on, from a params.yaml or command-line setting."""

from __future__ import annotations

import torch

from stages.errors import InputError


def resolve_device(name: str, setting: str = "device") -> torch.device:
    """``auto`` → CUDA when available, else CPU; any other name is checked and returned.

    ``setting`` names where the value came from (e.g. ``models.device``) in the error for a missing GPU.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"{setting} is {name!r} but no CUDA GPU is available: use \"auto\" or \"cpu\"")
    return device


def auto_dtype(device: torch.device) -> torch.dtype:
    """What ``dtype: auto`` means for diffusion models on ``device``: float16 on GPU, float32 on CPU."""
    return torch.float16 if device.type == "cuda" else torch.float32


def auto_precision(device: torch.device) -> torch.dtype | None:
    """What ``precision: auto`` means for training on ``device``: bfloat16 autocast on GPUs that support it,
    else float16; None (plain float32) on CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
