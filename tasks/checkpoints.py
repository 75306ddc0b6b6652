"""Trained networks as inputs of batch items: their files join the item's key, and each loads once per process.

An item that reads a checkpoint folder lists its weights and config as inputs (:func:`checkpoint_inputs`), so
retraining re-keys the item; the step then loads the network through :func:`flow_predictor` or
:func:`frame_model`, cached per process (each Ray worker or actor keeps its own) and per weights digest.
"""

from __future__ import annotations

from pathlib import Path

from stages.files import file_digest
from stages.memo import loaded_once

FILE_STEMS = {"flow_model": "g_flow", "frame_model": "g_frame"}
"""Input name → the stem of the checkpoint's files (``<stem>.safetensors``, ``<stem>.json``)."""


def checkpoint_inputs(name: str, folder: str | Path | None) -> dict[str, Path]:
    """``{name: weights, name_config: config}`` of checkpoint ``folder`` (nothing when it is None);
    ``name``: ``flow_model`` (G_flow) or ``frame_model`` (G_frame)."""
    if folder is None:
        return {}
    stem = FILE_STEMS[name]
    return {name: Path(folder) / f"{stem}.safetensors", f"{name}_config": Path(folder) / f"{stem}.json"}


@loaded_once(maxsize=2)
def _flow_predictor(folder: str, digest: str, device: str):
    from stages.learned.inference import FlowPredictor

    return FlowPredictor(folder, device)


@loaded_once(maxsize=2)
def _frame_model(folder: str, digest: str, device: str):
    from stages.learned.inference import load_frame_model

    return load_frame_model(folder, device)


def flow_predictor(weights: Path, device: str):
    """G_flow (FlowPredictor) of the checkpoint holding ``weights``, loaded once per process and digest."""
    return _flow_predictor(str(Path(weights).parent), file_digest(weights), device)


def frame_model(weights: Path, device: str):
    """G_frame (FrameNet) of the checkpoint holding ``weights``, loaded once per process and digest."""
    return _frame_model(str(Path(weights).parent), file_digest(weights), device)
