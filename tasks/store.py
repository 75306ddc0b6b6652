"""A content-addressed store of per-item results, and the digests that key it.

An entry is a folder ``<root>/<key[:2]>/<key>/`` holding the item's files and ``record.json``. Entries are
built in a temporary folder and renamed into place, so a crash never leaves half an entry, and they live
outside DVC's outputs, so DVC deleting a stage's outputs never forces recomputation.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from stages.errors import disk_full
from stages.files import make_public

RECORD = "record.json"


def json_digest(value: Any) -> str:
    """sha256 hex digest of a JSON-serialisable value in canonical form (sorted keys)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


class Store:
    """Content-addressed folder of entries; ``root`` is created on first use."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """Folder of the entry ``key`` (it may not exist)."""
        return self.root / key[:2] / key

    def get(self, key: str) -> dict | None:
        """The record of entry ``key``, or None when it is absent."""
        record = self.path(key) / RECORD
        return json.loads(record.read_text()) if record.is_file() else None

    def put(self, key: str, build: Callable[[Path], dict]) -> dict:
        """Run ``build(folder)`` (it writes files and returns a JSON-able record) and commit atomically.

        The staging folder is locked (``flock`` on ``<folder>.lock``) while it is written, so that
        :meth:`clean_staging` can tell a live writer's folder from a dead one's.
        """
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        descriptor, lock_name = tempfile.mkstemp(dir=self.root / "tmp", prefix=f"{key[:12]}.", suffix=".lock")
        lock = os.fdopen(descriptor, "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        staging = Path(lock_name).with_suffix("")
        staging.mkdir()
        make_public(staging)
        try:
            record = build(staging)
            record["files"] = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
            (staging / RECORD).write_text(json.dumps(record, indent=1, default=str))
            final = self.path(key)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(staging, final)
            except OSError:  # another worker committed the same key first: keep theirs
                pass
            return self.get(key)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            Path(lock_name).unlink(missing_ok=True)
            lock.close()

    def clean_staging(self, min_age_s: float = 60.0) -> list[Path]:
        """Remove the staging folders of writers that died (killed mid-item) → the folders removed.

        A folder whose lock a live writer holds is left alone, and so is anything younger than
        ``min_age_s`` seconds (a writer between creating its lock and taking it). Locks are per host: on a
        shared filesystem, writers on other nodes are not seen.
        """
        removed, now = [], time.time()
        young = lambda path: now - path.stat().st_mtime < min_age_s
        for lock_path in sorted((self.root / "tmp").glob("*.lock")):
            if young(lock_path):
                continue
            with lock_path.open("a") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live writer
                staging = lock_path.with_suffix("")
                shutil.rmtree(staging, ignore_errors=True)
                lock_path.unlink(missing_ok=True)
                removed.append(staging)
        for staging in (self.root / "tmp").glob("*"):  # a folder whose writer died before locking
            if staging.is_dir() and not staging.with_name(staging.name + ".lock").exists() and not young(staging):
                shutil.rmtree(staging, ignore_errors=True)
                removed.append(staging)
        return removed

    def materialise(self, key: str, destination: Path) -> list[Path]:
        """Hard-link (or copy) entry ``key``'s files into ``destination``; returns the paths written. A full
        disk is raised, never answered with a copy."""
        source = self.path(key)
        written = []
        for name in self.get(key)["files"]:
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            try:
                os.link(source / name, target)
            except OSError as error:  # another filesystem, or one without hard links: a copy
                if disk_full(error):
                    raise
                shutil.copy2(source / name, target)
            written.append(target)
        return written
