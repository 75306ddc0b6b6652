"""The Prefect flow of a bulk run: one task run per shard of items (never one per item), retried per shard,
and a progress artifact updated as shards finish. The work itself is tasks.bulk.runner.BulkRun's.

:func:`scheduled_bulk` is the flow a deployment runs (prefect.yaml, ``cinemagraph bulk serve``): it takes
paths and settings, not a started run, and names the run folder by the run's date.
"""

from __future__ import annotations

from tasks.prefect_env import without_heartbeats  # (Prefect settings before Prefect is imported)

from datetime import datetime, timezone
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait
from prefect.task_runners import ThreadPoolTaskRunner

from stages.errors import InputError
from flows.params import read_params, with_assignments
from tasks.bulk.manifest import ItemSpec, read_manifest
from tasks.bulk.runner import BulkRun
from tasks.bulk.steps import SECTIONS, check_settings

DATE = "{date}"
"""In a scheduled run's output folder: the date the run was scheduled for (UTC, YYYY-MM-DD)."""
SHARD_RETRIES = 2
"""Extra attempts of a shard whose task broke (an item's failure is a row, not a broken shard); a retried
shard skips the items it finished."""


def prepare_run(manifest: str | Path, output: str | Path, params: str | Path | None = None,
                assignments: list[str] | None = None, workers: int = 1, executor: str = "local",
                retry_failed: bool = False, keep_free_mb: float = 1024, shard_size: int | None = None) -> BulkRun:
    """A bulk run from what a user names (the command and the scheduled flow both build theirs here): the
    manifest read and every row checked, the settings read (``params``, default params.yaml here or the
    offline default, then each ``SECTION.KEY=VALUE`` of ``assignments``) and checked against the rows → a
    :class:`BulkRun` into ``output``, not started. InputError listing every bad row, or naming a bad setting."""
    specs = read_manifest(manifest)
    sections = ("run", *SECTIONS)
    settings = with_assignments(read_params(Path(params) if params else None, sections), assignments or [], sections)
    return BulkRun(specs, output, check_settings(settings, specs), workers, executor, retry_failed, keep_free_mb,
                   shard_size)


@task(cache_policy=NO_CACHE, persist_result=False, retries=SHARD_RETRIES)
def bulk_shard(run: BulkRun, shard: list[ItemSpec], artifact) -> dict:
    """Run one shard's items → its counts; then update the run's progress artifact."""
    counts = run.run_shard(shard)
    update_progress_artifact(artifact, run.progress())
    return counts


@flow(name="bulk", validate_parameters=False, log_prints=False)
def bulk_flow(run: BulkRun) -> dict:
    """Every shard of a started :class:`BulkRun` (``run.start()`` done), ``run.concurrency`` at once → the
    run's summary (tasks.bulk.runner.BulkRun.finish)."""
    run.open()
    try:
        artifact = create_progress_artifact(0.0, key="bulk-progress",
                                            description=f"bulk run {run.run_dir}: {len(run.plan.todo)} items")
        shard_task = bulk_shard.with_options(task_run_name="shard-{shard[0].id}")
        futures = [shard_task.submit(run, shard, artifact) for shard in run.shards()]
        wait(futures)
        update_progress_artifact(artifact, run.progress())
    except KeyboardInterrupt:  # Ctrl-C: the items running finish and are committed, no other starts
        run.stop("interrupted")
        raise
    finally:
        summary = run.finish()
    return summary


def run_bulk_flow(run: BulkRun) -> dict:
    """:func:`bulk_flow` on ``run.concurrency`` threads (each shard waits on its item's worker), sending no
    heartbeats (tasks.prefect_env.without_heartbeats: the run's end would wait up to a second for them)."""
    with without_heartbeats():
        return bulk_flow.with_options(task_runner=ThreadPoolTaskRunner(max_workers=run.concurrency))(run)


def dated_folder(pattern: str, when: datetime) -> Path:
    """``pattern`` with every :data:`DATE` replaced by ``when``'s UTC date, e.g. runs/{date} → runs/2025-06-01."""
    return Path(pattern.replace(DATE, when.astimezone(timezone.utc).strftime("%Y-%m-%d")))


@flow(name="bulk-scheduled", log_prints=False)
def scheduled_bulk(manifest: str, output: str = f"runs/{DATE}", params: str | None = None,
                   settings: list[str] | None = None, workers: int = 1, executor: str = "local",
                   retry_failed: bool = False, keep_free_mb: float = 1024, shard_size: int | None = None) -> dict:
    """A bulk run of ``manifest`` into ``output`` (:data:`DATE` replaced by the date this run was scheduled
    for: a run started again for the same date resumes its folder), with the ``params`` file and
    ``settings`` (``SECTION.KEY=VALUE``) as ``cinemagraph bulk`` takes them → the run's summary. Paths are
    relative to the folder the run starts in (a deployment's working directory). Fails when the run stopped
    early (a full disk) or every item failed."""
    from prefect.runtime import flow_run

    folder = dated_folder(output, flow_run.scheduled_start_time)
    run = prepare_run(manifest, folder, params, settings, workers, executor, retry_failed, keep_free_mb, shard_size)
    get_run_logger().info("%s: %s", folder, run.start().describe(workers))
    summary = run_bulk_flow(run)
    if summary["stopped"] or (summary["total_failed"] and not summary["total_done"]):
        reason = summary["stopped"] or "every item failed"
        raise InputError(f"bulk run {folder}: {reason} (see {folder / 'report.html'})")
    return summary
