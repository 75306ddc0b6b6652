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
