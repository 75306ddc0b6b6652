"""The run's own Prefect server (tasks.prefect_server) and where light steps run (tasks.prefect_task)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.paths import ROOT
PRINT_URL = "import os, sys; print(os.environ['PREFECT_API_URL']); sys.exit(3)"


def wrapped(tmp_path, env_updates: dict) -> subprocess.CompletedProcess:
    """``python -m tasks.prefect_server`` around a command printing PREFECT_API_URL and exiting with 3."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PYTHONPATH=str(ROOT), **env_updates)
    return subprocess.run([sys.executable, "-m", "tasks.prefect_server", sys.executable, "-c", PRINT_URL],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def answers(url: str) -> bool:
    """Whether a Prefect API answers its health check at ``url``."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2):
            return True
    except OSError:
        return False


def test_a_command_gets_one_server_that_is_stopped_afterwards(tmp_path):
    done = wrapped(tmp_path, {})
    assert done.returncode == 3, done.stderr
    url = done.stdout.strip()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/api")
    assert not answers(url)


def test_a_server_the_user_names_is_used_as_it_is(tmp_path):
    done = wrapped(tmp_path, {"PREFECT_API_URL": "http://127.0.0.1:9/api"})
    assert done.returncode == 3 and done.stdout.strip() == "http://127.0.0.1:9/api"
    assert not (tmp_path / "prefect" / "server.log").exists()


def test_light_steps_run_in_this_process_unless_a_cluster_is_joined(monkeypatch):
    from tasks.prefect_task import IN_PROCESS, executor_of
    from tasks.rewrite import REWRITE
    from tasks.twins import TWINS
    from tasks.generate import VIDEO

    run = {"executor": "local"}
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert executor_of(REWRITE, {}, run) is IN_PROCESS
    assert executor_of(TWINS, {"models": {"profile": "procedural"}}, run) is IN_PROCESS
    assert executor_of(TWINS, {"models": {"profile": "tiny"}}, run) is not IN_PROCESS
    assert executor_of(VIDEO, {"frame_model": "data/models/g_frame"}, run) is not IN_PROCESS
    assert executor_of(REWRITE, {}, {**run, "ray_address": "ray://cluster:10001"}) is not IN_PROCESS
    monkeypatch.setenv("RAY_ADDRESS", "ray://cluster:10001")
    assert executor_of(VIDEO, {}, run) is not IN_PROCESS


def test_the_text_paths_stage_flows_load_no_ray_until_a_step_needs_it():
    """Ray's import costs a stage whose items all run in its own process about 0.3 s: it is left out."""
    probe = ("import sys, flows.cli.pipeline; from tasks.dag import declared, load, prompt_stages; "
             "from flows.pipeline import prepare; "
             "[(prepare(declared(name)), load(declared(name).run)) for name in prompt_stages()]; "
             "print('ray' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False"], done.stderr


def test_the_wrapper_needs_a_command(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tasks.prefect_server"], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    assert done.returncode == 1 and "usage: python -m tasks.prefect_server COMMAND" in done.stderr
