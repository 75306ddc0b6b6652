"""A content-addressed store of per-item results, and the digests that key it.

An entry is a folder ``<root>/<key[:2]>/<key>/`` holding the item's files and ``record.json``. Entries are
built in a temporary folder and renamed into place, so a crash never leaves half an entry, and they live
outside DVC's outputs, so DVC deleting a stage's outputs never forces recomputation.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

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
        """Run ``build(folder)`` (it writes files and returns a JSON-able record) and commit atomically."""
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.root / "tmp", prefix=f"{key[:12]}."))
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

    def materialise(self, key: str, destination: Path) -> list[Path]:
        """Hard-link (or copy) entry ``key``'s files into ``destination``; returns the paths written."""
        source = self.path(key)
        written = []
        for name in self.get(key)["files"]:
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            try:
                os.link(source / name, target)
            except OSError:
                shutil.copy2(source / name, target)
            written.append(target)
        return written
