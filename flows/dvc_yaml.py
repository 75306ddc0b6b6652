"""``dvc.yaml`` written whole from the stage declarations (tasks.dag): ``python -m flows.dvc_yaml``.

Per stage: ``cmd`` (``cinemagraph pipeline NAME``), data deps (the prompt list for stages over prompts, the
folders of item inputs, the declared deps) then code deps (flows.pipeline.stage_code_files), params, outs,
metrics and plots.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tasks.dag import PROMPTS, STAGES, Stage
from flows.pipeline import stage_code_files

HEADER = """\
# Generated from tasks/dag.py by `python -m flows.dvc_yaml`: edit the declarations there, not this file.
# Each stage runs `cinemagraph pipeline STAGE` over its batch. Per-item results are cached in the
# content-addressed store (params.yaml run.store), so a stage whose outputs DVC deleted re-materialises
# finished items instead of recomputing them.
stages:
"""


def prompt_list(params_file: Path = Path("params.yaml")) -> str:
    """The prompt list the params file names (``rewrite.prompts``)."""
    return yaml.safe_load(params_file.read_text())["rewrite"]["prompts"]


def data_deps(stage: Stage, prompts: str) -> list[str]:
    """The data a stage reads: the prompt list, the folders of its item inputs and its declared deps, in order."""
    deps = [prompts] if stage.items == PROMPTS else []
    deps += [pattern.split("/{id}")[0] for pattern in stage.inputs.values()]
    deps += [*stage.deps.values(), *stage.reads]
    return list(dict.fromkeys(deps))


def stage_entry(stage: Stage, prompts: str) -> str:
    """The dvc.yaml text of one stage."""
    header = f"  {stage.name}:"
    lines = [f"{header:<26}# {stage.note}" if stage.note else header, f"    cmd: cinemagraph pipeline {stage.name}",
             "    deps:", *(f"      - {path}" for path in [*data_deps(stage, prompts), *stage_code_files(stage)])]
    for key, paths in (("params", stage.params), ("outs", stage.outs.values()), ("metrics", stage.metrics.values())):
        if paths:
            lines += [f"    {key}:", *(f"      - {path}" for path in paths)]
    if stage.plots:
        lines.append("    plots:")
        for plot in stage.plots.values():
            lines += [f"      - {plot.path}:", f"          x: {plot.x}", *([f"          y: {plot.y}"] if plot.y else [])]
    return "\n".join(lines) + "\n"


def dvc_yaml_text(params_file: Path = Path("params.yaml")) -> str:
    """The whole dvc.yaml of the declared stages."""
    prompts = prompt_list(params_file)
    return HEADER + "\n".join(stage_entry(stage, prompts) for stage in STAGES)


def write_dvc_yaml(path: Path = Path("dvc.yaml")) -> None:
    """Write :func:`dvc_yaml_text` to ``path``."""
    path.write_text(dvc_yaml_text())


if __name__ == "__main__":
    write_dvc_yaml()
