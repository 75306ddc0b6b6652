"""The stages ``cinemagraph pipeline STAGE`` runs (what dvc.yaml calls), found where they are declared.

Each flow module of this package declares its stages once, in a ``STAGES`` table (stage name → Prefect flow
taking the parsed params), written as a dict literal with the stage names as strings: the table is read from
the source, so running one stage imports that stage's module only. The stage's DVC code deps are that
module's source and everything it imports (:func:`stage_code_files`), so adding a stage means one flow module
(or one entry in one) plus its ``dvc.yaml`` and ``params.yaml`` entries.
"""

from __future__ import annotations

import ast
import importlib
import re
import pkgutil
from typing import Callable

import flows
from tasks.code import closure_files, code_closure, module_path

RUNNER_FILES = ("flows/cli/__init__.py", "flows/cli/pipeline.py", "flows/params.py", "flows/pipeline.py",
                "stages/cpu_paths.py")
"""What runs every stage — the command, the CPU kernels it pins, the params reader and this registry: code deps
of every stage, without their imports (the command line's registry names every command)."""


def declared_stages(module: str) -> list[str]:
    """The stage names of the ``STAGES`` table in flow module ``module``'s source (none without one)."""
    tree = ast.parse(module_path(module).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "STAGES" for t in node.targets):
            return [key.value for key in node.value.keys]
    return []


def stage_modules() -> dict[str, str]:
    """Stage name → the flow module declaring it (read from the sources; nothing is imported)."""
    declared = {}
    for info in pkgutil.iter_modules(flows.__path__, "flows."):
        if not info.ispkg and info.name != __name__:
            declared.update(dict.fromkeys(declared_stages(info.name), info.name))
    return declared


def stage_flow(stage: str) -> Callable | None:
    """The Prefect flow of ``stage`` (called with the parsed params, returns the manifest), importing only its
    module and reading the code its items' keys digest (memoised by tasks.code: ``cinemagraph pipeline``
    does both while its Prefect server comes up); None for an unknown stage."""
    module = stage_modules().get(stage)
    if module is None:
        return None
    code_closure(module)
    return importlib.import_module(module).STAGES[stage]


def stage_flows() -> dict[str, Callable]:
    """Stage name → its Prefect flow, for every stage (imports every flow module)."""
    return {name: stage_flow(name) for name in stage_modules()}


def stage_code_files(stage: str) -> list[str]:
    """Project-relative source files whose change must re-run ``stage`` (its DVC code deps), sorted."""
    return sorted({*closure_files(stage_modules()[stage]), *RUNNER_FILES})


CODE_FOLDERS = ("stages/", "tasks/", "flows/")


def with_generated_deps(dvc_yaml: str) -> str:
    """The text of a dvc.yaml with every stage's code deps replaced by :func:`stage_code_files` (data deps,
    comments and everything else kept)."""
    declared = stage_modules()
    lines, out, stage, in_deps = dvc_yaml.splitlines(), [], None, False
    for line in lines:
        header = re.fullmatch(r"  ([A-Za-z0-9_]+):.*", line)
        if header:
            stage, in_deps = header.group(1), False
        if re.fullmatch(r"    deps:\s*", line):
            in_deps = True
            out.append(line)
            continue
        item = re.fullmatch(r"      - (\S+)\s*", line)
        if in_deps and item:
            if not item.group(1).startswith(CODE_FOLDERS):
                out.append(line)
            continue
        if in_deps:  # the deps list ended: append the generated code deps
            out.extend(f"      - {path}" for path in (stage_code_files(stage) if stage in declared else []))
            in_deps = False
        out.append(line)
    if in_deps:
        out.extend(f"      - {path}" for path in stage_code_files(stage))
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # python -m flows.pipeline: regenerate dvc.yaml's code deps after adding a module
    from pathlib import Path

    Path("dvc.yaml").write_text(with_generated_deps(Path("dvc.yaml").read_text()))
