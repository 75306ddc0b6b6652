"""A bulk run's driver side, free of Prefect: start (lock, reconcile, plan, free space), shards, finish.

:class:`BulkRun` is driven by flows/bulk.py (one Prefect task per shard) and works the same from a plain
loop. Shards run at once in the driver's threads, one per item the workers hold (:attr:`BulkRun.concurrency`);
each runs its items one after another on its worker: in this process (``executor: local``) or on a
model-holding Ray actor of a pool of ``workers`` (``executor: ray``, tasks.bulk.actor) — an actor runs the
item's five steps and keeps their models loaded, with the next item queued behind the one it runs.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from stages.errors import InputError, disk_full
from tasks.bulk.journal import Journal, link_item, reconcile, write_results
from tasks.bulk.lock import RunLock
from tasks.bulk.manifest import ItemSpec
from tasks.bulk.plan import Plan, check_free_space, make_plan, shards
from tasks.bulk.steps import run_item, take_step_codes
from tasks.store import Store

if TYPE_CHECKING:
    from tasks.bulk.actor import RayWorkers

STARTS = "starts.jsonl"
"""``RUN/starts.jsonl``: one line per start — what it found (reconciliation) and planned."""


class LocalWorkers:
    """Items in the calling thread (one shard thread per worker)."""

    def __init__(self, params: dict, store_root: str):
        self.params, self.store_root = params, store_root

    def run(self, spec: ItemSpec) -> dict:
        """One item's outcome (tasks.bulk.steps.run_item)."""
        return run_item(spec, self.params, self.store_root)

    def close(self) -> None:
        """Nothing to release."""


class BulkRun:
    """One start of a bulk run over ``specs`` into ``run_dir`` with the run's ``params`` (sections).

    ``workers``: items at once; ``executor``: local or ray; ``retry_failed``: retry the items that failed
    before; ``keep_free_mb``: stop before an item when less is free. :meth:`start` takes the lock and plans;
    :meth:`run_shard` runs one shard; :meth:`finish` writes results.parquet and report.html.
    """

    def __init__(self, specs: list[ItemSpec], run_dir: str | Path, params: dict, workers: int = 1,
                 executor: str = "local", retry_failed: bool = False, keep_free_mb: float = 1024,
                 shard_size: int | None = None):
        self.specs, self.run_dir, self.params = specs, Path(run_dir), params
        self.workers, self.executor, self.retry_failed = workers, executor, retry_failed
        self.keep_free_mb, self.shard_size = keep_free_mb, shard_size
        self.store = Store((params.get("run") or {}).get("store", ".cache/store"))
        self.lock = RunLock(self.run_dir)
        self.journal = Journal(self.run_dir)
        self.plan: Plan | None = None
        self.counts = {"done": 0, "failed": 0, "cached": 0}
        self.stopped: str | None = None
        self.finished: set[str] = set()
        self._pool: LocalWorkers | RayWorkers | None = None
        self._bar: tqdm | None = None
        self._counts_lock = threading.Lock()
        self._shards_changed = threading.Condition()
        self._running_shards = 0
        self._started = time.perf_counter()

    def start(self, dry_run: bool = False) -> Plan:
        """Take the run lock (InputError naming a live holder), reconcile, plan, check free space, take the
        steps' code digests (tasks.bulk.steps.take_step_codes: seconds a command spends while its Prefect
        server comes up); a dry run releases the lock and changes nothing but leftovers of a killed run."""
        self.lock.acquire()
        try:
            staging = self.store.clean_staging()
            rows, facts = reconcile(self.run_dir, self.specs, self.store)
            self.plan = make_plan(self.specs, rows, self.retry_failed, self.run_dir, self.params)
            self.plan.facts = {**facts, "store_staging_removed": len(staging),
                               "lock_taken_over_from": self.lock.previous}
            if dry_run:
                self.lock.release()
                return self.plan
            check_free_space([self.run_dir, self.store.root], self.plan.estimate_bytes(), self.keep_free_mb)
            take_step_codes()
            self._record_start()
        except BaseException:
            self.lock.release()
            raise
        return self.plan

    def _record_start(self) -> None:
        start = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "items": len(self.specs),
                 "todo": len(self.plan.todo), "workers": self.workers, "executor": self.executor,
                 **self.plan.facts}
        with open(self.run_dir / STARTS, "a") as handle:
            handle.write(json.dumps(start) + "\n")

    @property
    def concurrency(self) -> int:
        """Shards at once: one per item the workers hold at a time (a Ray actor holds
        tasks.bulk.actor.ITEMS_PER_ACTOR, an in-process worker one)."""
        if self.executor != "ray":
            return self.workers
        from tasks.bulk.actor import ITEMS_PER_ACTOR

        return self.workers * ITEMS_PER_ACTOR

    def shards(self) -> list[list[ItemSpec]]:
        """The items to do, cut into shards (tasks.bulk.plan.shards) for :attr:`concurrency` at once."""
        return shards(self.plan.todo, self.concurrency, self.shard_size)

    def open(self) -> None:
        """Start the workers and the progress bar (done / failed / remaining, items per minute, ETA)."""
        store_root = str(self.store.root)
        if self.executor == "ray":
            from tasks.bulk.actor import RayWorkers

            self._pool = RayWorkers(self.params, store_root, self.workers, self.params.get("run") or {},
                                    self.plan.todo[0] if self.plan.todo else None)
        else:
            self._pool = LocalWorkers(self.params, store_root)
        self._bar = tqdm(total=len(self.plan.todo), desc="bulk", unit="item", dynamic_ncols=True)
        self._started = time.perf_counter()

    def run_shard(self, shard: list[ItemSpec]) -> dict:
        """Run the items of ``shard`` not finished yet (a retried shard skips those done) → its counts.

        Stops before an item when the disk is nearly full (``keep_free_mb``) or the run was stopped
        (:meth:`stop`), and when the disk fills during an item (stages.errors.disk_full): that item gets no
        row, and the next start runs it again, finding the steps it stored."""
        counts = {"done": 0, "failed": 0}
        with self._shards_changed:
            self._running_shards += 1
        try:
            for spec in shard:
                if self.stopped:
                    break
                if spec.id in self.finished:
                    continue
                try:
                    check_free_space([self.run_dir, self.store.root], 0, self.keep_free_mb)
                except InputError as error:
                    self.stop(str(error))
                    break
                try:
                    outcome = self._pool.run(spec)
                    self._commit(spec, outcome)
                except OSError as error:
                    if not disk_full(error):
                        raise
                    self.stop(f"the disk filled during item {spec.id} ({error}): free some space and start the "
                              "same command again")
                    break
                counts["done" if outcome["status"] == "ok" else "failed"] += 1
        finally:
            with self._shards_changed:
                self._running_shards -= 1
                self._shards_changed.notify_all()
        return counts

    def stop(self, reason: str) -> None:
        """Stop the run (the first reason is kept): shards start no more items, those running finish theirs."""
        self.stopped = self.stopped or reason

    def _commit(self, spec: ItemSpec, outcome: dict) -> None:
        """Link an ok item's files into place, then append its row; a failed item's row has its stage and
        error. The row is written only once the item is committed."""
        row = {"id": spec.id, "status": outcome["status"], "stage": outcome.get("stage"), "error": outcome.get("error"),
               "key": outcome["keys"].get("video") if outcome.get("keys") else None,
               "keys": outcome.get("keys") or {}, "seconds": outcome.get("seconds") or {},
               "computed": outcome.get("computed") or [], "video": outcome.get("video"), "spec": spec.digest(),
               "attempts": outcome.get("attempts", 1),
               "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        if outcome["status"] == "ok":
            row["files"] = link_item(self.run_dir, spec.id, outcome["keys"], self.store)
        self.journal.append(row)
        with self._counts_lock:
            self.finished.add(spec.id)
            self.counts["done" if outcome["status"] == "ok" else "failed"] += 1
            self.counts["cached"] += outcome["status"] == "ok" and not outcome.get("computed")
            self._show()

    def _show(self) -> None:
        finished = self.counts["done"] + self.counts["failed"]
        minutes = (time.perf_counter() - self._started) / 60
        self._bar.set_postfix(done=self.counts["done"], failed=self.counts["failed"],
                              left=len(self.plan.todo) - finished, per_min=f"{finished / max(minutes, 1e-9):.1f}",
                              refresh=False)
        self._bar.update(1)

    def progress(self) -> float:
        """Percent of the items to do that finished in this start."""
        total = len(self.plan.todo)
        return 100.0 if not total else 100.0 * (self.counts["done"] + self.counts["failed"]) / total

    def finish(self) -> dict:
        """Wait for the shards still running (those of a stopped run finish the item each holds: its row is
        written under the lock), close the workers and the bar, write results.parquet and report.html, free the
        lock → a summary."""
        from tasks.bulk.report import write_report

        with self._shards_changed:
            self._shards_changed.wait_for(lambda: not self._running_shards)
        try:
            if self._bar is not None:
                self._bar.close()
            if self._pool is not None:
                self._pool.close()
            table = write_results(self.run_dir, self.specs)
            write_report(self.run_dir, self.specs, table)
        finally:
            self.lock.release()
        return {**self.counts, "stopped": self.stopped,
                "total_done": int((table.status == "ok").sum()) if len(table) else 0,
                "total_failed": int((table.status == "failed").sum()) if len(table) else 0}

    def run_all(self) -> dict:
        """Every shard in :attr:`concurrency` threads of this process, no Prefect (the flow does the same with
        one task per shard) → :meth:`finish`'s summary."""
        from concurrent.futures import ThreadPoolExecutor

        self.open()
        threads = ThreadPoolExecutor(self.concurrency)
        try:
            list(threads.map(self.run_shard, self.shards()))
        except KeyboardInterrupt:  # Ctrl-C: the items running finish and are committed, no other starts
            self.stop("interrupted")
            raise
        finally:
            threads.shutdown()
            summary = self.finish()
        return summary
