"""Where model weights live on this machine: nothing is downloaded, everything is read from one folder."""

from __future__ import annotations

import os
from pathlib import Path


def models_dir() -> Path:
    """The local model folder: ``$CINEMAGRAPH_MODELS``, else ``~/.cache/cinemagraph/models``."""
    return Path(os.environ.get("CINEMAGRAPH_MODELS", Path.home() / ".cache" / "cinemagraph" / "models"))
