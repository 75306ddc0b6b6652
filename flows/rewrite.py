"""Prefect flow of the ``rewrite`` stage: every prompt of the list (params.yaml ``rewrite.prompts``) as twin
prompt, region and direction; a prompt that cannot be used fails with its message, the others go on."""

from __future__ import annotations

import tasks.prefect_env  # noqa: F401  (Prefect settings before Prefect is imported)

import pandas as pd
from prefect import flow

from tasks.batch import Item
from tasks.gallery import RUNNER
from tasks.prefect_task import run_stage
from tasks.prompt_list import prompt_items
from tasks.rewrite import REWRITE


@flow(name="rewrite", task_runner=RUNNER)
def rewrite_flow(params: dict, out_dir: str = "data/rewrite") -> pd.DataFrame:
    """Rewrite every prompt: ``<id>/rewrite.json``."""
    items = [Item(item.id, values={k: v for k, v in item.values.items() if k != "seed"})
             for item in prompt_items(params)]
    section = {key: value for key, value in params["rewrite"].items() if key != "prompts"}
    return run_stage(REWRITE, items, section, out_dir, params["run"])


STAGES = {"rewrite": rewrite_flow}
