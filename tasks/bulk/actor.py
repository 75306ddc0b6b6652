"""The Ray actor of bulk runs: a long-lived process running whole items (its steps' models stay loaded)."""

from __future__ import annotations

import ray

from tasks.bulk.manifest import ItemSpec
from tasks.bulk.steps import run_item
from tasks.ray_executor import use_assigned_cpus


@ray.remote
class BulkActor:
    """Runs bulk items (tasks.bulk.steps.run_item) on the CPUs Ray assigned it."""

    def __init__(self):
        use_assigned_cpus()

    def run(self, spec: ItemSpec, params: dict, store_root: str) -> dict:
        """One item's outcome."""
        return run_item(spec, params, store_root)
