"""The backbone end to end: Prefect flows, the content-addressed store, Ray, manifests, and DVC."""

import json
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

from tests.paths import ROOT


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
    synth = synth_flow(params, out_dir=str(tmp_path / "synth"), section="synth")
    assert list(synth.status) == ["ok"] * 3
    assert set(synth.split) == {"train", "validation"}
    # Corrupt one scene's picture: that item fails with its error, the others complete.
    (tmp_path / "synth/scene0001/scene0001_input.png").write_bytes(b"broken")
    animate = lambda: animate_flow(params, scenes=str(tmp_path / "synth"), out_dir=str(tmp_path / "animate"),
                                   metrics_path=str(tmp_path / "metrics.json"), section="animate")
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


def project_copy(repo: Path, params: dict) -> tuple:
    """The tracked files of the project copied into ``repo`` (no DVC outputs or lock) as a git repository with
    ``params``, and (run, dvc): a command runner in it (the Prefect server of its own, as a user's) and DVC."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in files.split():
        if name.startswith(("data/synth", "data/animate", "dvc.lock")):
            continue
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, repo / name)
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(repo)}  # the copy's code, not the installed project's
    env.pop("PREFECT_HOME", None)
    env.pop("PREFECT_LOCAL_STORAGE_PATH", None)
    env.pop("PREFECT_API_URL", None)
    run = lambda *args: subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True)
    for command in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        assert run(*command).returncode == 0
    return run, [sys.executable, "-m", "dvc"]


@pytest.mark.slow
def test_dvc_repro_runs_then_does_nothing_then_reruns_only_animate(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    params = small_params(repo)
    params["run"]["store"] = ".cache/store"
    run, dvc = project_copy(repo, params)
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


def test_dvc_yaml_is_generated_from_the_declarations():
    """One source of truth: dvc.yaml is what tasks.dag declares (python -m flows.dvc_yaml writes it), so DVC
    never calls a stage up to date while its items' keys changed."""
    from tasks.dag import STAGES
    from flows.dvc_yaml import dvc_yaml_text

    text = (ROOT / "dvc.yaml").read_text()
    assert text == dvc_yaml_text(ROOT / "params.yaml"), "run `python -m flows.dvc_yaml` to regenerate dvc.yaml"
    stages = yaml.safe_load(text)["stages"]
    assert list(stages) == [stage.name for stage in STAGES]
    assert all(stage["cmd"] == f"cinemagraph pipeline {name}" for name, stage in stages.items())
    # A stage's code deps are the modules it runs: the rewrite step reads no renderer, the video step no
    # diffusion model, and no stage depends on the declarations of the others.
    assert "stages/motion/engine.py" not in stages["rewrite"]["deps"]
    assert "stages/diffusion/twins.py" not in stages["video"]["deps"]
    assert all("tasks/dag.py" not in stage["deps"] for stage in stages.values())


TOY_STEP = '''"""A toy step: the length of each rewritten prompt's twin prompt."""

import json

from tasks.batch import ItemStep


def toy_item(item, params, out_dir):
    """length.txt: the number of characters of the twin prompt."""
    length = len(json.loads(item.inputs["rewrite"].read_text())["twin_prompt"]) * params["factor"]
    (out_dir / "length.txt").write_text(str(length))
    return {"length": length}


TOY = ItemStep("toy", toy_item, light=True)
'''

TOY_DECLARATION = """    Stage("toy", "tasks.toy:TOY", params=("toy",), items=PROMPTS,
          inputs={"rewrite": "data/rewrite/{id}/rewrite.json"}, outs={"out_dir": "data/toy"}),
"""


@pytest.mark.slow
def test_a_stage_is_one_step_module_and_one_declaration(tmp_path):
    """Adding a stage: write its step module and its declaration, regenerate dvc.yaml — DVC places it after
    the stage it reads and ``cinemagraph pipeline toy`` runs it, through the code paths of every stage."""
    repo = tmp_path / "repo"
    repo.mkdir()
    params = small_params(repo)
    params.update(run={**params["run"], "executor": "local", "store": ".cache/store"}, toy={"factor": 2})
    run, dvc = project_copy(repo, params)
    (repo / "tasks/toy.py").write_text(TOY_STEP)
    dag = (repo / "tasks/dag.py").read_text()
    end = dag.index("\n)\n\"\"\"Every stage")
    (repo / "tasks/dag.py").write_text(dag[:end + 1] + TOY_DECLARATION + dag[end + 1:])
    assert run(sys.executable, "-m", "flows.dvc_yaml").returncode == 0
    toy = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]["toy"]
    assert toy["deps"][:2] == [params["rewrite"]["prompts"], "data/rewrite"] and "tasks/toy.py" in toy["deps"]
    shown = run(*dvc, "dag", "toy")
    assert shown.returncode == 0 and shown.stdout.index("rewrite") < shown.stdout.index("toy"), shown.stdout
    done = run(*dvc, "repro", "toy")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "toy: 1 ok" in done.stdout
    rewrite = json.loads((repo / "data/rewrite/p0000/rewrite.json").read_text())
    assert (repo / "data/toy/p0000/length.txt").read_text() == str(2 * len(rewrite["twin_prompt"]))
