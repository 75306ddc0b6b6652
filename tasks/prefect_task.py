"""The generic mechanism: any ItemStep becomes a cached, retryable Prefect task mapped over a batch.

The Prefect cache key of an item is its store key (content digests of its input files + params + code;
Prefect's own INPUTS policy would hash a path's string, not the file). Work runs on the executor (Ray by
default); results land in the content-addressed store and are materialised into the stage's output folder
with a Parquet manifest, one row per item with its status and error. Failed items are recorded, never
cached, and retried by the next run; finished ones are never redone.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import tasks.prefect_env  # noqa: F401  (must precede the first import of prefect)
import pandas as pd
from prefect import task
from prefect.cache_policies import CachePolicy
from prefect.futures import as_completed
from tqdm import tqdm

from stages.errors import InputError
from tasks.batch import Item, ItemStep, item_key
from tasks.executor import LocalExecutor, RayExecutor, make_executor
from tasks.store import Store


class StoreKeyPolicy(CachePolicy):
    """Cache key = the item's store key, computed from file contents, params and code."""

    def compute_key(self, task_ctx, inputs: dict[str, Any], flow_parameters: dict[str, Any], **kwargs) -> str:
        return inputs["key"]


class ItemFailed(Exception):
    """An item's step failed; ``record`` holds its error. Raised so Prefect marks it failed, uncached."""

    def __init__(self, record: dict):
        super().__init__(record.get("error", "failed"))
        self.record = record


_executors: dict[str, LocalExecutor | RayExecutor] = {}
_executors_lock = threading.Lock()
_local_lock = threading.Lock()


def executor_for(settings: dict) -> LocalExecutor | RayExecutor:
    """One executor per process and settings (Ray is started once)."""
    name = json.dumps(settings, sort_keys=True)
    with _executors_lock:
        if name not in _executors:
            _executors[name] = make_executor(settings)
        return _executors[name]


@task(cache_policy=StoreKeyPolicy(), persist_result=True, retries=0)
def process_item(step: ItemStep, item: Item, params: dict, key: str, store_root: str, run: dict) -> dict:
    """Prefect task: compute one item on the executor → its record (raises ItemFailed on failure)."""
    executor = executor_for(run)
    if isinstance(executor, LocalExecutor):
        with _local_lock:
            record = executor.run(step, item, params, key, store_root)
    else:
        record = executor.run(step, item, params, key, store_root)
    if record["status"] == "failed":
        raise ItemFailed(record)
    return record


def run_stage(step: ItemStep, items: list[Item], params: dict, out_dir: str | Path, run: dict) -> pd.DataFrame:
    """Run ``step`` over ``items`` inside a Prefect flow → the manifest (also written as manifest.parquet).

    ``params``: the stage's section of params.yaml; ``run``: the ``run`` section (executor, store, retries).
    Each item's files are materialised under ``out_dir/<item id>/``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    store = Store(run.get("store", ".cache/store"))
    executor_for(run)  # start Ray (once) before items are submitted from several threads
    task_run = process_item.with_options(name=step.name, retries=int(run.get("retries", 0)))
    rows, futures = [], {}
    for item in items:
        try:
            key = item_key(step, item, params)
        except InputError as error:
            rows.append({"id": item.id, "status": "failed", "error": str(error)})
            continue
        future = task_run.submit(step, item, params, key, str(store.root), run)
        futures[future] = (item, key)
    for future in tqdm(as_completed(list(futures)), total=len(futures), desc=step.name, unit="item"):
        item, key = futures[future]
        rows.append(_collect(future, step, item, params, key, store, run, out_dir))
    manifest = pd.DataFrame(sorted(rows, key=lambda row: row["id"]))
    write_manifest(manifest, out_dir / "manifest.parquet")
    return manifest


def _collect(future, step, item, params, key, store: Store, run: dict, out_dir: Path) -> dict:
    """Turn a finished future into a manifest row, materialising the item's files."""
    result = future.result(raise_on_failure=False)
    if isinstance(result, ItemFailed):
        return {"id": item.id, "status": "failed", "error": result.record["error"], "key": key}
    if isinstance(result, BaseException):
        return {"id": item.id, "status": "failed", "error": f"{type(result).__name__}: {result}", "key": key}
    status = "cached" if future.state.name == "Cached" else result["status"]
    if store.get(key) is None:  # Prefect remembered a result whose store entry was removed: recompute
        result = executor_for(run).run(step, item, params, key, str(store.root))
        if result["status"] == "failed":
            return {"id": item.id, "status": "failed", "error": result["error"], "key": key}
    files = store.materialise(key, out_dir / item.id)
    scalars = {k: v for k, v in result.get("meta", {}).items() if isinstance(v, (int, float, str, bool))}
    return {"id": item.id, "status": status, "error": None, "key": key, "seconds": result.get("seconds"),
            "files": json.dumps([str(p.relative_to(out_dir)) for p in files]), **scalars}


def write_manifest(manifest: pd.DataFrame, path: Path) -> None:
    """Write a manifest Parquet file atomically."""
    partial = path.with_name(f".{path.name}.partial")
    manifest.to_parquet(partial, index=False)
    partial.replace(path)
