"""Items on Ray: a local cluster by default, an existing one via RAY_ADDRESS.

Ray workers run ``tasks.batch.execute_item`` only and never import Prefect. The items of a step that holds
models (``ItemStep.holds_models``) run on a pool of long-lived Ray actors instead of one task each: an actor is
one process, and the step caches its models per process, so each actor loads them once and serves many items.
An actor that dies is restarted and its items are retried; the store's atomic, idempotent commit means a
retried item either finds its entry or computes it again, never twice.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import ray
from ray._private import ray_constants
from ray.exceptions import RayActorError
import torch

from stages.errors import InputError
from tasks.code import PROJECT_PACKAGES, ROOT
from stages.threads import use_cpu_share
from tasks.batch import Item, ItemStep, execute_item

ACTOR_ATTEMPTS = 3
"""Attempts of one item on an actor pool: an item whose actor dies is retried on the restarted actor, and
fails (a manifest row with its error) after this many deaths. An actor holds one item at a time, so its
death costs an attempt of that item only."""


def use_assigned_cpus() -> int:
    """Fit the thread policy (stages.threads) to the CPUs Ray assigned this worker or actor (at least one) →
    the frames it renders at once."""
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU") or 1.0
    return use_cpu_share(cpus)


@ray.remote
def _execute_remote(step: ItemStep, item: Item, params: dict, key: str, store_root: str) -> dict:
    use_assigned_cpus()
    return execute_item(step, item, params, key, store_root)


@ray.remote
class ItemActor:
    """A long-lived process serving the items of one model-holding step; its models stay loaded between them."""

    def __init__(self):
        use_assigned_cpus()

    def execute(self, step: ItemStep, item: Item, params: dict, key: str, store_root: str) -> dict:
        """Compute (or find) one item into the store → its record."""
        return execute_item(step, item, params, key, store_root)


def check_actor_setting(setting: int | str) -> int | str:
    """``setting`` (``run.actors``) when it is ``auto`` or a whole number ≥ 1, else InputError."""
    if setting != "auto" and (isinstance(setting, bool) or not isinstance(setting, int) or setting < 1):
        raise InputError(f"run.actors must be auto or a whole number of actors ≥ 1, not {setting!r}")
    return setting


def actor_count(setting: int | str, step: ItemStep, cluster_gpus: float) -> int:
    """Actors in a step's pool: ``setting`` when a number; ``auto``: one per GPU for a GPU step on a cluster
    with GPUs, else one."""
    if setting != "auto":
        return int(setting)
    if step.num_gpus > 0 and cluster_gpus >= step.num_gpus:
        return max(1, int(cluster_gpus // step.num_gpus))
    return 1


def actor_resources(step: ItemStep, count: int, cluster_cpus: float, cluster_gpus: float) -> tuple[float, float]:
    """(CPUs, GPUs) each of ``count`` actors of ``step`` asks Ray for.

    The actors together hold the cluster's CPUs but one (so the items of light steps, one CPU each, still
    find a CPU; on 2 CPUs, 2 actors ask 0.5 each), each at most ``step.num_cpus``. A GPU step gets
    ``step.num_gpus`` per actor where the cluster has the GPUs (one actor per GPU by default; more actors
    than GPUs share them), and no GPU on a cluster without.
    """
    cpus = min(step.num_cpus, max(cluster_cpus - 1.0, 0.0) / count)
    gpus = min(step.num_gpus, cluster_gpus / count) if cluster_gpus >= step.num_gpus > 0 else 0.0
    return round(cpus, 4), round(gpus, 4)


class ActorPool:
    """``count`` actors of one step, and which of them runs an item now (guarded by the executor's lock)."""

    def __init__(self, step: ItemStep, count: int, cpus: float, gpus: float):
        self.step = step
        self.actors = [ItemActor.options(num_cpus=cpus, num_gpus=gpus, max_restarts=-1,
                                         max_task_retries=ACTOR_ATTEMPTS - 1).remote() for _ in range(count)]
        self.busy = [False] * count

    def free_actor(self) -> int | None:
        """Index of an actor running no item, or None when all are busy."""
        return next((index for index, busy in enumerate(self.busy) if not busy), None)

    def idle(self) -> bool:
        """Whether no actor runs an item."""
        return not any(self.busy)

    def close(self) -> None:
        """End the actors (their models and resources are released)."""
        for actor in self.actors:
            ray.kill(actor, no_restart=True)


def start_local_cluster(num_cpus: int | None, object_store_mb: int) -> None:
    """Start a local Ray cluster that stays off the network: loopback addresses only, no usage report.

    Ray's API server asks cloud metadata endpoints which cloud it runs on (even with usage stats off) unless
    ``~/ray_bootstrap_config.yaml`` names a provider. Ray's own processes therefore start with ``HOME`` at a
    folder holding such a file (``provider: local``) in the system temporary folder; the workers get the user's
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


def connect(num_cpus: int | None, address: str | None, object_store_mb: int) -> None:
    """Join the cluster at ``address`` (else RAY_ADDRESS), shipping the project's code (stages, tasks, flows) to
    its workers; with neither, start a local cluster of ``num_cpus`` CPUs (:func:`start_local_cluster`). Nothing
    when this process is connected already."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report, no cloud metadata requests
    # Ray's driver would replace builtins.print with its own the first time it reports a dead worker.
    os.environ.setdefault("RAY_TQDM_PATCH_PRINT", "0")
    if ray.is_initialized():
        return
    if address:
        code = [str(ROOT / package) for package in PROJECT_PACKAGES]
        ray.init(address=address, runtime_env={"py_modules": code}, log_to_driver=False)
    else:
        start_local_cluster(num_cpus, object_store_mb)


class RayExecutor:
    """Runs items as Ray tasks, and those of model-holding steps on a pool of actors; ``address`` (or
    RAY_ADDRESS) joins an existing cluster, else one starts.

    ``actors``: the size of a model-holding step's pool (``auto``: one per GPU for a GPU step on a cluster with
    GPUs, else one). One pool is alive at a time: the next model-holding step waits until the current pool
    runs no item, then ends its actors, so their CPUs, GPUs and memory go to the next step's models.
    On a multi-node cluster the store folder must be on a filesystem every node sees.
    """

    def __init__(self, num_cpus: int | None = None, address: str | None = None,
                 object_store_mb: int = 512, actors: int | str = "auto"):
        connect(num_cpus, address, object_store_mb)
        resources = ray.cluster_resources()
        self.cpus, self.gpus = resources.get("CPU", 1.0), resources.get("GPU", 0.0)
        self.actors = check_actor_setting(actors)
        self._pool: ActorPool | None = None
        self._pool_changed = threading.Condition()

    def device_for(self, step: ItemStep) -> torch.device:
        """The device an item of ``step`` runs on: CUDA for a GPU step when the cluster has GPUs."""
        return torch.device("cuda" if self.gpus >= step.num_gpus > 0 else "cpu")

    def run(self, step: ItemStep, item: Item, params: dict, key: str, store_root: str) -> dict:
        """Execute one item on the cluster and wait for its record (GPUs asked for only where present).

        Safe to call from several threads: a model-holding step's item goes to the next actor of its pool
        that is free; until one is, it waits here (not in an actor's queue, where an actor's death would cost
        every queued item an attempt).
        """
        if step.holds_models:
            return self._run_on_actor(step, item, params, key, store_root)
        gpus = step.num_gpus if self.gpus >= step.num_gpus > 0 else 0
        remote = _execute_remote.options(num_cpus=step.num_cpus, num_gpus=gpus)
        return ray.get(remote.remote(step, item, params, key, store_root))

    def _run_on_actor(self, step: ItemStep, item: Item, params: dict, key: str, store_root: str) -> dict:
        with self._pool_changed:
            while (index := (pool := self._pool_of(step)).free_actor()) is None:
                self._pool_changed.wait()
            pool.busy[index] = True
        try:
            return ray.get(pool.actors[index].execute.remote(step, item, params, key, store_root))
        except RayActorError as error:
            return {"id": item.id, "key": key, "status": "failed",
                    "error": f"the {step.name} worker died {ACTOR_ATTEMPTS} times running this item ({error})"}
        finally:
            with self._pool_changed:
                pool.busy[index] = False
                self._pool_changed.notify_all()

    def _pool_of(self, step: ItemStep) -> ActorPool:
        """The pool of ``step``, started once the previous step's pool is idle and closed (hold the lock)."""
        while self._pool is not None and self._pool.step != step:
            if self._pool.idle():
                self._pool.close()
                self._pool = None
            else:
                self._pool_changed.wait()
        if self._pool is None:
            count = actor_count(self.actors, step, self.gpus)
            self._pool = ActorPool(step, count, *actor_resources(step, count, self.cpus, self.gpus))
        return self._pool

    def close(self) -> None:
        """End the actor pool, if any (its models are released; Ray itself keeps running)."""
        with self._pool_changed:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
