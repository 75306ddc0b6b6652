"""Items, steps and the execution of one item into the store. Free of Prefect: Ray workers import this.

A step is a plain function ``run(item, params, out_dir) -> dict`` that reads the item's input files, calls
stages, writes its result files into ``out_dir`` and returns a small JSON-able metadata dict. The item's key
is the digest of the step's name and code, its parameters, its values and the bytes of its input files.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from stages.errors import InputError
from stages.files import file_digest
from tasks.store import Store, code_digest, json_digest


@dataclass(frozen=True)
class Item:
    """One unit of a batch: an id (a safe folder name), input files, and small JSON-able values."""

    id: str
    inputs: dict[str, Path] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemStep:
    """A stage as a batch step: ``run(item, params, out_dir) -> metadata``.

    ``code`` lists the modules whose source is part of the cache key (the step's own module is always
    included); ``num_cpus``/``num_gpus`` are the Ray resources one item needs.
    """

    name: str
    run: Callable[[Item, dict, Path], dict]
    code: tuple[str, ...] = ()
    num_cpus: float = 1.0
    num_gpus: float = 0.0

    @property
    def modules(self) -> tuple[str, ...]:
        """Every module hashed into the key."""
        return tuple(sorted({self.run.__module__, *self.code}))


def item_key(step: ItemStep, item: Item, params: dict) -> str:
    """Cache key of an item: digests of the step's code, params, values and input file contents.

    A missing input file raises InputError naming it.
    """
    inputs = {}
    for name, path in item.inputs.items():
        if not Path(path).is_file():
            raise InputError(f"{item.id}: input {name!r} not found: {path}")
        inputs[name] = file_digest(path)
    return json_digest({"step": step.name, "code": code_digest(step.modules), "params": params,
                        "values": item.values, "inputs": inputs})


def execute_item(step: ItemStep, item: Item, params: dict, key: str, store_root: str) -> dict:
    """Compute one item into the store (or find it there) → its record.

    Failures come back as a record with ``status="failed"`` and the error; they are never stored.
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
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        return {"id": item.id, "key": key, "status": "failed", "error": detail,
                "traceback": traceback.format_exc(limit=8)}
