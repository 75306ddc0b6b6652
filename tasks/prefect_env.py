"""Defaults for Prefect's settings, applied before Prefect is first imported (import this module first).

Each can be overridden from the environment. Without PREFECT_API_URL, Prefect starts a temporary local
server per process; its state lives in the project's ``.cache/prefect``.
"""

import os
from pathlib import Path

for _name, _value in {
    "PREFECT_HOME": str(Path(".cache/prefect").resolve()),
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}.items():
    os.environ.setdefault(_name, _value)
Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
