"""Defaults for Prefect's settings, applied before Prefect is first imported (import this module first).

Each can be overridden from the environment. Without PREFECT_API_URL, Prefect starts a temporary local
server per process; its state lives in the project's ``.cache/prefect``.
"""

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

for _name, _value in {
    "PREFECT_HOME": str(Path(".cache/prefect").resolve()),
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}.items():
    os.environ.setdefault(_name, _value)
Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)


@contextmanager
def without_heartbeats() -> Iterator[None]:
    """Flow runs in this block send no heartbeats. A heartbeat thread sleeps in one-second steps and every
    flow run waits for it at its end: up to a second per stage for nothing, since a stage run from the
    command line is watched by its own process (its exit status, and the watchdog when it is killed)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
