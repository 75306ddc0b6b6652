"""The paper's ablations of G_flow (Table 1) as configurations of the one network and its training.

Each is the ``train_flow`` section with G_flow's input switches set (``FlowTrainingOptions.text_input``,
``mask_input``, recorded in the checkpoint): ``wo_text`` reads nothing derived from the caption, ``wo_mask``
no mask channel, ``wo_text_mask`` the picture alone (the setting of single-image methods such as Holynski et
al.); ``ours`` keeps the pipeline's settings. All are trained on the same data with the same seed and settings,
for the same number of iterations (``train_ablations.iterations``), so they differ by their inputs alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stages.errors import InputError
from stages.values import COUNT, ruled

FLOW_ABLATIONS: dict[str, dict[str, bool]] = {
    "ours": {},
    "wo_text": {"text_input": False},
    "wo_mask": {"mask_input": False},
    "wo_text_mask": {"text_input": False, "mask_input": False},
}
"""Method name → what its G_flow's training section changes in ``train_flow``."""


def method_names(value: Any, setting: str) -> Any:
    """The rule of a list of methods: distinct names of :data:`FLOW_ABLATIONS`, at least one (returned as given)."""
    chosen = tuple(value) if isinstance(value, (list, tuple)) else ()
    if not chosen or len(set(chosen)) != len(chosen) or not set(chosen) <= set(FLOW_ABLATIONS):
        raise InputError(f"{setting} must list distinct methods among {', '.join(FLOW_ABLATIONS)}, got {value!r}")
    return value


@dataclass(frozen=True)
class AblationOptions:
    """The ``train_ablations`` section: which G_flows the comparison trains, and for how long."""

    iterations: int = ruled(40, COUNT)
    """Optimisation steps of every compared G_flow alike (the pipeline's own trains ``train_flow.iterations``),
    cut equally for all four to fit ``make repro``: 40, the fewest at which ``ours`` beats zero flow on the
    held-out clips (20 do not)."""
    methods: tuple[str, ...] = ruled(tuple(FLOW_ABLATIONS), method_names)
    """The G_flows trained, each into ``<out>/<name>``: any of ours, wo_text, wo_mask, wo_text_mask."""


def ablation_section(train_flow: dict, name: str, iterations: int) -> dict:
    """The training section of method ``name``: ``train_flow`` (data, seed, every setting) with the method's input
    switches and ``iterations``."""
    return {**train_flow, **FLOW_ABLATIONS[name], "iterations": iterations}
