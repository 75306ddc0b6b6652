"""The backbone end to end: Prefect flows, the content-addressed store, Ray, manifests, and DVC."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def small_params(tmp_path: Path) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["run"].update(store=str(tmp_path / "store"), num_cpus=2, object_store_mb=128)
    params["synth"].update(count=3, height=48, width=64, frames=8, validation_every=3)
    params["animate"].update(frames=8)
    (tmp_path / "prompts.csv").write_text("prompt\na river in the style of Monet\n")
    params["rewrite"]["prompts"] = str(tmp_path / "prompts.csv")
    params["twins"].update(height=64, width=64, steps=2)
    return params


def test_items_are_cached_by_content_and_failures_are_recorded(prefect_server, tmp_path):
    import ray

    from flows.animate import animate_flow
    from flows.synth import synth_flow

    params = small_params(tmp_path)
    synth = synth_flow(params, out_dir=str(tmp_path / "synth"))
    assert list(synth.status) == ["ok"] * 3
    assert set(synth.split) == {"train", "validation"}
    # Corrupt one scene's picture: that item fails with its error, the others complete.
    (tmp_path / "synth/scene0001/scene0001_input.png").write_bytes(b"broken")
    animate = lambda: animate_flow(params, scenes=str(tmp_path / "synth"), out_dir=str(tmp_path / "animate"),
                                   metrics_path=str(tmp_path / "metrics.json"))
    first = animate()
    assert first.attrs["run"] == {"ok": 2, "cached": 0, "failed": 1}
    first = first.set_index("id")
    assert list(first.status) == ["ok", "failed", "ok"]
    assert "cannot read" in first.loc["scene0001", "error"]
    assert first.loc["scene0000", "static_max_error"] == 0
    assert (tmp_path / "animate/scene0000/scene0000.mp4").is_file()
    on_disk = pd.read_parquet(tmp_path / "animate/manifest.parquet").set_index("id")
    assert on_disk.loc["scene0001", "status"] == "failed"
    # A re-run resumes: finished items come from the cache, even after their outputs were deleted.
    shutil.rmtree(tmp_path / "animate")
    second = animate()
    assert second.attrs["run"] == {"ok": 0, "cached": 2, "failed": 1}
    # What DVC tracks holds no run facts: the manifest is the same whether items were computed or found.
    assert second.drop(columns="error").equals(first.reset_index().drop(columns="error"))
    second = second.set_index("id")
    assert (tmp_path / "animate/scene0002/scene0002_flow.png").is_file()
    # The key follows the file's content, not its path: repairing the picture recomputes only that item.
    shutil.copy(tmp_path / "synth/scene0000/scene0000_input.png", tmp_path / "synth/scene0001/scene0001_input.png")
    third = animate()
    assert third.attrs["run"] == {"ok": 1, "cached": 2, "failed": 0}
    # New parameters: new keys.
    params["animate"]["speed"] = 0.5
    assert animate().attrs["run"] == {"ok": 3, "cached": 0, "failed": 0}
    # The run log (outside DVC's outputs) holds what happened: one line per item per run.
    log = (tmp_path / "runs/animate.jsonl").read_text().splitlines()
    assert len(log) == 4 * 3 and all('"host"' in line for line in log)
    # Items ran on Ray workers, which never imported Prefect.
    assert ray.is_initialized()
    probe = ray.remote(lambda: "prefect" in sys.modules)
    assert not any(ray.get([probe.remote() for _ in range(8)]))


@pytest.mark.slow
def test_dvc_repro_runs_then_does_nothing_then_reruns_only_animate(tmp_path):
    repo = tmp_path / "repo"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in files.split():
        if name.startswith(("data/synth", "data/animate", "dvc.lock")):
            continue
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, repo / name)
    params = small_params(repo)
    params["run"]["store"] = ".cache/store"
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PREFECT_HOME", None)
    env.pop("PREFECT_LOCAL_STORAGE_PATH", None)
    env.pop("PREFECT_API_URL", None)
    run = lambda *args: subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True)
    for command in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        assert run(*command).returncode == 0
    dvc = [sys.executable, "-m", "dvc"]
    first = run(*dvc, "repro", "animate")  # synth → animate; the other stages have tests of their own
    assert first.returncode == 0, first.stdout + first.stderr
    assert "synth: 3 ok" in first.stdout and "animate: 3 ok" in first.stdout
    assert (repo / "data/animate/index.html").is_file()
    started = time.perf_counter()
    second = run(*dvc, "repro", "animate")
    assert second.returncode == 0 and "up to date" in second.stdout
    assert time.perf_counter() - started < 10
    params["animate"]["speed"] = 0.5
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    third = run(*dvc, "repro", "animate")
    assert third.returncode == 0, third.stdout + third.stderr
    assert "Stage 'synth' didn't change" in third.stdout and "animate: 3 ok" in third.stdout
    frames = np.load(repo / "data/animate/scene0000/scene0000_flow.npz")["flow"]
    assert np.abs(frames).max() > 0


def test_dvc_stages_are_the_declared_stages_with_generated_code_deps():
    """One source of truth: dvc.yaml's code deps are what the stages' flow modules import (python -m
    flows.pipeline rewrites them), so DVC never calls a stage up to date while its items' keys changed."""
    import importlib
    import pkgutil

    import flows
    from flows.pipeline import stage_modules, with_generated_deps

    text = (ROOT / "dvc.yaml").read_text()
    assert text == with_generated_deps(text), "run `python -m flows.pipeline` to regenerate dvc.yaml's deps"
    stages = yaml.safe_load(text)["stages"]
    assert set(stages) == set(stage_modules())
    # The tables read from the sources are the ones the modules build when imported.
    imported = {}
    for info in pkgutil.iter_modules(flows.__path__, "flows."):
        if not info.ispkg and info.name != "flows.pipeline":
            imported.update(dict.fromkeys(getattr(importlib.import_module(info.name), "STAGES", {}), info.name))
    assert imported == stage_modules()
    assert all(stage["cmd"] == f"cinemagraph pipeline {name}" for name, stage in stages.items())
