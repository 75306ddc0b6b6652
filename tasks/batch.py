"""Items, steps and the execution of one item into the store. Free of Prefect: Ray workers import this.

A step is a plain function ``run(item, params, out_dir) -> dict`` that reads the item's input files, calls
stages, writes its result files into ``out_dir`` and returns a small JSON-able metadata dict. The item's key
is the digest of the step's name and code, its parameters, its values and the bytes of its input files.
"""

from __future__ import annotations

import re
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pandas as pd

if TYPE_CHECKING:
    import torch

from stages.devices import auto_dtype, auto_precision
from stages.errors import InputError, disk_full
from stages.files import file_digest
from tasks.code import code_digest
from tasks.store import Store, json_digest


@dataclass(frozen=True)
class Item:
    """One unit of a batch: an id (a safe folder name), input files, and small JSON-able values."""

    id: str
    inputs: dict[str, Path] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        check_item_id(self.id)


SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_item_id(item_id: str) -> str:
    """``item_id`` when it is a safe folder name (letters, digits, ``._-``, not starting with a dot, at most
    128 characters), else InputError."""
    if not isinstance(item_id, str) or not SAFE_ID.fullmatch(item_id):
        shown = repr(item_id)[:60]
        raise InputError(f"bad item id {shown}: use letters, digits, '.', '_' or '-' (not first), at most 128")
    return item_id


@dataclass(frozen=True)
class ItemStep:
    """A stage as a batch step: ``run(item, params, out_dir) -> metadata``.

    The source of the step's module and of every project module it imports (tasks.code) is part of each
    item's key; ``num_cpus``/``num_gpus`` are the Ray resources one item needs. ``holds_models``: the step
    loads models (cached per process), so on Ray its items run on long-lived actors that load them once.
    ``light``: the items are light — no large model, seconds of work that parallelises inside the item if at
    all — so on a local machine they run in the stage's own process (Ray's workers would only share the same
    CPUs, after seconds of start-up); a function of the step's params when that depends on them.
    """

    name: str
    run: Callable[[Item, dict, Path], dict]
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    holds_models: bool = False
    light: bool | Callable[[dict], bool] = False

    def is_light(self, params: dict) -> bool:
        """Whether items with ``params`` are light (see ``light``)."""
        return self.light(params) if callable(self.light) else self.light

    def code(self) -> str:
        """Digest of the code in the key: the step's module and its project imports, transitively, and the
        result libraries' versions (tasks.code)."""
        return code_digest(self.run.__module__)


def item_key(step: ItemStep, item: Item, params: dict, code: str | None = None) -> str:
    """Cache key of an item: its id and digests of the step's code, params, values and input file contents.

    The id is part of the key because file names carry it: two ids with identical inputs are two entries.
    ``code``: the step's code digest when already computed (a batch computes it once: it reads every module
    of the step's import closure).

    A missing input file raises InputError naming it.
    """
    inputs = {}
    for name, path in item.inputs.items():
        if not Path(path).is_file():
            raise InputError(f"{item.id}: input {name!r} not found: {path}")
        inputs[name] = file_digest(path)
    return json_digest({"step": step.name, "id": item.id, "code": code or step.code(),
                        "params": params, "values": item.values, "inputs": inputs})


def resolved_settings(section: dict, device: "torch.device") -> dict:
    """``section`` (nested dicts) with every ``auto`` device, dtype and precision resolved for ``device``, so
    that a key names what really runs (a CPU float32 result never shares a key with a GPU float16 one)."""
    def resolve(name: str, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: resolve(key, inner) for key, inner in value.items()}
        if value != "auto":
            return value
        if name == "device":
            return device.type
        if name == "dtype":
            return str(auto_dtype(device)).removeprefix("torch.")
        if name == "precision":
            return str(auto_precision(device) or "float32").removeprefix("torch.")
        return value

    return resolve("", section)


def execute_item(step: ItemStep, item: Item, params: dict, key: str, store_root: str) -> dict:
    """Compute one item into the store (or find it there) → its record.

    Failures come back as a record with ``status="failed"`` and the error; they are never stored. A full disk
    (stages.errors.disk_full) is raised instead: it is no fault of the item, and the caller stops.
    """
    store = Store(store_root)
    found = store.get(key)
    if found is not None:
        return {**found, "status": "cached"}
    started = time.perf_counter()

    def build(folder: Path) -> dict:
        meta = step.run(item, params, folder) or {}
        return {"id": item.id, "step": step.name, "key": key, "meta": meta,
                "seconds": round(time.perf_counter() - started, 3)}

    try:
        return {**store.put(key, build), "status": "ok"}
    except InputError as error:
        return {"id": item.id, "key": key, "status": "failed", "error": str(error)}
    except Exception as error:  # a batch records the failure and goes on
        if disk_full(error):
            raise
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        return {"id": item.id, "key": key, "status": "failed", "error": detail,
                "traceback": traceback.format_exc(limit=8)}


def stage_record(name: str, metrics: dict) -> pd.DataFrame:
    """A one-row manifest (what ``cinemagraph pipeline`` reports) of a stage that is not run per item: its
    number metrics."""
    numbers = {key: value for key, value in metrics.items() if isinstance(value, (int, float))}
    return pd.DataFrame([{"id": name, "status": "ok", "error": None, **numbers}])
