"""A bulk run from what a user names: the manifest, the run folder, the params file and ``--set`` assignments.
One place for the command (flows/cli/bulk.py) and the scheduled flow (flows/bulk.py)."""

from __future__ import annotations

from pathlib import Path

from flows.params import read_params, with_assignments
from tasks.bulk.manifest import read_manifest
from tasks.bulk.runner import BulkRun
from tasks.bulk.steps import SECTIONS, check_settings


def prepare_run(manifest: str | Path, output: str | Path, params: str | Path | None = None,
                assignments: list[str] | None = None, workers: int = 1, executor: str = "local",
                retry_failed: bool = False, keep_free_mb: float = 1024, shard_size: int | None = None) -> BulkRun:
    """The manifest read and every row checked, the settings read (``params``, default params.yaml here or the
    offline default, then each ``SECTION.KEY=VALUE`` of ``assignments``) and checked against the rows → a
    :class:`BulkRun` into ``output``, not started. InputError listing every bad row, or naming a bad setting."""
    specs = read_manifest(manifest)
    sections = ("run", *SECTIONS)
    settings = with_assignments(read_params(Path(params) if params else None, sections), assignments or [], sections)
    return BulkRun(specs, output, check_settings(settings, specs), workers, executor, retry_failed, keep_free_mb,
                   shard_size)
