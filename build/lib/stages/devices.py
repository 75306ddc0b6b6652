"""Which torch device to run on, from a params.yaml or command-line setting."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stages.errors import InputError, shorten

if TYPE_CHECKING:
    import torch


def resolve_device(name: str, setting: str = "device") -> "torch.device":
    """``auto`` → CUDA when available, else CPU; any other name is checked against the devices present.

    ``setting`` names where the value came from (e.g. ``models.device`` or ``--device``) in the error for an
    unknown name or a missing GPU.
    """
    import torch  # here, not at import: the command line answers bad input before loading torch


    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(str(name))
    except (RuntimeError, TypeError):
        raise InputError(f"{setting} {shorten(name)} is not a device: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"{setting} is {name!r} but no CUDA GPU is available: use \"auto\" or \"cpu\"")
        if device.index is not None and device.index >= count:
            raise InputError(f"{setting} is {name!r} but only {count} CUDA GPU(s) are present (cuda:0 to "
                             f"cuda:{count - 1})")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"{setting} is {name!r} but no Apple GPU (MPS) is available: use \"auto\" or \"cpu\"")
    elif device.type not in ("cpu", "mps"):
        raise InputError(f"{setting} is {name!r}: this project runs on cpu or cuda")
    return device


def check_device(name: str, setting: str = "device") -> str:
    """``name`` back when :func:`resolve_device` accepts it (for argparse types and params checks); ``cpu``
    is always present and is accepted without loading torch."""
    if name != "cpu":
        resolve_device(name, setting)
    return name


def auto_dtype(device: "torch.device") -> "torch.dtype":
    """What ``dtype: auto`` means for diffusion models on ``device``: float16 on GPU, float32 on CPU."""
    import torch

    return torch.float16 if device.type == "cuda" else torch.float32


def auto_precision(device: "torch.device") -> "torch.dtype | None":
    """What ``precision: auto`` means for training on ``device``: bfloat16 autocast on GPUs that support it,
    else float16; None (plain float32) on CPU."""
    import torch

    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
