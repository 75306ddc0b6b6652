"""Every version of a reviewed item, kept: ``<review>/items/<id>/v0001/``, ``v0002/`` … (version 0 is the
item's own files, never touched), the head (the version shown and exported) with its undo history, and the
verdicts of all items.

A version is built in a hidden folder and renamed into place, and the head is replaced atomically, both under
the item's file lock: two tabs (or two servers) editing one item never write the same folder, and an edit
made on a revision that is no longer the head is refused with :class:`StaleEdit`.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from stages.errors import InputError
from tasks.review.folders import ITEM_FILES, ReviewFolder, ReviewItem

VERDICTS = ("approved", "rejected")
SETTINGS = "settings.json"
"""A version's settings: the mask's source, arrows, speed, motion source, direction, the steps run, seconds."""


class StaleEdit(InputError):
    """An edit of a revision that another tab has replaced since."""


def write_json(path: Path, record: object) -> None:
    """Write ``record`` as JSON to ``path`` atomically (a reader sees the old file or the new one)."""
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    partial.write_text(json.dumps(record, indent=2))
    os.replace(partial, path)


def read_json(path: Path, default: object) -> object:
    """The JSON of ``path``, or ``default`` when it does not exist."""
    return json.loads(path.read_text()) if path.is_file() else default


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created) — across threads and processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class ItemVersions:
    """The versions of one item and its head."""

    def __init__(self, folder: ReviewFolder, item: ReviewItem):
        self.item = item
        self.dir = folder.state_dir / "items" / item.id

    def head(self) -> dict:
        """``{"version", "revision", "history"}``: the version shown, a counter of head changes, and the
        versions undo goes back through."""
        return read_json(self.dir / "head.json", {"version": 0, "revision": 0, "history": []})

    def versions(self) -> list[int]:
        """Every version on disk, 0 first."""
        return [0] + sorted(int(path.name[1:]) for path in self.dir.glob("v[0-9][0-9][0-9][0-9]"))

    def folder(self, version: int) -> Path:
        """The folder of version ``version`` ≥ 1."""
        return self.dir / f"v{version:04d}"

    def files(self, version: int) -> dict[str, Path]:
        """The files of ``version`` (name → path; only those present): version 0's are the item's own, a later
        version's are those it wrote over the item's own (its mask, flow and loop)."""
        if version == 0:
            return dict(self.item.files)
        if version not in self.versions():
            raise KeyError(version)
        folder = self.folder(version)
        return {**self.item.files, **{name: folder / name for name in (*ITEM_FILES, SETTINGS)
                                      if (folder / name).is_file()}}

    def commit(self, base: int, build: Callable[[Path], None]) -> dict:
        """A new version built by ``build(folder)`` from the head, which must still be revision ``base`` → the
        new head. Refused (StaleEdit) when another edit moved the head since."""
        with file_lock(self.dir / ".lock"):
            head = self.check_base(base)
            number = max(self.versions()) + 1
            partial = self.dir / f".partial-{uuid.uuid4().hex}"
            partial.mkdir(parents=True)
            try:
                build(partial)
                os.rename(partial, self.folder(number))
            finally:
                shutil.rmtree(partial, ignore_errors=True)
            new = {"version": number, "revision": head["revision"] + 1,
                   "history": [*head["history"], head["version"]]}
            write_json(self.dir / "head.json", new)
            return new

    def undo(self, base: int) -> dict:
        """Show the version before the head again (the head stays on disk) → the new head."""
        with file_lock(self.dir / ".lock"):
            head = self.check_base(base)
            if not head["history"]:
                raise InputError("nothing to undo: this is the item's first version")
            new = {"version": head["history"][-1], "revision": head["revision"] + 1, "history": head["history"][:-1]}
            write_json(self.dir / "head.json", new)
            return new

    def check_base(self, base: int) -> dict:
        """The head, when it is still revision ``base``; else StaleEdit."""
        head = self.head()
        if head["revision"] != base:
            raise StaleEdit(f"this item changed in another tab (now version {head['version']}): reload it, "
                            "then make your change again")
        return head


class Verdicts:
    """Approved / rejected / seen of every item: ``<review>/verdicts.json``."""

    def __init__(self, folder: ReviewFolder):
        self.path = folder.state_dir / "verdicts.json"

    def all(self) -> dict[str, dict]:
        """item id → ``{"verdict": approved | rejected | None, "seen": bool}``."""
        return read_json(self.path, {})

    def update(self, item_id: str, **changes: object) -> dict:
        """Set ``verdict`` and/or ``seen`` of one item → its record."""
        verdict = changes.get("verdict", "")
        if "verdict" in changes and verdict is not None and verdict not in VERDICTS:
            raise InputError(f"verdict must be one of {', '.join(VERDICTS)} or null")
        with file_lock(self.path.with_name(".verdicts.lock")):
            records = self.all()
            record = {**records.get(item_id, {"verdict": None, "seen": False}), **changes}
            records[item_id] = record
            write_json(self.path, records)
            return record
