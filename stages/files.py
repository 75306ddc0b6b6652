"""Permissions of files written atomically: ``tempfile`` makes them private (0600 / 0700), but results are
meant to be read by others (a web server serving an MTurk batch, the nodes of a Ray cluster sharing a store)."""

from __future__ import annotations

import os
from pathlib import Path

_UMASK = os.umask(0o022)  # the umask can only be read by setting it: read it once, at import, and put it back
os.umask(_UMASK)


def make_public(path: str | Path) -> None:
    """Give ``path`` the mode a plain ``open()`` or ``mkdir()`` would have given it: 0666 for a file, 0777
    for a folder, less the process's umask."""
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~_UMASK)
