"""A bulk run's record of finished items: ``RUN/journal.jsonl``, reconciled at every start, and results.parquet.

Exactly once: an item's steps are committed into the store atomically (tasks.store), then its files are
linked into ``RUN/items/<id>/`` through a staging folder renamed into place, and only then is its row
appended to the journal (flushed and synced). A start trusts a row only when its spec digest is the
manifest's, its store entry is there and its folder is; anything else is done again, finding its steps in
the store. A line cut short by a kill is dropped, and the journal rewritten without it before any append.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pandas as pd

from tasks.bulk.manifest import ItemSpec
from tasks.store import Store

JOURNAL, ITEMS, RESULTS = "journal.jsonl", "items", "results.parquet"
PARTIAL = ".partial-"
"""Prefix of an item folder being linked (``RUN/items/.partial-<id>``): never a result."""


class Journal:
    """``RUN/journal.jsonl``: one JSON row per finished item; appends are serialised between threads."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / JOURNAL
        self._lock = threading.Lock()

    def read(self) -> tuple[dict[str, dict], int]:
        """(id → its last row, number of unreadable lines: a line cut short by a kill)."""
        rows, torn = {}, 0
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    row = json.loads(line)
                    rows[row["id"]] = row
                except (json.JSONDecodeError, KeyError, TypeError):
                    torn += 1
        return rows, torn

    def rewrite(self, rows: list[dict]) -> None:
        """Replace the journal with ``rows`` atomically."""
        partial = self.path.with_name(f".{self.path.name}.partial")
        partial.write_text("".join(json.dumps(row) + "\n" for row in rows))
        partial.replace(self.path)

    def append(self, row: dict) -> None:
        """Append one row durably (flushed and synced before returning)."""
        line = json.dumps(row) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())


def link_item(run_dir: Path, item_id: str, keys: dict[str, str], store: Store) -> list[str]:
    """Link the files of every step of an item (store entries ``keys``) into ``RUN/items/<id>/`` through a
    staging folder renamed into place → the files, relative to ``run_dir``. The staging folder is removed when
    linking fails (a full disk): what it holds is never a result."""
    items = run_dir / ITEMS
    staging, final = items / f"{PARTIAL}{item_id}", items / item_id
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for key in keys.values():
            store.materialise(key, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return sorted(str(path.relative_to(run_dir)) for path in final.rglob("*") if path.is_file())


def reconcile(run_dir: Path, specs: list[ItemSpec], store: Store) -> tuple[dict[str, dict], dict]:
    """Check the journal against the manifest, the store and the item folders → (id → trusted row, facts).

    Removes staging folders left by a kill and rewrites the journal with its trusted rows only (rows of ids
    the manifest no longer has are kept). Facts: journal rows read, torn lines, rows trusted (ok, failed),
    rows dropped because the item changed or its files are gone, staging folders removed.
    """
    journal = Journal(run_dir)
    rows, torn = journal.read()
    partial = sorted((run_dir / ITEMS).glob(f"{PARTIAL}*")) if (run_dir / ITEMS).is_dir() else []
    for folder in partial:
        shutil.rmtree(folder, ignore_errors=True)
    digests = {spec.id: spec.digest() for spec in specs}
    trusted, changed, missing = {}, 0, 0
    for item_id, row in rows.items():
        if item_id not in digests:
            trusted[item_id] = row
        elif row.get("spec") != digests[item_id]:
            changed += 1
        elif row["status"] == "ok" and (store.get(row["key"]) is None or not (run_dir / ITEMS / item_id).is_dir()):
            missing += 1
        else:
            trusted[item_id] = row
    if torn or changed or missing or len(trusted) != len(rows):
        journal.rewrite(list(trusted.values()))
    current = {item_id: row for item_id, row in trusted.items() if item_id in digests}
    facts = {"journal_rows": len(rows), "torn_lines": torn, "changed_items": changed, "missing_outputs": missing,
             "done": sum(row["status"] == "ok" for row in current.values()),
             "failed_before": sum(row["status"] == "failed" for row in current.values()),
             "partial_folders_removed": len(partial)}
    return current, facts


def write_results(run_dir: Path, specs: list[ItemSpec]) -> pd.DataFrame:
    """``RUN/results.parquet`` (written atomically): one row per manifest item that finished, in manifest
    order — id, prompt, seed, status, stage and error of a failure, key (the loop's store entry), files,
    seconds (compute seconds of all steps) and seconds per step."""
    rows, _ = Journal(run_dir).read()
    table = pd.DataFrame([{"id": spec.id, "prompt": spec.prompt, "seed": spec.seed, **flat_row(rows[spec.id])}
                          for spec in specs if spec.id in rows])
    partial = run_dir / f".{RESULTS}.partial"
    table.to_parquet(partial, index=False)
    partial.replace(run_dir / RESULTS)
    return table


def flat_row(row: dict) -> dict:
    """A journal row as a results row: lists and dicts as JSON text, seconds per step as columns."""
    flat = {key: json.dumps(value) if isinstance(value, (list, dict)) else value for key, value in row.items()
            if key != "seconds"}
    seconds = row.get("seconds") or {}
    flat["seconds"] = round(sum(value or 0 for value in seconds.values()), 3) if seconds else None
    flat.update({f"seconds_{stage}": value for stage, value in seconds.items()})
    return {"id": row["id"], **flat}
