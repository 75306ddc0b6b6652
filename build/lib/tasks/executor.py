"""Where items run: in this process, or on Ray (:mod:`tasks.ray_executor`, imported only when used, so a stage
whose items all run here never loads Ray)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from tasks.batch import Item, ItemStep, execute_item

if TYPE_CHECKING:
    from tasks.ray_executor import RayExecutor


class LocalExecutor:
    """Runs items one after another in this process."""

    def device_for(self, step: ItemStep) -> torch.device:
        """The device an item of ``step`` runs on: CUDA for a GPU step when this machine has one."""
        return torch.device("cuda" if step.num_gpus > 0 and torch.cuda.is_available() else "cpu")

    def run(self, step: ItemStep, item: Item, params: dict, key: str, store_root: str) -> dict:
        """Execute one item → its record."""
        return execute_item(step, item, params, key, store_root)

    def close(self) -> None:
        """Nothing to release in this process."""


def make_executor(settings: dict) -> LocalExecutor | RayExecutor:
    """Executor from the ``run`` section of params.yaml: ``executor: ray|local``, ``num_cpus``, ``ray_address``,
    ``object_store_mb``, ``actors``."""
    if settings.get("executor", "ray") == "local":
        return LocalExecutor()
    from tasks.ray_executor import RayExecutor  # Ray is imported only when items run on it

    return RayExecutor(num_cpus=settings.get("num_cpus"), address=settings.get("ray_address"),
                       object_store_mb=int(settings.get("object_store_mb", 512)),
                       actors=settings.get("actors", "auto"))
