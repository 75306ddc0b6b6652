"""From a prompt to a cinemagraph on the procedural world: every file, the loop's exactness, the mask's truth;
from a picture: its own twin (procedural) or its DDIM inversion (tiny)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from flows.cli import main
from stages.images import load_mask, load_rgb, save_png
from stages.masks.clustering import cluster_attention
from tasks.masks import train_segment

from tests.learned_helpers import flow_checkpoint
from tests.paths import ROOT


@pytest.fixture(scope="module")
def params_file(tmp_path_factory):
    """params.yaml at 128² with a quickly trained offline segmenter, an untrained G_flow and short loops."""
    root = tmp_path_factory.mktemp("generate")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    section = {**params["train_segment"], "count": 48, "held_out": 4, "iterations": 150}  # 60 left it thread-dependent
    train_segment(section, root / "segmenter", root / "train_segment.json")
    flow_checkpoint(root / "g_flow", seed=3)
    params["twins"].update(height=128, width=128)
    params["mask"].update(checkpoint=str(root / "segmenter"))
    params["flow"].update(flow_model=str(root / "g_flow"))
    params["video"].update(frames=12, formats=["mp4", "npz"])
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root / "params.yaml"


def test_generate_writes_every_step_and_an_exact_loop(params_file, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["generate", "a waterfall falling between hills, watercolor painting", "-o", str(out),
                 "--params", str(params_file), "--seed", "3"])
    assert code == 0, capsys.readouterr().err
    for name in ("artistic.png", "realistic.png", "attention.npy", "clusters.png", "segmentation.png", "mask.png",
                 "mask_overlay.png", "mask.json", "flow.npy", "flow.png", "motion.json", "cinemagraph.mp4",
                 "cinemagraph.npz", "cinemagraph_meta.json", "index.html"):
        assert (out / name).is_file(), name
    artistic, mask = load_rgb(out / "artistic.png"), load_mask(out / "mask.png")
    frames = np.load(out / "cinemagraph.npz")["frames"]
    assert frames.shape == (12, 128, 128, 3)
    assert np.array_equal(frames[0], artistic)
    assert all(np.array_equal(frame[~mask], artistic[~mask]) for frame in frames)
    meta = json.loads((out / "cinemagraph_meta.json").read_text())
    assert meta["region"] == "waterfall" and meta["seed"] == 3
    motion = meta["motion"]  # G_flow's (an untrained one here), clamped to ±1 px/frame, halved
    assert motion["source"] == "g_flow" and motion["scale"] == 0.5 and motion["parts"]
    assert all(part["source"].startswith("G_flow (text-conditioned)") for part in motion["parts"])
    flow = np.load(out / "flow.npy")
    assert np.abs(flow).max() <= 0.5 + 1e-6 and flow[:, mask].any() and not flow[:, ~mask].any()
    truth = load_mask(out / "truth_mask.png")
    assert mask.any() and (mask & truth).sum() / mask.sum() > 0.8  # what moves is the waterfall (quality: DVC metrics)
    assert "cinemagraph.mp4" in (out / "index.html").read_text()


def painting_and_sea(folder: Path, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A random 100×72 picture (``painting.png``) and a sea mask across its lower part (``sea.png``) in
    ``folder`` → both arrays."""
    picture = np.random.default_rng(seed).integers(0, 256, (72, 100, 3), dtype=np.uint8)
    mask = np.zeros((72, 100), bool)
    mask[40:70, 10:90] = True
    save_png(folder / "painting.png", picture)
    save_png(folder / "sea.png", mask)
    return picture, mask


def test_a_picture_with_a_given_mask_is_its_own_twin(params_file, tmp_path, capsys):
    picture, mask = painting_and_sea(tmp_path, seed=0)
    out = tmp_path / "out"
    code = main(["generate", "the ninth wave, a stormy sea flowing to the left", "--image", str(tmp_path / "painting.png"),
                 "--mask", str(tmp_path / "sea.png"), "--motion", "direction", "-o", str(out), "--params",
                 str(params_file)])
    assert code == 0, capsys.readouterr().err
    artistic = load_rgb(out / "artistic.png")
    assert np.array_equal(artistic, picture)  # the whole picture, at its exact size (72 × 100: no crop to 16s)
    assert json.loads((out / "meta.json").read_text())["twin_source"] == "own-picture"
    assert np.load(out / "cinemagraph.npz")["frames"].shape[1:3] == (72, 100)
    flow = np.load(out / "flow.npy")
    assert flow[0][mask].mean() < 0 and not flow[:, ~mask].any()  # to the left, nothing else moves


def test_a_region_nobody_can_segment_is_one_line(params_file, tmp_path, capsys):
    code = main(["generate", "a fountain in a garden", "--region", "fountain", "-o", str(tmp_path / "out"),
                 "--params", str(params_file)])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1 and "fountain" in error


def test_a_picture_on_a_diffusion_profile_is_inverted(tmp_path, capsys):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["models"].update(profile="tiny", device="cpu")
    params["flow"].update(source="direction")
    params["twins"].update(height=64, width=64, steps=4)
    params["video"].update(frames=4, formats=["npz"])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    picture, _ = painting_and_sea(tmp_path, seed=1)
    out = tmp_path / "out"
    code = main(["generate", "the ninth wave, a stormy sea flowing to the left", "--image",
                 str(tmp_path / "painting.png"), "--mask", str(tmp_path / "sea.png"), "--inversion-steps", "8",
                 "-o", str(out), "--params", str(tmp_path / "params.yaml")])
    assert code == 0, capsys.readouterr().err
    assert np.array_equal(load_rgb(out / "artistic.png"), picture)  # the user's picture, whole
    assert load_rgb(out / "realistic.png").shape == picture.shape  # pixel-aligned with the picture
    assert load_rgb(out / "reconstruction.png").shape == (64, 64, 3)  # the artistic pass, at the twins' size
    assert np.array_equal(np.load(out / "cinemagraph.npz")["frames"][0], picture)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["twin_source"] == "ddim-inversion" and meta["attention_grid"] == [4, 4]
    assert meta["inversion"]["steps"] == 8 and meta["inversion"]["timesteps"][-1] == meta["timesteps"][0] == 751
    assert {"prompt", "twin_prompt", "region", "model", "twins", "attention", "timesteps", "files"} <= set(meta)
    attention = np.load(out / "attention.npy")
    assert attention.shape == (16, 16) and attention.dtype == np.float32
    assert cluster_attention(attention, tuple(meta["attention_grid"]), 3).shape == (4, 4)
    video_meta = json.loads((out / "cinemagraph_meta.json").read_text())
    assert video_meta["twin_source"] == "ddim-inversion" and video_meta["inversion"]["steps"] == 8


def hashes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` → its bytes."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.mark.parametrize("options, words", [
    (["--seed", "-1"], "--seed"),
    (["--speed", "nan"], "--speed"),
    (["--frames", "1"], "--frames"),
    (["--format", "avi2"], "avi2"),
    (["--image", "{dir}/out/artistic.png", "--mask", "{dir}/out/mask.png"], "would overwrite --image"),
    (["--image", "{dir}/painting.png", "--mask", "{dir}/small.png"], "small.png"),
    (["-o", "{dir}/painting.png"], "is a file"),
    (["--image", "{dir}/painting.png"], "not a picture of the procedural world"),
])
def test_bad_generate_input_is_one_line_before_any_file_is_written(params_file, tmp_path, capsys, options, words):
    """Values by the params rules, files and sizes, outputs onto inputs: refused first, the user's files kept."""
    painting_and_sea(tmp_path, seed=0)
    save_png(tmp_path / "small.png", np.ones((20, 20), bool))
    (tmp_path / "out").mkdir()
    save_png(tmp_path / "out/artistic.png", np.zeros((72, 100, 3), np.uint8))
    save_png(tmp_path / "out/mask.png", np.ones((72, 100), bool))
    before = hashes(tmp_path)
    options = [option.format(dir=tmp_path) for option in options]
    output = [] if "-o" in options else ["-o", str(tmp_path / "out")]
    code = main(["generate", "a stormy sea", *output, "--params", str(params_file), *options])
    error = capsys.readouterr().err
    assert code == 2 and words in error and error.count("\n") == 1 and "Traceback" not in error, error
    assert hashes(tmp_path) == before


def test_a_picture_of_the_procedural_world_needs_no_mask(params_file, tmp_path, capsys):
    """The offline segmenter reads its own world's pictures (they carry their provenance), even copied away."""
    first = tmp_path / "first"
    assert main(["generate", "a calm lake under a cloudy sky, watercolor painting", "-o", str(first),
                 "--params", str(params_file)]) == 0, capsys.readouterr().err
    picture = tmp_path / "lake.png"
    picture.write_bytes((first / "artistic.png").read_bytes())
    out = tmp_path / "again"
    assert main(["generate", "a calm lake under a cloudy sky", "--image", str(picture), "-o", str(out),
                 "--params", str(params_file)]) == 0, capsys.readouterr().err
    assert load_mask(out / "mask.png").any() and json.loads((out / "meta.json").read_text())["twin_source"] == \
        "own-picture"


@pytest.mark.slow
def test_generate_works_in_an_empty_folder_and_trains_the_offline_segmenter_once(tmp_path):
    """No params.yaml, nothing trained: the offline default (procedural), the segmenter trained into the user
    model cache on the first run and reused on the second (the motion by rule: G_flow trained on demand is
    tested in tests/tasks/test_offline_models.py)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "CINEMAGRAPH_MODELS": str(tmp_path / "models"), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", "from flows.cli import program; program()", "generate",
               "a calm lake under a cloudy sky, watercolor painting", "--frames", "4", "--motion", "direction", "-o"]
    first = subprocess.run([*command, "out1"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "training the offline segmenter once" in first.stderr
    meta = json.loads((tmp_path / "out1/cinemagraph_meta.json").read_text())
    assert meta["model"]["profile"] == "procedural" and load_mask(tmp_path / "out1/mask.png").any()
    assert [path.name.split("-")[0] for path in (tmp_path / "models").iterdir() if not path.name.startswith(".")] \
        == ["segmenter"]
    second = subprocess.run([*command, "out2"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert second.returncode == 0 and "training" not in second.stderr, second.stderr
    assert (tmp_path / "out1/cinemagraph.mp4").read_bytes() == (tmp_path / "out2/cinemagraph.mp4").read_bytes()
