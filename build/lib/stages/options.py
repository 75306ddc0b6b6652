"""Option dataclasses from params.yaml sections. Unknown keys are refused with their names, so a misspelt
setting never passes silently, and every value is checked by the rule in its field (stages.values.ruled)."""

from __future__ import annotations

import dataclasses
from typing import Any

from stages.errors import InputError
from stages.values import check_section


def check_keys(section: dict | None, name: str, *kinds: type, extra: tuple[str, ...] = ()) -> None:
    """Raise InputError naming the keys of ``section`` that no dataclass of ``kinds`` (nor ``extra``) has."""
    known = set(extra).union(*({field.name for field in dataclasses.fields(kind)} for kind in kinds))
    unknown = sorted(set(section or {}) - known)
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(unknown)} in params section {name!r}; known: "
                         f"{', '.join(sorted(known))}")


def pick(kind: type, section: dict | None, name: str = "options") -> Any:
    """An instance of the dataclass ``kind`` from the keys of ``section`` (params section ``name``) it has, each
    checked by its field's rule (lists become tuples); the other keys belong to other option groups of the
    same section."""
    fields = {field.name: field for field in dataclasses.fields(kind)}
    rules = {key: field.metadata["rule"] for key, field in fields.items() if "rule" in field.metadata}
    section = check_section({key: value for key, value in (section or {}).items() if key in fields}, name, rules)
    return kind(**{key: tuple(value) if isinstance(value, list) else value for key, value in section.items()})


def options_from(kind: type, section: dict | None, name: str, batch_keys: tuple[str, ...] = ()) -> Any:
    """The dataclass ``kind`` from the params section ``name``, every key checked.

    ``batch_keys`` are keys of the section that configure the batch (input file, base seed), not the stage.
    """
    section = {key: value for key, value in (section or {}).items() if key not in batch_keys}
    check_keys(section, name, kind)
    return pick(kind, section, name)
