"""The nightly bulk run on a cluster, end to end: the deployment of prefect.yaml on a real Prefect server (its
cron, parameters and concurrency limit; its next run scheduled for the cron's next time), a triggered run on a
two-node Ray cluster on loopback that loses one node whole in the middle and still finishes every item exactly
once into its dated folder, and a second run triggered meanwhile cancelled. The server and both Ray nodes
(``ray start`` processes) are started here, at once, and stopped afterwards."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from flows.cli import main
from flows.bulk import dated_folder
from stages.images import save_png
from tasks.bulk.actor import ITEMS_PER_ACTOR
from tasks.prefect_server import PrefectServer
from tests.learned_helpers import flow_checkpoint
from tests.paths import ROOT
from tests.ray_nodes import RayNode

PREFECT = str(Path(sys.executable).with_name("prefect"))
DEPLOYMENT = "bulk-scheduled/nightly"
PROMPTS = ["a river in front of a mountain, oil painting", "a waterfall between hills, watercolor",
           "a stormy sea under clouds, ukiyo-e", "a calm lake under the moon, pastel drawing"]
ITEMS = 12


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """``prefect server start`` with its scheduler (state in a temporary PREFECT_HOME) and two Ray nodes of one
    CPU each, all starting at once → (the environment of processes that use them, head node, second node).
    The nodes get no PYTHONPATH: the project's code reaches their workers as on a real cluster, shipped."""
    home = tmp_path_factory.mktemp("prefect-home")
    saved = os.environ.get("PREFECT_HOME")
    os.environ["PREFECT_HOME"] = str(home)
    try:
        server = PrefectServer(services=True)
    finally:
        os.environ["PREFECT_HOME"] = saved
    node_env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    node_env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    head = RayNode(1, node_env, temp_dir=tmp_path_factory.mktemp("ray"))
    second = RayNode(1, node_env, address=head.address)
    try:
        server.wait()
        yield ({**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": server.api_url,
                "PYTHONPATH": str(ROOT), "PREFECT_WORKER_QUERY_SECONDS": "1", "CINEMAGRAPH_THREADS": "1"},
               head, second)
    finally:
        server.stop()
        for node in (second, head):
            node.stop()
    assert not [process for node in (head, second) for process in node.processes() if process.is_running()]


def write_manifest(folder: Path) -> Path:
    """``ITEMS`` rows, each with its own mask (white in a band), so no segmenter is needed."""
    rows = []
    for number in range(ITEMS):
        mask = np.zeros((64, 64), bool)
        mask[8 + 4 * number:40 + 2 * number, :] = True
        save_png(folder / f"mask{number}.png", mask)
        rows.append({"id": f"item{number}", "prompt": f"{PROMPTS[number % 4]}, number {number}",
                     "mask": f"mask{number}.png"})
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return folder / "manifest.csv"


def api(env: dict, path: str, body: dict | None = None) -> dict | list:
    """The server's JSON answer to GET ``path`` (POST when ``body`` is given)."""
    request = urllib.request.Request(env["PREFECT_API_URL"] + path, method="POST" if body is not None else "GET",
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    for attempt in range(5):  # 503: the server's database was busy; Prefect's own client tries again too
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as error:
            if error.code != 503 or attempt == 4:
                raise
        time.sleep(0.5)


def state_of(env: dict, run_id: str) -> str:
    """The flow run's state type (SCHEDULED, PENDING, RUNNING, COMPLETED, CANCELLED, …)."""
    return api(env, f"/flow_runs/{run_id}")["state"]["type"]


def wait_for(check, timeout_s: float, what: str):
    """``check()``'s first truthy answer, polled every 0.05 s; TimeoutError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if answer := check():
            return answer
        time.sleep(0.05)
    raise TimeoutError(what)


def settled(env: dict, run_id: str, waiting: tuple[str, ...]) -> str | None:
    """The run's state type once it is none of ``waiting``, else None."""
    state = state_of(env, run_id)
    return None if state in waiting else state


def next_cron_time(now: datetime, hour: int) -> datetime:
    """The next ``hour``:00 UTC strictly after ``now`` (the cron ``0 HOUR * * *``)."""
    today = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return today if today > now else today + timedelta(days=1)


def deploy(env: dict) -> dict:
    """The documented commands (work pool, then ``prefect deploy``) → the deployment as the server has it."""
    subprocess.run([PREFECT, "work-pool", "create", "cinemagraph", "--type", "process"], env=env, check=True,
                   capture_output=True)
    deployed = subprocess.run([PREFECT, "--no-prompt", "deploy", "--name", "nightly"], cwd=ROOT, env=env,
                              capture_output=True, text=True)
    assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr[-2000:]
    return api(env, f"/deployments/name/{DEPLOYMENT}")


def test_the_nightly_run_on_a_cluster_survives_a_lost_node_and_runs_once_at_a_time(tmp_path, services):
    env, head, second = services
    deployment = deploy(env)
    declared = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"][0]
    assert deployment["parameters"] == declared["parameters"]
    assert deployment["parameters"]["output"] == "runs/{date}"
    assert [(s["schedule"]["cron"], s["schedule"]["timezone"]) for s in deployment["schedules"]] == [("0 2 * * *",
                                                                                                      "UTC")]
    assert deployment["work_pool_name"] == "cinemagraph" and deployment["global_concurrency_limit"]["limit"] == 1
    assert deployment["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
    this_deployment = {"deployments": {"id": {"any_": [deployment["id"]]}}}
    first = wait_for(lambda: api(env, "/flow_runs/filter", {
        **this_deployment, "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
        "sort": "EXPECTED_START_TIME_ASC", "limit": 1}), 30, "the scheduler created no run")[0]
    assert datetime.fromisoformat(first["expected_start_time"]) == next_cron_time(datetime.now(timezone.utc), 2)

    parameters = {"manifest": str(write_manifest(tmp_path)), "output": str(tmp_path / "runs" / "{date}"),
                  "executor": "ray", "workers": 2,
                  "settings": ["models.profile=procedural", "twins.height=64", "twins.width=64", "video.frames=8",
                               f"flow.flow_model={flow_checkpoint(tmp_path / 'g_flow')}",
                               f"run.store={tmp_path / 'store'}", f"run.ray_address={head.address}"]}
    worker = subprocess.Popen([PREFECT, "worker", "start", "--pool", "cinemagraph"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        triggered = subprocess.run([PREFECT, "deployment", "run", DEPLOYMENT, "--params", json.dumps(parameters)],
                                   env=env, capture_output=True, text=True, check=True)
        going = re.search(r"UUID: ([0-9a-f-]{36})", triggered.stdout).group(1)
        wait_for(lambda: settled(env, going, ("SCHEDULED",)), 60, "the worker did not take the run")
        again = api(env, f"/deployments/{deployment['id']}/create_flow_run", {"parameters": parameters})["id"]
        assert wait_for(lambda: settled(env, again, ("SCHEDULED", "PENDING")), 60, "no answer") == "CANCELLED"

        folder = dated_folder(parameters["output"], datetime.fromisoformat(
            api(env, f"/flow_runs/{going}")["expected_start_time"]))
        journal = folder / "journal.jsonl"
        wait_for(lambda: journal.is_file() and journal.stat().st_size, 120, "no item finished")
        second.kill()  # once the first item is in: both actors are up and each holds an item
        killed_at = len(journal.read_text().splitlines())
        assert wait_for(lambda: settled(env, going, ("PENDING", "RUNNING")), 120, "no end") == "COMPLETED"
    finally:
        worker.terminate()
        worker.wait(30)

    assert killed_at < ITEMS - 2, "the node must be lost mid-run"
    rows = [json.loads(line) for line in journal.read_text().splitlines()]
    assert sorted(row["id"] for row in rows) == sorted(f"item{number}" for number in range(ITEMS))  # once each
    assert all(row["status"] == "ok" for row in rows)
    # the items the lost node's actor held (the one it ran, and the one queued behind it), run again elsewhere
    assert 1 <= sum(row["attempts"] == 2 for row in rows) <= ITEMS_PER_ACTOR
    results = pd.read_parquet(folder / "results.parquet")
    assert results.id.is_unique and len(results) == ITEMS and set(results.status) == {"ok"}
    assert all((folder / "items" / name / "cinemagraph.mp4").stat().st_size for name in results.id)
    assert not list((folder / "items").glob(".partial-*"))
    assert len((folder / "starts.jsonl").read_text().splitlines()) == 1  # the cancelled run never started


def test_serve_without_a_server_says_what_to_start(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    code = main(["bulk", "serve", str(tmp_path / "m.csv"), "-o", "runs/{date}", "--cron", "0 2 * * *"])
    assert code == 2 and "prefect server start" in capsys.readouterr().err
