"""What code a result depends on: a module's project imports, followed transitively, read from the source.

A cache key (an item's, a training run's) and a DVC stage's ``deps`` both come from :func:`code_closure`, so
they cannot drift apart. The closure is found by reading source files, not by importing them, and counts:

- ``import a.b`` and ``from a.b import c`` anywhere in a module — inside functions too (lazy imports);
- ``from a import b`` where ``a.b`` is a module;
- a string literal that names a project module (``"flows.cli.animate"``): registries that import modules
  by name (``importlib.import_module``) list them this way;
- the packages above every module counted (their ``__init__`` runs first).

A package that finds its modules at run time (``pkgutil``) must list them by name to be counted.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import threading
from functools import lru_cache
from pathlib import Path

PROJECT_PACKAGES = ("stages", "tasks", "flows")
ROOT = Path(__file__).resolve().parents[1]

RESULT_LIBRARIES = ("torch", "numpy", "opencv-python-headless", "diffusers", "transformers", "scikit-learn",
                    "scipy", "numba", "imageio-ffmpeg")
"""Libraries whose versions shape results: every cache key holds their versions (and the ffmpeg binary's).

Left out: Prefect, DVC, Ray, pandas and pyarrow move results but never change them.
"""


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
def _direct_imports(path: str, package: str, is_package: bool, stamp: tuple[int, int]) -> frozenset[str]:
    """Names of everything the module at ``path`` may import (``stamp`` invalidates the memo on edits)."""
    with _PARSING:  # CPython's parser is not safe to run from several threads at once
        tree = ast.parse(Path(path).read_text(), filename=path)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if is_package else package.split(".")[:-1]
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value:
            names.add(node.value)
    return frozenset(names)


def direct_imports(name: str, root: Path = ROOT) -> set[str]:
    """Project modules that module ``name`` imports directly (and the packages above them)."""
    path = module_path(name, root)
    if path is None:
        return set()
    found = set()
    for candidate in _direct_imports(str(path), name, path.name == "__init__.py", _stamp(path)):
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
def library_versions() -> dict[str, str]:
    """Versions of :data:`RESULT_LIBRARIES` that are installed, and of the ffmpeg binary."""
    versions = {}
    for library in RESULT_LIBRARIES:
        try:
            versions[library] = importlib.metadata.version(library)
        except importlib.metadata.PackageNotFoundError:
            versions[library] = "absent"
    import imageio_ffmpeg

    versions["ffmpeg"] = imageio_ffmpeg.get_ffmpeg_version()
    return versions


def code_digest(names: tuple[str, ...] | str, root: Path = ROOT, libraries: bool = True) -> str:
    """sha256 hex digest of the source of the closure of module(s) ``names`` (+ library versions)."""
    names = (names,) if isinstance(names, str) else names
    modules = sorted(set().union(*(code_closure(name, root) for name in names)))
    digest = hashlib.sha256()
    for module in modules:
        digest.update(module.encode() + b"\0" + module_path(module, root).read_bytes() + b"\0")
    if libraries:
        digest.update(repr(sorted(library_versions().items())).encode())
    return digest.hexdigest()


def closure_files(names: tuple[str, ...] | str, root: Path = ROOT) -> list[str]:
    """Project-relative source files of the closure of module(s) ``names`` (DVC ``deps``), sorted."""
    names = (names,) if isinstance(names, str) else names
    modules = set().union(*(code_closure(name, root) for name in names))
    return sorted(str(module_path(module, root).relative_to(root)) for module in modules)
