"""How rendering uses the CPU: one torch thread per operation, several frames in flight.

The renderers run many small operations per frame. With PyTorch's intra-op threads each operation splits
over an OpenMP team whose threads wait for each other; when another process holds a core, the team waits
for its slowest (descheduled) thread on every operation and throughput collapses. So the policy is:

- every torch operation runs on one thread (``torch.set_num_threads(1)``: no team, nothing to wait for);
- parallelism comes from rendering several frames at once in a small thread pool (:func:`map_in_order`),
  one worker per CPU of the process's share: a busy neighbour slows one frame, not every operation.

:func:`use_cpu_share` applies it; the command line calls it with the CPUs the process may use, a batch
worker with the CPUs its scheduler gave it. ``CINEMAGRAPH_THREADS`` (an integer ≥ 1) overrides the share.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

import torch

from stages.errors import InputError

ENVIRONMENT_VARIABLE = "CINEMAGRAPH_THREADS"

_frame_workers = 1

Result = TypeVar("Result")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask), or ``CINEMAGRAPH_THREADS`` when set."""
    value = os.environ.get(ENVIRONMENT_VARIABLE)
    if value is not None:
        if not value.strip().isdigit() or int(value) < 1:
            raise InputError(f"{ENVIRONMENT_VARIABLE} must be an integer ≥ 1, got {value!r}")
        return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def use_cpu_share(cpus: float | None = None) -> int:
    """Apply the policy for a process allowed ``cpus`` CPUs (None: :func:`available_cpus`) → frame workers.

    Sets torch's intra-op threads to 1 and the number of frames rendered at once to ``max(1, int(cpus))``.
    ``CINEMAGRAPH_THREADS``, when set, wins over ``cpus``.
    """
    global _frame_workers
    if cpus is None or ENVIRONMENT_VARIABLE in os.environ:
        cpus = available_cpus()
    torch.set_num_threads(1)
    _frame_workers = max(1, int(cpus))
    return _frame_workers


def frame_workers() -> int:
    """Frames a renderer may render at once (1 until :func:`use_cpu_share` is called)."""
    return _frame_workers


def map_in_order(function: Callable[..., Result], arguments: Iterable[tuple], workers: int | None = None
                 ) -> Iterator[Result]:
    """Yield ``function(*a)`` for each ``a`` of ``arguments``, in order, with up to ``workers`` calls at once.

    ``arguments`` is consumed in this thread (so it may advance a sequential integrator) at most
    ``workers + 1`` items ahead of what was yielded: memory stays bounded. ``workers`` defaults to
    :func:`frame_workers`; 1 runs everything in this thread.
    """
    workers = frame_workers() if workers is None else workers
    if workers <= 1:
        for argument in arguments:
            yield function(*argument)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="render") as pool:
        pending: deque = deque()
        try:
            for argument in arguments:
                pending.append(pool.submit(function, *argument))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
