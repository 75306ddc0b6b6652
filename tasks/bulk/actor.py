"""Bulk items on Ray: long-lived actors running whole items (their steps' models stay loaded), on a local
cluster or the one at ``run.ray_address``/RAY_ADDRESS.

One actor per worker, spread over the cluster's nodes, each holding one GPU where the cluster has them (more
workers than GPUs share them) and at most one CPU. An actor holds :data:`ITEMS_PER_ACTOR` items: one running
and the next waiting in its queue, so it starts that one the moment it finishes, while the driver commits
the finished one. A dead actor — its process killed, or its whole node lost — costs the items it held: each
runs again on the next free actor (a restarted one, or another node's), and fails after :data:`ATTEMPTS`
deaths. Steps the dead actor finished are in the store (on a path every node sees) and are found, not
computed again.
"""

from __future__ import annotations

import os
import queue
import threading

import ray
from ray.exceptions import RayActorError, RayTaskError

from tasks.bulk.manifest import ItemSpec
from tasks.bulk.steps import run_item, warm_up_item
from tasks.ray_executor import connect, use_assigned_cpus

ATTEMPTS = 3
"""Actors an item may run on: an item whose actor dies runs again on another, and fails after this many."""
ITEMS_PER_ACTOR = 2
"""Items an actor holds at once: one running, one queued behind it (the driver's commit of an item and the
next item's dispatch overlap the actor's work instead of idling it)."""
WAIT_S = 1.0
"""How often a waiting item checks that some actor is still alive or restarting, seconds."""


@ray.remote
class BulkActor:
    """Runs bulk items (tasks.bulk.steps.run_item) on the CPUs Ray assigned it, in the driver's folder when
    this node sees it (relative paths of the settings then mean the same on every node).

    ``warm_up``: an item its first :meth:`ready` runs into a throwaway store (tasks.bulk.steps.warm_up_item), so
    that the actor is ready — its steps imported, their code digests taken, their models loaded — before its
    first item."""

    def __init__(self, folder: str, params: dict, warm_up: ItemSpec | None):
        use_assigned_cpus()
        if os.path.isdir(folder):
            os.chdir(folder)
        self.params, self.warm_up = params, warm_up

    def ready(self) -> bool:
        """True once the actor is up and warmed up (after a restart too): the first call runs the warm-up."""
        if self.warm_up is not None:
            warm_up_item(self.warm_up, self.params)
            self.warm_up = None
        return True

    def run(self, spec: ItemSpec, params: dict, store_root: str) -> dict:
        """One item's outcome."""
        return run_item(spec, params, store_root)


class RayWorkers:
    """A pool of ``count`` :class:`BulkActor`, each running whole items, :data:`ITEMS_PER_ACTOR` at a time in
    its queue (:attr:`slots` items in all); an actor that dies is restarted (up to :data:`ATTEMPTS` times) and
    rejoins the pool once it is up again, while its items run on the next free actor. ``warm_up``: the item each
    actor runs into a throwaway store before any other (None: none)."""

    def __init__(self, params: dict, store_root: str, count: int, run: dict, warm_up: ItemSpec | None = None):
        connect(run.get("num_cpus"), run.get("ray_address"), int(run.get("object_store_mb", 512)))
        resources = ray.cluster_resources()
        cpus, gpus = resources.get("CPU", 1.0), resources.get("GPU", 0.0)
        actor = BulkActor.options(num_cpus=round(min(1.0, cpus / count), 4), num_gpus=round(min(1.0, gpus / count), 4),
                                  max_restarts=ATTEMPTS, scheduling_strategy="SPREAD")
        self.actors = [actor.remote(os.getcwd(), params, warm_up) for _ in range(count)]
        self.free: queue.Queue = queue.Queue()
        """One entry per free slot: an actor is in it once for each item it may still take."""
        for handle in self.actors:
            handle.ready.remote()  # the warm-up, first in the actor's queue
            for _ in range(ITEMS_PER_ACTOR):
                self.free.put(handle)
        self.slots = count * ITEMS_PER_ACTOR
        """Items the pool holds at once (the driver runs as many shards at once)."""
        self.alive = self.slots
        """Slots of actors not dead for good (running, free or restarting)."""
        self._alive_lock = threading.Lock()
        self.params, self.store_root = params, store_root

    def run(self, spec: ItemSpec) -> dict:
        """One item's outcome (with ``attempts``: the actors it ran on), on the next free actor; what the item
        raised (a full disk: tasks.batch.execute_item) is raised here."""
        died = "no worker is left"
        for attempt in range(1, ATTEMPTS + 1):
            handle = self._next_free()
            if handle is None:
                break
            try:
                outcome = ray.get(handle.run.remote(spec, self.params, self.store_root))
            except RayTaskError as error:  # the item raised (a full disk): the actor is alive and free again
                self.free.put(handle)
                raise error.cause from error
            except RayActorError as error:
                died = f"its worker died {attempt} time(s) ({str(error).splitlines()[0]})"
                threading.Thread(target=self._rejoin, args=(handle,), name="bulk-actor-rejoin", daemon=True).start()
                continue
            self.free.put(handle)
            return {**outcome, "attempts": attempt}
        return {"id": spec.id, "status": "failed", "stage": "worker", "error": died, "attempts": attempt}

    def _next_free(self) -> ray.actor.ActorHandle | None:
        """The actor of the next free slot; None once every actor is dead for good (a restarting one is waited
        for)."""
        while True:
            try:
                return self.free.get(timeout=WAIT_S)
            except queue.Empty:
                with self._alive_lock:
                    if not self.alive:
                        return None

    def _rejoin(self, handle: ray.actor.ActorHandle) -> None:
        """Give a dead actor's slot (one per item it held) back to the pool once Ray has restarted it; count it
        out when the actor is dead for good (restarts used up, or the pool closed). An actor waiting for room on
        the cluster waits here."""
        try:
            ray.get(handle.ready.remote())
        except RayActorError:
            with self._alive_lock:
                self.alive -= 1
            return
        self.free.put(handle)

    def close(self) -> None:
        """End the actors."""
        for handle in self.actors:
            ray.kill(handle, no_restart=True)
