"""The Prefect flow of a bulk run: one task run per shard of items (never one per item), retried per shard,
and a progress artifact updated as shards finish. The work itself is tasks.bulk.runner.BulkRun's."""

from __future__ import annotations

import tasks.prefect_env  # noqa: F401  (Prefect settings before Prefect is imported)

from prefect import flow, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait
from prefect.task_runners import ThreadPoolTaskRunner

from tasks.bulk.manifest import ItemSpec
from tasks.bulk.runner import BulkRun

SHARD_RETRIES = 2
"""Extra attempts of a shard whose task broke (an item's failure is a row, not a broken shard); a retried
shard skips the items it finished."""


@task(cache_policy=NO_CACHE, persist_result=False, retries=SHARD_RETRIES)
def bulk_shard(run: BulkRun, shard: list[ItemSpec], artifact) -> dict:
    """Run one shard's items → its counts; then update the run's progress artifact."""
    counts = run.run_shard(shard)
    update_progress_artifact(artifact, run.progress())
    return counts


@flow(name="bulk", validate_parameters=False, log_prints=False)
def bulk_flow(run: BulkRun) -> dict:
    """Every shard of a started :class:`BulkRun` (``run.start()`` done), ``run.workers`` at once → the
    run's summary (tasks.bulk.runner.BulkRun.finish)."""
    run.open()
    try:
        artifact = create_progress_artifact(0.0, key="bulk-progress",
                                            description=f"bulk run {run.run_dir}: {len(run.plan.todo)} items")
        shard_task = bulk_shard.with_options(task_run_name="shard-{shard[0].id}")
        futures = [shard_task.submit(run, shard, artifact) for shard in run.shards()]
        wait(futures)
        update_progress_artifact(artifact, run.progress())
    finally:
        summary = run.finish()
    return summary


def run_bulk_flow(run: BulkRun) -> dict:
    """:func:`bulk_flow` on ``run.workers`` threads (each shard waits on its item's worker)."""
    return bulk_flow.with_options(task_runner=ThreadPoolTaskRunner(max_workers=run.workers))(run)
