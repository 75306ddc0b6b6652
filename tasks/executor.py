"""Where items run: in this process, or on Ray (a local cluster by default, an existing one via RAY_ADDRESS).

Ray workers run ``tasks.batch.execute_item`` only and never import Prefect. A model-holding stage caches its
models per worker process, so each worker loads them once.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import ray
from ray._private import ray_constants
import torch

import stages
import tasks
from tasks.batch import Item, ItemStep, execute_item


class LocalExecutor:
    """Runs items one after another in this process."""

    def device_for(self, step: ItemStep) -> torch.device:
        """The device an item of ``step`` runs on: CUDA for a GPU step when this machine has one."""
        return torch.device("cuda" if step.num_gpus > 0 and torch.cuda.is_available() else "cpu")

    def run(self, step: ItemStep, item: Item, params: dict, key: str, store_root: str) -> dict:
        """Execute one item → its record."""
        return execute_item(step, item, params, key, store_root)


@ray.remote
def _execute_remote(step: ItemStep, item: Item, params: dict, key: str, store_root: str) -> dict:
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    torch.set_num_threads(max(1, int(cpus)))
    return execute_item(step, item, params, key, store_root)


def start_local_cluster(num_cpus: int | None, object_store_mb: int) -> None:
    """Start a local Ray cluster that stays off the network: loopback addresses only, no usage report.

    Ray's API server asks cloud metadata endpoints which cloud it runs on (even with usage stats off) unless
    ``~/ray_bootstrap_config.yaml`` names a provider. Ray's own processes therefore start with ``HOME`` at a
    folder holding such a file (``provider: local``) under the Ray temp folder; the workers get the user's
    ``HOME`` back through the job's runtime environment. Ray's switch for single-node clusters on loopback
    (meant for Windows and macOS) keeps every address at 127.0.0.1.
    """
    home = Path(tempfile.gettempdir()) / "cinemagraph-ray-home"
    home.mkdir(exist_ok=True)
    (home / "ray_bootstrap_config.yaml").write_text("provider:\n  type: local\n")
    user_home = os.environ.get("HOME", str(Path.home()))
    # A single-node cluster on the loopback address: Ray then never probes a public address for its own IP.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    os.environ["HOME"] = str(home)
    try:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1",
                 object_store_memory=object_store_mb * 1024 * 1024,
                 runtime_env={"env_vars": {"HOME": user_home}})
    finally:
        os.environ["HOME"] = user_home


class RayExecutor:
    """Runs items as Ray tasks; ``address`` (or RAY_ADDRESS) joins an existing cluster, else starts one.

    On a multi-node cluster the store folder must be on a filesystem every node sees.
    """

    def __init__(self, num_cpus: int | None = None, address: str | None = None,
                 object_store_mb: int = 512):
        address = address or os.environ.get("RAY_ADDRESS") or None
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report, no cloud metadata requests
        if not ray.is_initialized():
            if address:
                code = [str(Path(module.__file__).parent) for module in (stages, tasks)]
                ray.init(address=address, runtime_env={"py_modules": code}, log_to_driver=False)
            else:
                start_local_cluster(num_cpus, object_store_mb)
        self.gpus = ray.cluster_resources().get("GPU", 0.0)

    def device_for(self, step: ItemStep) -> torch.device:
        """The device an item of ``step`` runs on: CUDA for a GPU step when the cluster has GPUs."""
        return torch.device("cuda" if self.gpus >= step.num_gpus > 0 else "cpu")

    def run(self, step: ItemStep, item: Item, params: dict, key: str, store_root: str) -> dict:
        """Execute one item on the cluster and wait for its record (GPUs asked for only where present)."""
        gpus = step.num_gpus if self.gpus >= step.num_gpus > 0 else 0
        remote = _execute_remote.options(num_cpus=step.num_cpus, num_gpus=gpus)
        return ray.get(remote.remote(step, item, params, key, store_root))


def make_executor(settings: dict) -> LocalExecutor | RayExecutor:
    """Executor from the ``run`` section of params.yaml: ``executor: ray|local``, ``num_cpus``, ``ray_address``."""
    if settings.get("executor", "ray") == "local":
        return LocalExecutor()
    return RayExecutor(num_cpus=settings.get("num_cpus"), address=settings.get("ray_address"),
                       object_store_mb=int(settings.get("object_store_mb", 512)))
