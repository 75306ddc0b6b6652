"""Model-holding steps on Ray actors: models load once per actor, submissions from many threads spread over
the pool, a dying actor is restarted and its items retried (each item computed once, one manifest row)."""

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).resolve().parents[2]  # the project: tests.actor_steps is importable from it
# Ray's processes must import the step's module (tests/actor_steps.py): they inherit PYTHONPATH from the
# process that starts the cluster, and every module is collected before any test starts one.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
sys.path.insert(0, str(HERE))

from tests.actor_steps import MODEL_STEP  # noqa: E402
from stages.errors import InputError  # noqa: E402
from tasks.batch import Item, ItemStep, item_key  # noqa: E402
from tasks.ray_executor import RayExecutor, actor_count, actor_resources  # noqa: E402


def expected_y(x: float) -> np.ndarray:
    """The step's output computed here: W·(x·1₄) + b for Linear(4, 2) seeded with 0."""
    import torch

    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 2)
    return (layer.weight.detach().numpy().sum(axis=1) * x + layer.bias.detach().numpy()).astype(np.float32)


@pytest.fixture(scope="module")
def cluster():
    """The module's local Ray cluster: 2 CPUs, no GPU (joined when one is already running)."""
    RayExecutor(num_cpus=2, object_store_mb=128)
    import ray

    assert ray.cluster_resources().get("GPU", 0) == 0
    return ray


def test_pool_size_and_resources():
    gpu_step = ItemStep("g", print, num_cpus=1.0, num_gpus=1.0, holds_models=True)
    assert actor_count("auto", gpu_step, cluster_gpus=0) == 1
    assert actor_count("auto", gpu_step, cluster_gpus=4) == 4
    assert actor_count(2, gpu_step, cluster_gpus=4) == 2
    # 2 actors on 2 CPUs: half a CPU each, one CPU left for light items.
    assert actor_resources(gpu_step, 2, cluster_cpus=2, cluster_gpus=0) == (0.5, 0.0)
    assert actor_resources(gpu_step, 1, cluster_cpus=16, cluster_gpus=0) == (1.0, 0.0)
    assert actor_resources(gpu_step, 4, cluster_cpus=16, cluster_gpus=4) == (1.0, 1.0)
    assert actor_resources(gpu_step, 8, cluster_cpus=16, cluster_gpus=4) == (1.0, 0.5)


@pytest.mark.parametrize("setting", [0, -1, 1.5, "two", True])
def test_bad_actor_setting_is_refused(cluster, setting):
    with pytest.raises(InputError, match="run.actors"):
        RayExecutor(actors=setting)


def test_items_run_on_actors_that_build_their_model_once(cluster, tmp_path):
    executor = RayExecutor(actors=2)
    params = {"log": str(tmp_path / "computed.log")}
    items = [Item(f"i{n}", values={"x": n}) for n in range(8)]
    keys = [item_key(MODEL_STEP, item, params) for item in items]
    try:
        with ThreadPoolExecutor(8) as threads:  # as Prefect's task runner submits: from many threads
            records = list(threads.map(
                lambda item, key: executor.run(MODEL_STEP, item, params, key, str(tmp_path / "store")),
                items, keys))
    finally:
        executor.close()
    assert [record["status"] for record in records] == ["ok"] * 8
    metas = [record["meta"] for record in records]
    assert all(meta["actor"] for meta in metas)  # every item ran on an actor
    assert len({meta["pid"] for meta in metas}) == 2 and os.getpid() not in {meta["pid"] for meta in metas}
    assert {meta["constructions"] for meta in metas} == {1}  # each actor built its model once
    assert not any(meta["prefect_loaded"] for meta in metas)  # Prefect stays out of the actors
    assert {meta["threads"] for meta in metas} == {1}  # half a CPU each → one torch thread
    for record, item in zip(records, items):
        y = np.load(tmp_path / "store" / record["key"][:2] / record["key"] / "y.npy")
        np.testing.assert_allclose(y, expected_y(item.values["x"]), rtol=1e-6)


def test_a_dying_actor_is_restarted_and_its_items_retried(cluster, prefect_server, tmp_path):
    from prefect import flow

    from tasks.gallery import RUNNER
    from tasks.prefect_task import executor_for, run_stage

    run = {"executor": "ray", "num_cpus": 2, "object_store_mb": 128, "store": str(tmp_path / "store"),
           "actors": 1}
    # One actor, and the poison item (its process dies on every attempt) first: every other item waits behind
    # it and must not pay for its deaths.
    items = [Item("poison", values={"x": 9, "crash": "always", "marker": str(tmp_path / "poison.died")})]
    items += [Item(f"i{n}", values={"x": n}) for n in range(6)]
    items[3] = Item("i2", values={"x": 2, "crash": "first", "marker": str(tmp_path / "i2.died")})
    params = {"log": str(tmp_path / "computed.log")}
    try:
        manifest = flow(name="model_step", task_runner=RUNNER)(run_stage)(MODEL_STEP, items, params,
                                                                          tmp_path / "out", run)
    finally:
        executor_for(run).close()
    assert sorted(manifest.id) == sorted(item.id for item in items)  # one row per item
    by_id = manifest.set_index("id")
    assert set(by_id.drop(index="poison").status) == {"ok"}
    assert by_id.loc["poison", "status"] == "failed" and "died 3 times" in by_id.loc["poison", "error"]
    # i2's first process died; a restarted actor (another process) computed it.
    assert int(by_id.loc["i2", "pid"]) != int((tmp_path / "i2.died").read_text())
    np.testing.assert_allclose(np.load(tmp_path / "out/i2/y.npy"), expected_y(2), rtol=1e-6)
    # Each item was computed exactly once and committed once: one log line and one store entry per item.
    computed = [line.split()[0] for line in (tmp_path / "computed.log").read_text().splitlines()]
    assert sorted(computed) == sorted(by_id.drop(index="poison").index)
    entries = [path for path in (tmp_path / "store").glob("??/*") if path.parent.name != "tmp"]
    assert sorted(entry.name for entry in entries) == sorted(by_id.drop(index="poison").key)
    assert pd.read_parquet(tmp_path / "out/manifest.parquet").id.is_unique
