"""A small model-holding batch step for the actor tests, importable by Ray's processes (tests/ is put on
their PYTHONPATH by test_actors).

The "model" is a seeded linear layer built once per process by a cached loader that counts its constructions;
each item writes the layer's output for its input and reports the process that computed it.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import numpy as np
import ray
import torch

from tasks.batch import Item, ItemStep

CONSTRUCTIONS = 0
"""How many times this process built the model."""


@functools.lru_cache(maxsize=1)
def model() -> torch.nn.Linear:
    """The step's model: Linear(4 → 2) with weights from seed 0, built once per process."""
    global CONSTRUCTIONS
    CONSTRUCTIONS += 1
    torch.manual_seed(0)
    return torch.nn.Linear(4, 2)


def model_item(item: Item, params: dict, out_dir: Path) -> dict:
    """``y.npy`` = model(x · 1₄) for the item's ``x``; appends ``<id> <pid>`` to ``params["log"]``.

    ``crash``: ``first`` ends this process on the item's first attempt (noted in the file ``marker``, which
    gets the pid), ``always`` on every attempt.
    """
    crash = item.values.get("crash")
    marker = Path(item.values.get("marker", ""))
    if crash == "always" or (crash == "first" and not marker.exists()):
        marker.write_text(str(os.getpid()))
        os._exit(3)
    with torch.no_grad():
        y = model()(torch.full((1, 4), float(item.values["x"])))[0].numpy()
    np.save(out_dir / "y.npy", y)
    with open(params["log"], "a") as log:
        log.write(f"{item.id} {os.getpid()}\n")
    return {"pid": os.getpid(), "constructions": CONSTRUCTIONS,
            "actor": ray.get_runtime_context().get_actor_id() or "", "prefect_loaded": "prefect" in sys.modules,
            "threads": torch.get_num_threads()}


MODEL_STEP = ItemStep("model_step", model_item, holds_models=True)
