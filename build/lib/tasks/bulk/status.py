"""``cinemagraph bulk status RUN/``: a run's progress from its files alone (journal, starts, lock)."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

from stages.errors import InputError
from tasks.bulk.journal import Journal
from tasks.bulk.lock import LOCK, describe, read_holder
from tasks.bulk.runner import STARTS


def lock_holder(run_dir: Path) -> dict | None:
    """The live run holding ``run_dir``'s lock (its recorded holder), or None when no run holds it."""
    path = run_dir / LOCK
    if not path.is_file():
        return None
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return read_holder(path) or {}
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def run_status(run_dir: str | Path) -> str:
    """A few lines: items done, failed and remaining (of the last start's manifest), whether a run is live,
    what the last start found; InputError when ``run_dir`` holds no bulk run."""
    run_dir = Path(run_dir)
    starts_path = run_dir / STARTS
    if not starts_path.is_file():
        raise InputError(f"{run_dir} holds no bulk run (no {STARTS}); start one with cinemagraph bulk MANIFEST -o RUN/")
    starts = [json.loads(line) for line in starts_path.read_text().splitlines() if line.strip()]
    rows, torn = Journal(run_dir).read()
    done = sum(row["status"] == "ok" for row in rows.values())
    failed = sum(row["status"] == "failed" for row in rows.values())
    total = starts[-1]["items"]
    holder = lock_holder(run_dir)
    lines = [f"{run_dir}: {done} done, {failed} failed, {max(0, total - done - failed)} remaining of {total}",
             f"running: {describe(holder)}" if holder is not None else "not running",
             f"starts: {len(starts)}; last at {starts[-1]['time']} with {starts[-1]['todo']} to do"]
    if torn:
        lines.append(f"{torn} unfinished journal line(s): the next start drops them")
    failures = [row for row in rows.values() if row["status"] == "failed"][:10]
    lines += [f"failed: {row['id']} in {row['stage']}: {row['error']}" for row in failures]
    return "\n".join(lines)
