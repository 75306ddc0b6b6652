"""A bulk run on a two-node Ray cluster on loopback (two ``ray start`` processes the test starts and stops):
one node is killed whole in the middle of the run, and every item still finishes exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from stages.images import save_png
from test_pipeline import ROOT
from ray_nodes import RayNode

PROMPTS = ["a river in front of a mountain, oil painting", "a waterfall between hills, watercolor",
           "a stormy sea under clouds, ukiyo-e", "a calm lake under the moon, pastel drawing"]
ITEMS = 12


@pytest.fixture
def cluster(tmp_path):
    """A head node and a second node, one CPU each, no GPU; stopped (and nothing of theirs left) afterwards."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    head = RayNode(1, env, temp_dir=tmp_path / "ray")
    second = RayNode(1, env, address=head.address)
    yield head, second
    for node in (second, head):
        node.stop()
    assert not [process for node in (head, second) for process in node.processes() if process.is_running()]


def write_manifest(folder) -> object:
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


def test_a_node_lost_mid_run_costs_only_its_item(tmp_path, cluster):
    head, second = cluster
    manifest = write_manifest(tmp_path)
    run_dir = tmp_path / "run"
    command = [sys.executable, "-c", "from flows.cli import program; program()", "bulk", str(manifest), "-o",
               str(run_dir), "--executor", "ray", "--workers", "2", "--set", "models.profile=procedural",
               "--set", "twins.height=64", "--set", "twins.width=64", "--set", "video.frames=8",
               "--set", f"run.store={tmp_path / 'store'}", "--set", f"run.ray_address={head.address}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CINEMAGRAPH_THREADS": "1"}
    driver = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    journal = run_dir / "journal.jsonl"
    deadline = time.monotonic() + 120
    while driver.poll() is None and time.monotonic() < deadline and not (journal.is_file() and journal.stat().st_size):
        time.sleep(0.01)
    second.kill()  # once the first item is in: both actors are up and each holds an item
    killed_at = len(journal.read_text().splitlines()) if journal.is_file() else 0
    stdout, stderr = driver.communicate(timeout=180)
    assert driver.returncode == 0, stderr[-3000:]
    assert 1 <= killed_at < ITEMS - 2, "the node must be lost mid-run"

    rows = [json.loads(line) for line in journal.read_text().splitlines()]
    assert sorted(row["id"] for row in rows) == [f"item{number}" for number in range(ITEMS)]  # once each
    assert all(row["status"] == "ok" for row in rows)
    assert sum(row["attempts"] == 2 for row in rows) == 1  # the lost node's item, run again on the other node
    results = pd.read_parquet(run_dir / "results.parquet")
    assert results.id.is_unique and len(results) == ITEMS and set(results.status) == {"ok"}
    for number in range(ITEMS):
        assert (run_dir / "items" / f"item{number}" / "cinemagraph.mp4").stat().st_size > 0
    assert not list((run_dir / "items").glob(".partial-*"))
