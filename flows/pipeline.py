"""Running a declared stage (what ``cinemagraph pipeline STAGE`` and dvc.yaml call), and its code deps.

A stage declared with an ItemStep runs through :func:`item_stage`: one item per prompt (the declaration's
inputs with ``{id}`` filled in, its values, the files of the models it loads), the items into the store and
the stage's output folder, then the declaration's ``after`` (galleries, metrics). A stage declared with a
flow runs that flow with the declaration's paths. Either way only the stage's own modules are imported.
"""

from __future__ import annotations

import tasks.prefect_env  # noqa: F401  (Prefect settings before Prefect is imported)

from pathlib import Path

import pandas as pd
from prefect import flow

from tasks.dag import Stage, declared, load
from tasks.batch import Item
from tasks.code import closure_files, code_closure
from tasks.gallery import RUNNER
from tasks.prefect_task import run_stage
from tasks.prompt_list import prompt_items

RUNNER_FILES = ("flows/cli/__init__.py", "flows/cli/pipeline.py", "flows/params.py", "flows/pipeline.py",
                "stages/cpu_paths.py")
"""What runs every stage — the command, the CPU kernels it pins, the params reader and this runner — without
their imports: code deps of every stage."""

DECLARATIONS = "tasks/dag.py"
"""Not a code dep: a stage's declaration is its dvc.yaml entry, so adding a stage re-runs no other."""


def stage_items(stage: Stage, params: dict, root: str | Path = ".") -> list[Item]:
    """The items of ItemStep stage ``stage``: one per prompt, its declared inputs under ``root`` with ``{id}``
    filled in, the files of the models its step loads, and its declared values."""
    models = load(stage.models)(stage.step_params(params)) if stage.models else {}
    return [Item(item.id, {**{name: Path(root, pattern.format(id=item.id)) for name, pattern in stage.inputs.items()},
                           **models}, {name: item.values[name] for name in stage.values})
            for item in prompt_items(params)]


def output_folder(stage: Stage, root: str | Path = ".") -> Path:
    """The folder ``stage`` writes its items into (its first output) under ``root``."""
    return Path(root, next(iter(stage.outs.values())))


@flow(task_runner=RUNNER)
def item_stage(params: dict, stage: str, root: str = ".") -> pd.DataFrame:
    """Run the ItemStep stage ``stage`` over the prompt list → its manifest; paths are under ``root``."""
    declaration = declared(stage)
    manifest = run_stage(load(declaration.run), stage_items(declaration, params, root),
                         declaration.step_params(params), output_folder(declaration, root), params["run"])
    if declaration.after:
        load(declaration.after)(manifest, params, declaration, Path(root))
    return manifest


def run_declared(stage: Stage, params: dict, root: str | Path = ".") -> pd.DataFrame:
    """Run ``stage`` with its declared paths under ``root`` → its manifest (one row per item)."""
    if stage.items is not None:
        return item_stage.with_options(name=stage.name)(params, stage.name, str(root))
    paths = {**stage.deps, **stage.outs, **stage.metrics, **{name: plot.path for name, plot in stage.plots.items()}}
    return load(stage.run)(params, **{name: str(Path(root, path)) for name, path in paths.items()}, **stage.arguments)


def stage_modules(stage: Stage) -> tuple[str, ...]:
    """The modules that run ``stage`` (its step or flow, its models and after functions, the item runner)."""
    references = [stage.run, stage.models, stage.after]
    modules = {reference.split(":")[0] for reference in references if reference}
    return tuple(sorted(modules | ({__name__} if stage.items is not None else set())))


def prepare(stage: Stage) -> None:
    """Read the code its items' keys digest (memoised by tasks.code), before the stage imports it: ``cinemagraph
    pipeline`` does this while its Prefect server comes up."""
    for module in stage_modules(stage):
        code_closure(module)


def stage_code_files(stage: Stage) -> list[str]:
    """Project-relative source files whose change must re-run ``stage`` (its DVC code deps), sorted."""
    return sorted({*closure_files(stage_modules(stage)), *RUNNER_FILES} - {DECLARATIONS})
