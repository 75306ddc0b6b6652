"""What code a result depends on: a module's project imports, followed transitively, read from the source.

A cache key (an item's, a training run's) and a DVC stage's ``deps`` both come from :func:`code_closure`, so
they cannot drift apart. The closure is found by reading source files, not by importing them, and counts:

- ``import a.b`` and ``from a.b import c`` anywhere in a module — inside functions too (lazy imports);
- ``from a import b`` where ``a.b`` is a module;
- a string literal that names a project module (``"flows.cli.animate"``): registries that import modules
  by name (``importlib.import_module``) list them this way;
- the packages above every module counted (their ``__init__`` runs first).

A package that finds its modules at run time (``pkgutil``) must list them by name to be counted.

A key also holds the versions of what shapes the closure's results besides its source
(:func:`result_libraries`): the distributions its modules import and the binaries and data behind some of them,
so an upgrade recomputes the results it can change and no others.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import re
import threading
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

PROJECT_PACKAGES = ("stages", "tasks", "flows")
ROOT = Path(__file__).resolve().parents[1]

MOVERS = frozenset({"prefect", "ray", "tqdm", "psutil", "huggingface-hub", "pyyaml"})
"""Distributions that run, report or fetch results but never change their bytes: left out of every key."""

IMPLIED = {"imageio_ffmpeg": "ffmpeg", "ffmpeg": "ffmpeg", "PIL": "pillow-zlib", "zipfile": "zlib",
           "pandas": "pyarrow", "nltk": "textblob-aptagger"}
"""Result-shaping dependencies that are not imports, by the import that uses them: the ffmpeg binary behind the
video writers, the zlib inside Pillow's PNG encoder, CPython's zlib behind deflated ``.npz`` archives, pyarrow
behind pandas' Parquet bytes, and the wheel NLTK's tagger data is built from (``stages.text.nltk_setup``)."""


def _ffmpeg_version() -> str:
    """Version of the ffmpeg binary imageio-ffmpeg runs."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_version()


def _pillow_zlib_version() -> str:
    """Version of the zlib Pillow's PNG encoder is built with."""
    from PIL import features

    return features.version("zlib")


def _zlib_version() -> str:
    """Version of the zlib CPython's ``zipfile`` deflates with."""
    import zlib

    return zlib.ZLIB_RUNTIME_VERSION


BINARIES = {"ffmpeg": _ffmpeg_version, "pillow-zlib": _pillow_zlib_version, "zlib": _zlib_version}
"""The :data:`IMPLIED` dependencies that are not distributions → how to read their version."""

PINNING = ("stages.cpu_paths",)
"""Modules every key holds besides a closure: the CPU kernel pinning the pipeline's command runs under."""

_PARSING = threading.Lock()


def module_path(name: str, root: Path = ROOT) -> Path | None:
    """The source file of project module ``name`` under ``root`` (a package's ``__init__.py``), or None."""
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    base = root.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _stamp(path: Path) -> tuple[int, int]:
    """(modification time, size) of ``path``: what invalidates the memo of its imports."""
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


@lru_cache(maxsize=4096)
def _parsed_imports(path: str, package: str, is_package: bool,
                    stamp: tuple[int, int]) -> tuple[frozenset[str], frozenset[str]]:
    """(names of everything the module at ``path`` may import, top-level names of its absolute imports);
    ``stamp`` invalidates the memo on edits."""
    with _PARSING:  # CPython's parser is not safe to run from several threads at once
        tree = ast.parse(Path(path).read_text(), filename=path)
    names: set[str] = set()
    absolute: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            absolute.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if is_package else package.split(".")[:-1]
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            else:
                absolute.add(base.split(".")[0])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value:
            names.add(node.value)
    return frozenset(names), frozenset(absolute)


def _imports(name: str, root: Path) -> tuple[frozenset[str], frozenset[str]]:
    """:func:`_parsed_imports` of project module ``name`` (which must exist under ``root``)."""
    path = module_path(name, root)
    return _parsed_imports(str(path), name, path.name == "__init__.py", _stamp(path))


def direct_imports(name: str, root: Path = ROOT) -> set[str]:
    """Project modules that module ``name`` imports directly (and the packages above them)."""
    if module_path(name, root) is None:
        return set()
    found = set()
    for candidate in _imports(name, root)[0]:
        parts = candidate.split(".")
        for end in range(1, len(parts) + 1):
            prefix = ".".join(parts[:end])
            if module_path(prefix, root) is not None:
                found.add(prefix)
    found.discard(name)
    return found


def code_closure(name: str, root: Path = ROOT) -> tuple[str, ...]:
    """Module ``name`` and every project module it imports, transitively, sorted."""
    seen, todo = set(), [name]
    for package_end in range(1, len(name.split("."))):
        todo.append(".".join(name.split(".")[:package_end]))
    while todo:
        current = todo.pop()
        if current in seen or module_path(current, root) is None:
            continue
        seen.add(current)
        todo.extend(direct_imports(current, root) - seen)
    return tuple(sorted(seen))


@lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    """Top-level import name → the installed distributions that provide it."""
    return importlib.metadata.packages_distributions()


def result_libraries(names: tuple[str, ...] | str, root: Path = ROOT) -> tuple[str, ...]:
    """What shapes the results of the closure of module(s) ``names`` besides its source, sorted: the installed
    distributions its modules import (but :data:`MOVERS`), and the :data:`IMPLIED` dependencies of those
    imports. This module's own imports (the key machinery) do not count."""
    names = (names,) if isinstance(names, str) else names
    modules = set().union(*(code_closure(name, root) for name in names)) - {__name__}
    imported = set().union(*(_imports(module, root)[1] for module in modules)) - set(PROJECT_PACKAGES)
    found = {IMPLIED[name] for name in imported if name in IMPLIED}
    for name in imported:
        found.update(re.sub(r"[-_.]+", "-", distribution).lower() for distribution in _distributions().get(name, ()))
    return tuple(sorted(found - MOVERS))


@lru_cache(maxsize=None)
def installed_version(library: str) -> str:
    """Installed version of a distribution or of one of the :data:`BINARIES`, or ``absent``."""
    if library in BINARIES:
        return BINARIES[library]()
    try:
        return importlib.metadata.version(library)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def code_digest(names: tuple[str, ...] | str, root: Path = ROOT, libraries: bool = True,
                versions: Mapping[str, str] | None = None) -> str:
    """sha256 hex digest of the source of the closure of module(s) ``names`` (and of :data:`PINNING`) and
    (``libraries``) of the versions of its :func:`result_libraries`; ``versions`` replaces installed versions
    (as an upgrade would)."""
    names = (names,) if isinstance(names, str) else names
    modules = sorted(set().union(*(code_closure(name, root) for name in (*names, *PINNING))))
    digest = hashlib.sha256()
    for module in modules:
        digest.update(module.encode() + b"\0" + module_path(module, root).read_bytes() + b"\0")
    if libraries:
        versions = versions or {}
        used = {library: versions.get(library) or installed_version(library)
                for library in result_libraries(names, root)}
        digest.update(repr(sorted(used.items())).encode())
    return digest.hexdigest()


def closure_files(names: tuple[str, ...] | str, root: Path = ROOT) -> list[str]:
    """Project-relative source files of the closure of module(s) ``names`` (DVC ``deps``), sorted."""
    names = (names,) if isinstance(names, str) else names
    modules = set().union(*(code_closure(name, root) for name in names))
    return sorted(str(module_path(module, root).relative_to(root)) for module in modules)
