"""Trained networks as inputs of batch items: their files join the item's key.

An item that reads a checkpoint folder lists its weights and config as inputs (:func:`checkpoint_inputs`), so
retraining re-keys the item; the step then loads the network through ``stages.learned.loading``, cached per
process and per weights digest.
"""

from __future__ import annotations

from pathlib import Path

from stages.learned.loading import checkpoint_files


def checkpoint_inputs(name: str, folder: str | Path | None) -> dict[str, Path]:
    """``{name: weights, name_config: config}`` of checkpoint ``folder`` (nothing when it is None);
    ``name``: ``flow_model`` (G_flow) or ``frame_model`` (G_frame)."""
    if folder is None:
        return {}
    weights, config = checkpoint_files(name, folder)
    return {name: weights, f"{name}_config": config}
