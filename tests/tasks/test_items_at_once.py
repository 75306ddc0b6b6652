"""A light step's items run several at once in the stage's process (tasks.prefect_task.items_at_once), and a
model loader loads once however many threads ask at the same time (stages.memo)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from stages.memo import loaded_once
from tasks.batch import Item, ItemStep

RUNNING = {"now": 0, "most": 0}
_counting = threading.Lock()


def busy_item(item: Item, params: dict, out_dir: Path) -> dict:
    """``square.npy`` = x², written after the item has been running for 0.2 s; counts the items running at once."""
    with _counting:
        RUNNING["now"] += 1
        RUNNING["most"] = max(RUNNING["most"], RUNNING["now"])
    time.sleep(0.2)
    np.save(out_dir / "square.npy", np.array(item.values["x"] ** 2))
    with _counting:
        RUNNING["now"] -= 1
    return {"x": item.values["x"]}


LIGHT = ItemStep("busy", busy_item, light=True)
HEAVY = ItemStep("busy_models", busy_item, holds_models=True)


def run_busy(step: ItemStep, cpus: int, folder: Path, monkeypatch) -> tuple[pd.DataFrame, int]:
    """(manifest, most items running at once) of six items of ``step`` in a Prefect flow, on ``cpus`` CPUs."""
    from prefect import flow

    from tasks.gallery import RUNNER
    from tasks.prefect_task import run_stage

    monkeypatch.setenv("CINEMAGRAPH_THREADS", str(cpus))
    RUNNING.update(now=0, most=0)
    items = [Item(f"i{n}", values={"x": n}) for n in range(6)]
    run = {"executor": "local", "store": str(folder / "store")}
    manifest = flow(name=step.name, task_runner=RUNNER)(run_stage)(step, items, {}, folder / "out", run)
    return manifest, RUNNING["most"]


def test_light_items_run_one_per_cpu_and_give_what_one_at_a_time_gives(prefect_server, tmp_path, monkeypatch):
    monkeypatch.setattr("stages.threads._frame_workers", 1)  # the thread policy is put back afterwards
    threads = torch.get_num_threads()
    try:
        together, most = run_busy(LIGHT, 3, tmp_path / "together", monkeypatch)
        alone, most_alone = run_busy(LIGHT, 1, tmp_path / "alone", monkeypatch)
        _, most_with_models = run_busy(HEAVY, 3, tmp_path / "models", monkeypatch)
    finally:
        torch.set_num_threads(threads)
    assert (most, most_alone, most_with_models) == (3, 1, 1)
    assert list(together.status) == ["ok"] * 6
    assert together.equals(alone)  # same keys, files and metadata, in the same order
    for n in range(6):
        assert np.load(tmp_path / "together" / "out" / f"i{n}" / "square.npy") == n ** 2


def test_a_loader_called_from_threads_at_once_loads_once():
    loads = []

    @loaded_once(maxsize=2)
    def load(name: str) -> object:
        loads.append(name)
        time.sleep(0.2)  # long enough for every thread to ask before the first load ends
        return object()

    with ThreadPoolExecutor(4) as pool:
        models = list(pool.map(load, ["a"] * 4))
    assert loads == ["a"]
    assert all(model is models[0] for model in models)
    assert load("b") is not models[0] and loads == ["a", "b"]
