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

from test_pipeline import ROOT


@pytest.fixture(scope="module")
def params_file(tmp_path_factory):
    """params.yaml at 128² with a quickly trained offline segmenter and short loops."""
    root = tmp_path_factory.mktemp("generate")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    section = {**params["train_segment"], "count": 48, "held_out": 4, "iterations": 150}  # 60 left it thread-dependent
    train_segment(section, root / "segmenter", root / "train_segment.json")
    params["twins"].update(height=128, width=128)
    params["mask"].update(checkpoint=str(root / "segmenter"))
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
    parts = meta["motion"]["parts"]  # no direction in the prompt: every part moves as its class does
    assert parts and all(part["source"].startswith(f"default: a {part['class']} ") for part in parts)
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
                 "--mask", str(tmp_path / "sea.png"), "-o", str(out), "--params", str(params_file)])
    assert code == 0, capsys.readouterr().err
    artistic = load_rgb(out / "artistic.png")
    assert artistic.shape == (64, 96, 3) and np.array_equal(artistic, picture[:64, :96])
    assert json.loads((out / "meta.json").read_text())["twin_source"] == "own-picture"
    flow = np.load(out / "flow.npy")
    inside = mask[:64, :96]
    assert flow[0][inside].mean() < 0 and not flow[:, ~inside].any()  # to the left, nothing else moves


def test_a_region_nobody_can_segment_is_one_line(params_file, tmp_path, capsys):
    code = main(["generate", "a fountain in a garden", "--region", "fountain", "-o", str(tmp_path / "out"),
                 "--params", str(params_file)])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1 and "fountain" in error


def test_a_picture_on_a_diffusion_profile_is_inverted(tmp_path, capsys):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["models"].update(profile="tiny", device="cpu")
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
