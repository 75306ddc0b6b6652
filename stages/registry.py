"""Component registries: components chosen by name, registered where they are defined (timm's ``create_model``)."""

from __future__ import annotations

from typing import Callable

from stages.errors import InputError


def registry(components: dict[str, Callable], name: str) -> Callable[[Callable], Callable]:
    """Decorator: add a component builder to ``components`` under ``name``."""
    def add(builder: Callable) -> Callable:
        components[name] = builder
        return builder
    return add


def check_name(components: dict[str, Callable], kind: str, name: str) -> None:
    """InputError listing the names of the registry ``components`` unless it holds ``name`` (``kind`` says what
    they are)."""
    if name not in components:
        raise InputError(f"unknown {kind} {name!r}; {kind}s: {', '.join(components)}")


def create(components: dict[str, Callable], kind: str, name: str, *args) -> object:
    """The component ``name`` of the registry ``components`` built from ``args``; InputError listing the names
    for an unknown one (``kind`` says what it is)."""
    check_name(components, kind, name)
    return components[name](*args)
