"""Reading params.yaml."""

from __future__ import annotations

from pathlib import Path

import yaml

from stages.errors import InputError
from stages.values import PARAMS, check_section, shorten


def load_params(path: str | Path = "params.yaml") -> dict:
    """The parsed params file, every value with a rule checked (stages.values: finite, in range, devices
    present); a clear one-line error when it is missing, unreadable or holds a bad value. Unknown keys are
    refused by the stage reading its section."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} not found: run from the project folder or pass --params")
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise InputError(f"{path} is not a readable YAML file ({shorten(' '.join(str(error).split()))})") from None
    if not isinstance(params, dict) or not all(isinstance(section, (dict, type(None))) for section in params.values()):
        raise InputError(f"{path} must hold sections of settings (name: {{key: value}}), as params.yaml does")
    return {name: check_section(section, name, PARAMS[name]) if name in PARAMS else section
            for name, section in params.items()}


def read_params(path: Path | None) -> dict:
    """The parameters a one-item command uses: ``path``, else params.yaml here when present, else none (every
    section its code defaults, which are the offline default)."""
    if path is None and not Path("params.yaml").is_file():
        return {}
    return load_params(path or "params.yaml") or {}
