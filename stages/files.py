"""File digests, and the permissions of files written atomically: ``tempfile`` makes them private (0600 /
0700), but results are meant to be read by others (a web server serving an MTurk batch, the nodes of a Ray
cluster sharing a store)."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

_UMASK = os.umask(0o022)  # the umask can only be read by setting it: read it once, at import, and put it back
os.umask(_UMASK)


def make_public(path: str | Path) -> None:
    """Give ``path`` the mode a plain ``open()`` or ``mkdir()`` would have given it: 0666 for a file, 0777
    for a folder, less the process's umask."""
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~_UMASK)


def file_digest(path: str | Path) -> str:
    """sha256 hex digest of a file's bytes (memoised on path, size and modification time)."""
    stat = os.stat(path)
    return _file_digest(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4096)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
