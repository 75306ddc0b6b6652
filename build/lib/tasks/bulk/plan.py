"""What a start of a bulk run will do: items to do, already done, failed before; shards; time and disk.

Estimates come from the items this run has finished (median seconds and bytes per item); before the first
one, disk comes from the settings (pictures and loop of the image size) and time is unknown.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from stages.errors import InputError
from tasks.bulk.journal import ITEMS
from tasks.bulk.manifest import ItemSpec

MAX_SHARDS_PER_WORKER = 8
MAX_SHARD = 1000
"""Items per shard at most: a 100 000-row run is ~100 Prefect task runs, never one per item."""


@dataclass
class Plan:
    """A start's plan: ``todo`` (in manifest order), the trusted rows of ``done`` and ``failed`` items (ids)."""

    todo: list[ItemSpec]
    done: list[str]
    failed: list[str]
    retrying: int = 0
    seconds_per_item: float | None = None
    bytes_per_item: float = 0.0
    facts: dict = field(default_factory=dict)

    def estimate_s(self, workers: int) -> float | None:
        """Seconds the items to do should take on ``workers`` workers (None before any item finished)."""
        return None if self.seconds_per_item is None else self.seconds_per_item * len(self.todo) / max(1, workers)

    def estimate_bytes(self) -> int:
        """Bytes the items to do should add to the store."""
        return int(self.bytes_per_item * len(self.todo))

    def describe(self, workers: int) -> str:
        """The plan in a few lines (what ``--dry-run`` prints)."""
        seconds = self.estimate_s(workers)
        time_text = ("unknown until items finish" if seconds is None
                     else f"~{seconds / 60:.1f} min on {workers} worker(s)")
        retried = f" ({self.retrying} of them failed before)" if self.retrying else ""
        lines = [f"items: {len(self.todo)} to do{retried}, {len(self.done)} done, {len(self.failed)} failed before "
                 "(skipped; --retry-failed retries them)",
                 f"estimated time: {time_text}",
                 f"estimated disk: {self.estimate_bytes() / 2**20:.1f} MiB"]
        return "\n".join(lines)


def make_plan(specs: list[ItemSpec], rows: dict[str, dict], retry_failed: bool, run_dir: Path,
              params: dict) -> Plan:
    """The plan for ``specs`` given the trusted journal ``rows`` (tasks.bulk.journal.reconcile)."""
    done = [spec.id for spec in specs if rows.get(spec.id, {}).get("status") == "ok"]
    failed = [spec.id for spec in specs if rows.get(spec.id, {}).get("status") == "failed"]
    skip = set(done) | (set() if retry_failed else set(failed))
    finished = [rows[item_id] for item_id in done]
    seconds = [sum(v or 0 for v in row["seconds"].values()) for row in finished if row.get("seconds")]
    sizes = [folder_bytes(run_dir / ITEMS / item_id) for item_id in done[:50]]
    return Plan(todo=[spec for spec in specs if spec.id not in skip], done=done,
                failed=[] if retry_failed else failed, retrying=len(failed) if retry_failed else 0,
                seconds_per_item=statistics.median(seconds) if seconds else None,
                bytes_per_item=statistics.median(sizes) if sizes else settings_bytes(params))


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder``."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def settings_bytes(params: dict) -> float:
    """A first guess of one item's bytes from the settings: ~14 pictures (PNG, half the raw size), Ā and the
    loop (1/20 of the raw frames per format)."""
    twins = params.get("twins") or {}
    height, width = (value if isinstance(value, int) else 256 for value in (twins.get("height"), twins.get("width")))
    video = params.get("video") or {}
    pixels = height * width * 3
    attention = (height * width / 256) ** 2 * 4
    return 14 * pixels / 2 + attention + int(video.get("frames", 120)) * pixels / 20 * len(video.get("formats") or [1])


def shards(todo: list[ItemSpec], workers: int, shard_size: int | None = None) -> list[list[ItemSpec]]:
    """``todo`` cut into shards: ``shard_size`` items each, or by default enough shards to keep ``workers``
    busy and balanced (up to 8 per worker) with at most :data:`MAX_SHARD` items in one."""
    if not todo:
        return []
    size = shard_size or min(MAX_SHARD, math.ceil(len(todo) / (workers * MAX_SHARDS_PER_WORKER)))
    size = max(1, size)
    return [todo[start:start + size] for start in range(0, len(todo), size)]


def check_free_space(folders: list[Path], need_bytes: int, keep_free_mb: float) -> None:
    """InputError unless every folder's filesystem has ``need_bytes`` plus ``keep_free_mb`` MiB free."""
    for folder in folders:
        probe = folder if folder.exists() else next(p for p in folder.parents if p.exists())
        free = shutil.disk_usage(probe).free
        if free < need_bytes + keep_free_mb * 2**20:
            raise InputError(f"not enough free space on {os.path.abspath(probe)}: {free / 2**20:.0f} MiB free, "
                             f"{need_bytes / 2**20:.0f} MiB needed and {keep_free_mb:.0f} MiB to keep free "
                             "(--keep-free-mb); free some space and start again")
