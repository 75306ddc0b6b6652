"""Reading params.yaml."""

from __future__ import annotations

from pathlib import Path

import yaml

from stages.errors import InputError


def load_params(path: str | Path = "params.yaml") -> dict:
    """The parsed params file; a clear error when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} not found: run from the project folder or pass --params")
    return yaml.safe_load(path.read_text())
