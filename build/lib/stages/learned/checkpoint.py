"""Checkpoints of the learned networks: weights as safetensors plus a JSON config, checked on loading.

A checkpoint folder holds ``<architecture>.safetensors`` (the generator's weights only) and
``<architecture>.json``: ``{"architecture": "g_flow" | "g_frame", "format": 1, "config": {...}, ...}``
with whatever else the trainer records (text encoder, training iterations, metrics).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from stages.errors import InputError

FORMAT = 1
ARCHITECTURES = ("g_flow", "g_frame")


def checkpoint_files(folder: str | Path, architecture: str) -> tuple[Path, Path]:
    """(weights, config) paths of a checkpoint folder."""
    folder = Path(folder)
    return folder / f"{architecture}.safetensors", folder / f"{architecture}.json"


def save_checkpoint(folder: str | Path, architecture: str, model: nn.Module, config: dict, **extra) -> Path:
    """Write ``model``'s weights and ``{architecture, format, config, **extra}``; returns the folder."""
    weights, meta = checkpoint_files(folder, architecture)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().float().cpu().contiguous() for name, tensor in model.state_dict().items()}
    for path, write in ((weights, lambda p: save_file(state, str(p))),
                        (meta, lambda p: p.write_text(json.dumps(
                            {"architecture": architecture, "format": FORMAT, "config": config, **extra}, indent=2)))):
        partial = path.with_name(f".{path.name}.partial")
        write(partial)
        partial.replace(path)
    return Path(folder)


def read_checkpoint(folder: str | Path, architecture: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """The JSON record and the weights of a checkpoint, or InputError saying what is wrong with it."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}")
    folder = Path(folder)
    weights, meta = checkpoint_files(folder, architecture)
    if not meta.is_file():
        others = [a for a in ARCHITECTURES if checkpoint_files(folder, a)[1].is_file()]
        found = f" (it holds a {others[0]} checkpoint)" if others else ""
        raise InputError(f"no {architecture} checkpoint in {folder}{found}: expected {meta.name} and "
                         f"{weights.name}; train one with `dvc repro train_{architecture[2:]}`")
    try:
        record = json.loads(meta.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{meta} is not valid JSON ({error}): the checkpoint is corrupt; retrain it") from error
    if not isinstance(record, dict) or record.get("architecture") != architecture:
        found = record.get("architecture") if isinstance(record, dict) else None
        raise InputError(f"{meta} describes a {found!r} network, not {architecture}: point to a {architecture} "
                         "checkpoint folder")
    if record.get("format") != FORMAT or not isinstance(record.get("config"), dict):
        raise InputError(f"{meta} has checkpoint format {record.get('format')!r} (expected {FORMAT}) or no config: "
                         "retrain with this version")
    if not weights.is_file():
        raise InputError(f"{weights} is missing: the checkpoint is incomplete; retrain it")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as error:
        raise InputError(f"cannot read {weights} ({error}): the file is corrupt; retrain or copy it again") from error
    return record, state


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> nn.Module:
    """Load ``state`` into ``model``, or InputError naming the mismatching tensors (another architecture)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        details = "; ".join(f"{label}: {', '.join(names[:3])}{' …' if len(names) > 3 else ''}"
                            for label, names in (("missing", missing), ("unexpected", unexpected),
                                                 ("wrong shape", wrong)) if names)
        raise InputError(f"the weights in {source} do not fit the architecture its config describes ({details}); "
                         "the checkpoint comes from another architecture or version: retrain it")
    model.load_state_dict(state)
    return model
