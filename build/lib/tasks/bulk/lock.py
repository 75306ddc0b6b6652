"""One run per output folder: ``RUN/bulk.lock``, held with ``flock`` for the run's life and naming its holder.

The kernel releases a ``flock`` when its holder dies however it dies (SIGKILL included), so a lock file whose
lock is free belongs to a dead run and is taken over; a held one refuses the second run, naming the first
(pid, host, start time, command). On a filesystem shared between hosts, ``flock`` works as that filesystem
implements it (NFSv4 and Lustre do; check yours before running one folder from two machines).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path

from stages.errors import InputError

LOCK = "bulk.lock"


class RunLock:
    """The lock of run folder ``run_dir``: :meth:`acquire` (or ``with``) takes it, :meth:`release` frees it.

    ``previous``: the holder recorded in a lock file taken over from a dead run (None when there was none).
    """

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK
        self.previous: dict | None = None
        self._handle = None

    def acquire(self) -> "RunLock":
        """Take the lock, or raise InputError naming the live run that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_holder(self.path)
            handle.close()
            raise InputError(f"{self.path.parent} is in use by another bulk run ({describe(holder)}); wait for "
                             "it to end, or stop it, then start again") from None
        self.previous = read_holder(self.path)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
                                 "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        """Free the lock (the file stays, empty: a later run sees no previous holder)."""
        if self._handle is not None:
            self._handle.seek(0)
            self._handle.truncate()
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def read_holder(path: Path) -> dict | None:
    """The holder recorded in a lock file (pid, host, started, command), or None when it names none."""
    try:
        holder = json.loads(path.read_text() or "null")
    except (OSError, json.JSONDecodeError):
        return None
    return holder if isinstance(holder, dict) else None


def describe(holder: dict | None) -> str:
    """A holder in words: "pid 123 on host h since 2024-…: cinemagraph bulk …"."""
    if not holder:
        return "holder unknown"
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started')}: {holder.get('command')}"
