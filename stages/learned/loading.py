"""Trained networks loaded once per process (each Ray worker or actor keeps its own) and per weights digest."""

from __future__ import annotations

from pathlib import Path

from stages.errors import InputError
from stages.files import file_digest
from stages.memo import loaded_once

CHECKPOINT_STEMS = {"flow_model": "g_flow", "frame_model": "g_frame"}
"""Network → the stem of its checkpoint's files (``<stem>.safetensors``, ``<stem>.json``)."""


def checkpoint_files(name: str, folder: str | Path) -> tuple[Path, Path]:
    """(weights, config) of checkpoint ``folder`` of network ``name`` (``flow_model`` or ``frame_model``)."""
    stem = CHECKPOINT_STEMS[name]
    return Path(folder) / f"{stem}.safetensors", Path(folder) / f"{stem}.json"


SMALL_WEIGHTS_BYTES = 16 * 2**20
"""Weights up to this size make a small network (the offline G_flow and G_frame weigh a few MB)."""


def small_weights(*files: str | Path) -> bool:
    """Whether every weights file is at most :data:`SMALL_WEIGHTS_BYTES`: a step holding only such networks is
    light (tasks.batch.ItemStep). A missing file is not small: the step then fails where its models live,
    saying what to train."""
    return all(Path(path).is_file() and Path(path).stat().st_size <= SMALL_WEIGHTS_BYTES for path in files)


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
    if not Path(weights).is_file():
        raise InputError(f"no G_flow checkpoint in {Path(weights).parent} ({Path(weights).name} missing): train it "
                         "(`dvc repro train_flow`), point flow.flow_model at one, or set flow.source to direction, "
                         "class_default or zero")
    return _flow_predictor(str(Path(weights).parent), file_digest(weights), device)


def frame_model(weights: Path, device: str):
    """G_frame (FrameNet) of the checkpoint holding ``weights``, loaded once per process and digest."""
    if not Path(weights).is_file():
        raise InputError(f"no G_frame checkpoint in {Path(weights).parent} ({Path(weights).name} missing): train "
                         "it (`dvc repro train_frame`) or point frame_model at one")
    return _frame_model(str(Path(weights).parent), file_digest(weights), device)
