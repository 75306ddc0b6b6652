"""The generic mechanism: any ItemStep becomes a Prefect task mapped over a batch.

One cache serves items: the content-addressed store. The Prefect task does not cache; it runs the item on the
executor (Ray by default; this process for a light step on a local machine, :func:`executor_of`), where
``execute_item`` finds the item in the store or computes and commits it. So
nothing is recomputed outside a task, and a removed store entry is simply computed again by its task.

Each stage writes into its output folder the items' files and ``manifest.parquet``: one row per item with
its id, ``status`` (``ok`` or ``failed``), error, key, files and metadata — a function of the inputs,
parameters and code only, so DVC sees the same output when nothing changed. What happened in a run (computed
or found in the store, seconds, host, time) goes to the run log ``<store>/../runs/<stage>.jsonl`` instead.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import tasks.prefect_env  # noqa: F401  (must precede the first import of prefect)
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from tqdm import tqdm

from stages.errors import InputError
from stages.options import check_keys
from stages.threads import available_cpus, use_cpu_share
from stages.values import Range, ruled
from tasks.batch import Item, ItemStep, item_key, resolved_settings
from tasks.executor import LocalExecutor, make_executor
from tasks.store import Store

if TYPE_CHECKING:
    from tasks.ray_executor import RayExecutor


@dataclass(frozen=True)
class RunOptions:
    """The ``run`` section: where and how batch items run."""

    executor: str = "ray"
    """ray (a local Ray cluster, or the one at RAY_ADDRESS) or local (in this process)."""
    num_cpus: int | None = ruled(2, Range(1, 4096, integer=True))
    """CPUs of the local Ray cluster (ignored when joining a cluster)."""
    ray_address: str | None = None
    """address of an existing Ray cluster; RAY_ADDRESS in the environment also works."""
    object_store_mb: int = ruled(512, Range(64, 10**7, integer=True))
    """object store of the local Ray cluster, MiB."""
    store: str = ".cache/store"
    """content-addressed per-item results (survives DVC deleting stage outputs)."""
    retries: int = ruled(0, Range(0, 100, integer=True))
    """extra attempts of a failed item within one run."""
    actors: int | str = "auto"
    """Ray actors per model-holding step (each loads the models once and serves many items): auto = one per
    GPU on a cluster with GPUs, else one; a number sets it (on a CPU machine the actors share its CPUs)."""


_executors: dict[str, LocalExecutor | RayExecutor] = {}
_executors_lock = threading.Lock()
IN_PROCESS = LocalExecutor()


def executor_for(settings: dict) -> LocalExecutor | RayExecutor:
    """One executor per process and settings (Ray is started once)."""
    name = json.dumps(settings, sort_keys=True)
    with _executors_lock:
        if name not in _executors:
            _executors[name] = make_executor(settings)
        return _executors[name]


def executor_of(step: ItemStep, params: dict, run: dict) -> LocalExecutor | RayExecutor:
    """Where the items of ``step`` run: in this process when the step is light for ``params`` and no Ray
    cluster is joined (``run.ray_address``, RAY_ADDRESS), so the stage starts no Ray; else the ``run``
    section's executor."""
    joined = run.get("ray_address") or os.environ.get("RAY_ADDRESS")
    if step.is_light(params) and not joined:
        return IN_PROCESS
    return executor_for(run)


def item_record(step: ItemStep, item: Item, params: dict, key: str, store_root: str,
                executor: LocalExecutor | RayExecutor, retries: int) -> dict:
    """The item's record, from the store or computed on ``executor`` (failures are records too, retried up to
    ``retries`` times)."""
    for _attempt in range(retries + 1):
        record = executor.run(step, item, params, key, store_root)
        if record["status"] != "failed":
            break
    return record


def items_at_once(step: ItemStep, params: dict) -> int:
    """How many items of ``step`` run at once in this process: a light step's items one per CPU share of a
    Ray worker (``step.num_cpus``) of the CPUs this process may use (stages.threads), as Ray would run them;
    anything else one at a time (its models are neither copied nor shared between threads)."""
    return max(1, int(available_cpus() // step.num_cpus)) if step.is_light(params) else 1


@task(cache_policy=NO_CACHE, persist_result=False)
def process_item(step: ItemStep, item: Item, params: dict, key: str, store_root: str,
                 executor: LocalExecutor | RayExecutor, retries: int) -> dict:
    """Prefect task: one item's record (:func:`item_record`), for items that run on Ray."""
    return item_record(step, item, params, key, store_root, executor, retries)


@task(cache_policy=NO_CACHE, persist_result=False)
def process_items(step: ItemStep, keyed: list[tuple[Item, str]], params: dict, store_root: str,
                  executor: LocalExecutor, retries: int) -> list[dict]:
    """Prefect task: the records of items run in this process (one Prefect task run per item would add ~60 ms
    of bookkeeping to each), :func:`items_at_once` at a time in threads, each on the thread policy's share of
    one worker (stages.threads: one torch thread, ``step.num_cpus`` frames at once), with a progress bar."""
    workers = items_at_once(step, params)
    if workers > 1:
        use_cpu_share(step.num_cpus)
    record = lambda pair: item_record(step, pair[0], params, pair[1], store_root, executor, retries)
    threads = ThreadPoolExecutor(workers, thread_name_prefix=step.name)
    try:
        return list(tqdm(threads.map(record, keyed), total=len(keyed), desc=step.name, unit="item"))
    finally:  # interrupted: the items not started yet are dropped, not run first
        threads.shutdown(cancel_futures=True)


def run_stage(step: ItemStep, items: list[Item], params: dict, out_dir: str | Path, run: dict) -> pd.DataFrame:
    """Run ``step`` over ``items`` inside a Prefect flow → the manifest (also written as manifest.parquet).

    ``params``: the stage's settings; ``auto`` devices and dtypes are resolved for the executor first, so keys
    name what really runs (:func:`executor_of` picks it). ``run``: the ``run`` section (executor, store,
    retries). Each item's files are materialised under ``out_dir/<item id>/``; the run log gets one line per
    item, and ``manifest.attrs["run"]`` counts this run's items computed (ok), found in the store (cached) and
    failed.
    """
    check_keys(run, "run", RunOptions)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    store = Store(run.get("store", ".cache/store"))
    store.clean_staging()
    executor = executor_of(step, params, run)  # Ray (if used) starts here, once, before items are submitted
    params = resolved_settings(params, executor.device_for(step))
    duplicated = sorted(item_id for item_id, count in Counter(item.id for item in items).items() if count > 1)
    if duplicated:
        raise InputError(f"{step.name}: item ids must be unique; repeated: {', '.join(duplicated[:5])}")
    rows, runs, keyed, code = [], [], [], step.code()
    for item in items:
        try:
            keyed.append((item, item_key(step, item, params, code)))
        except InputError as error:
            rows.append({"id": item.id, "status": "failed", "error": str(error)})
            runs.append({"id": item.id, "status": "failed"})
    for item, key, record in _records(step, keyed, params, str(store.root), executor, int(run.get("retries", 0))):
        row, facts = _collect(record, item, key, store, out_dir)
        rows.append(row)
        runs.append(facts)
    manifest = pd.DataFrame(sorted(rows, key=lambda row: row["id"]))
    write_manifest(manifest, out_dir / "manifest.parquet")
    log_run(store, step.name, runs)
    manifest.attrs["run"] = {status: sum(f["status"] == status for f in runs) for status in ("ok", "cached", "failed")}
    return manifest


def _records(step: ItemStep, keyed: list[tuple[Item, str]], params: dict, store_root: str,
             executor: LocalExecutor | RayExecutor, retries: int):
    """Yield (item, key, record) for every keyed item: in this process, one Prefect task for the batch; on Ray,
    one Prefect task per item, as they finish."""
    if isinstance(executor, LocalExecutor):
        records = process_items.with_options(name=step.name)(step, keyed, params, store_root, executor, retries)
        yield from ((item, key, record) for (item, key), record in zip(keyed, records))
        return
    futures = {process_item.with_options(name=step.name).submit(step, item, params, key, store_root, executor,
                                                                retries): (item, key) for item, key in keyed}
    for future in tqdm(as_completed(list(futures)), total=len(futures), desc=step.name, unit="item"):
        try:
            record = future.result()
        except Exception as error:  # the task itself broke (not the step: step failures are records)
            record = {"status": "failed", "error": f"{type(error).__name__}: {error}"}
        yield (*futures[future], record)


def _collect(record: dict, item: Item, key: str, store: Store, out_dir: Path) -> tuple[dict, dict]:
    """A finished item's record → its manifest row (its files materialised) and its run facts."""
    facts = {"id": item.id, "status": record["status"], "seconds": record.get("seconds")}
    if record["status"] == "failed":
        return {"id": item.id, "status": "failed", "error": record["error"], "key": key}, facts
    files = store.materialise(key, out_dir / item.id)
    scalars = {k: v for k, v in record.get("meta", {}).items()
               if isinstance(v, (int, float, str, bool)) and k not in ("id", "status", "error", "key", "files")}
    return {"id": item.id, "status": "ok", "error": None, "key": key,
            "files": json.dumps([str(p.relative_to(out_dir)) for p in files]), **scalars}, facts


def log_run(store: Store, stage: str, facts: list[dict]) -> None:
    """Append one JSON line per item to the run log ``<store>/../runs/<stage>.jsonl`` (time, host, status:
    ok = computed now, cached = found in the store, failed; seconds)."""
    log = store.root.parent / "runs" / f"{stage}.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    stamp = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "host": socket.gethostname()}
    with log.open("a") as handle:
        for fact in facts:
            handle.write(json.dumps({**stamp, "stage": stage, **fact}) + "\n")


def write_manifest(manifest: pd.DataFrame, path: Path) -> None:
    """Write a manifest Parquet file atomically."""
    partial = path.with_name(f".{path.name}.partial")
    manifest.to_parquet(partial, index=False)
    partial.replace(path)
