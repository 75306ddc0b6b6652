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

    from flows.pipeline import animate_flow, synth_flow

    params = small_params(tmp_path)
    synth = synth_flow(params, out_dir=str(tmp_path / "synth"))
    assert list(synth.status) == ["ok"] * 3
    assert set(synth.split) == {"train", "validation"}
    # Corrupt one scene's picture: that item fails with its error, the others complete.
    (tmp_path / "synth/scene0001/scene0001_input.png").write_bytes(b"broken")
    animate = lambda: animate_flow(params, scenes=str(tmp_path / "synth"), out_dir=str(tmp_path / "animate"),
                                   metrics_path=str(tmp_path / "metrics.json"))
    first = animate().set_index("id")
    assert list(first.status) == ["ok", "failed", "ok"]
    assert "cannot read" in first.loc["scene0001", "error"]
    assert first.loc["scene0000", "static_max_error"] == 0
    assert (tmp_path / "animate/scene0000/scene0000.mp4").is_file()
    on_disk = pd.read_parquet(tmp_path / "animate/manifest.parquet").set_index("id")
    assert on_disk.loc["scene0001", "status"] == "failed"
    # A re-run resumes: finished items come from the cache, even after their outputs were deleted.
    shutil.rmtree(tmp_path / "animate")
    second = animate().set_index("id")
    assert list(second.status) == ["cached", "failed", "cached"]
    assert (tmp_path / "animate/scene0002/scene0002_flow.png").is_file()
    # The key follows the file's content, not its path: repairing the picture recomputes only that item.
    shutil.copy(tmp_path / "synth/scene0000/scene0000_input.png", tmp_path / "synth/scene0001/scene0001_input.png")
    third = animate().set_index("id")
    assert list(third.status) == ["cached", "ok", "cached"]
    # New parameters: new keys.
    params["animate"]["speed"] = 0.5
    assert set(animate().status) == {"ok"}
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


def test_every_dvc_stage_depends_on_the_code_its_cache_keys_hash():
    """Otherwise DVC would call a stage up to date while its items' keys (and results) have changed."""
    from tasks.animate import ANIMATE, ANIMATE_LEARNED
    from tasks.evaluate import EVALUATE
    from tasks.synth import SYNTH
    from tasks.train import LEARNED_MODULES
    from tasks.twins import ATTENTION, REWRITE, TWINS

    hashed = {"synth": SYNTH.code, "synth_train": SYNTH.code, "animate": ANIMATE.code, "evaluate": EVALUATE.code,
              "rewrite": REWRITE.code, "twins": TWINS.code, "attention": ATTENTION.code,
              "train_flow": LEARNED_MODULES, "train_frame": LEARNED_MODULES, "animate_learned": ANIMATE_LEARNED.code}
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert set(stages) == set(hashed)
    for name, modules in hashed.items():
        deps = stages[name]["deps"]
        missing = [path for path in (module.replace(".", "/") + ".py" for module in modules)
                   if path not in deps and not any(path.startswith(dep + "/") for dep in deps)]
        assert not missing, f"dvc.yaml stage {name} lacks deps {missing}"
