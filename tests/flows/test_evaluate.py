"""The evaluate step on real files, the choice of masks and references, and the command end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from flows.cli import main
from flows.evaluate import item_for
from stages.images import save_png
from stages.video import write_video
from tasks.evaluate import evaluate_video
from tasks.video_sets import find_videos

FRAMES = 46  # the shortest video FVD16 accepts


def scene(seed: int, drift: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A 32×32 clip: a still random background and a band of waves looping once every 23 frames."""
    rng = np.random.default_rng(seed)
    background = np.repeat(rng.integers(60, 200, (32, 32, 1)), 3, axis=2).astype(np.float64)
    moving = np.zeros((32, 32), bool)
    moving[10:22] = True
    frames = []
    for t in range(FRAMES):
        frame = background + (t if drift else 0)
        frame[10:22] = (128 + 90 * np.sin(2 * np.pi * (np.arange(32) / 8 - t / 23)))[None, :, None]
        frames.append(frame)
    return np.clip(np.stack(frames), 0, 255).round().astype(np.uint8), moving


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """real/: Eulerian layout with input and mask; fake/: one folder per clip, no masks; one fake drifts."""
    root = tmp_path_factory.mktemp("eval")
    for index in range(2):
        frames, moving = scene(index)
        write_video(root / "real" / f"clip{index}_gt.npz", frames)
        save_png(root / "real" / f"clip{index}_input.png", frames[0])
        save_png(root / "real" / f"clip{index}_mask.png", moving)
        fake, _ = scene(index, drift=index == 1)
        write_video(root / "fake" / f"clip{index}" / f"clip{index}.npz", fake)
    return root


def test_items_find_their_masks_and_references(folders, tmp_path):
    real, fake = find_videos(folders / "real"), find_videos(folders / "fake")
    assert sorted(real) == sorted(fake) == ["clip0", "clip1"]
    item = item_for("fake", fake["clip0"], real["clip0"], None, {})
    assert item.inputs["mask"] == real["clip0"].mask and item.inputs["image"] == real["clip0"].image
    assert item.values["mask_source"] == "real clip's mask file" and item.values["reference_source"] == "input image"
    masks = tmp_path / "masks"
    save_png(masks / "clip0.png", np.ones((32, 32), bool))
    assert item_for("fake", fake["clip0"], real["clip0"], masks, {}).inputs["mask"] == masks / "clip0.png"
    alone = item_for("fake", fake["clip1"], None, None, {})
    assert "mask" not in alone.inputs and alone.values["mask_source"] == "estimated from the video itself"
    assert alone.values["reference_source"] == "first frame"


def test_evaluate_step_writes_metrics_and_features(folders, tmp_path):
    real, fake = find_videos(folders / "real"), find_videos(folders / "fake")
    params = {"i3d": "random", "protocols": ["fvd16", "fvd60"], "margin": 0, "mask_threshold": 2.0}
    still = evaluate_video(item_for("fake", fake["clip0"], real["clip0"], None, {}), params, tmp_path / "a")
    # without FVD protocols no detector is needed, even one that does not exist
    drifting = evaluate_video(item_for("fake", fake["clip1"], real["clip1"], None, {}),
                              {**params, "protocols": [], "i3d": str(tmp_path / "absent.pt")}, tmp_path / "b")
    assert still["static_rmse"] == 0.0 and still["static_drift"] < 1e-9 and still["fvd_protocols"] == "fvd16"
    assert drifting["static_drift"] == pytest.approx(FRAMES - 1, rel=0.02) and drifting["detector_sha256"] is None
    with np.load(tmp_path / "a" / "features.npz") as features:
        assert set(features) == {"fvd16"} and features["fvd16"].shape == (400,)
    assert (tmp_path / "a" / "mask.png").is_file()


@pytest.mark.slow
def test_evaluate_command(prefect_server, folders, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no params.yaml here: defaults, items run in this process
    (folders / "fake" / "broken.mp4").write_bytes(b"not a video")
    try:
        code = main(["evaluate", "--real", str(folders / "real"), "--fake", str(folders / "fake"), "-o", "out",
                     "--i3d", "random", "--protocols", "fvd16"])
    finally:
        (folders / "fake" / "broken.mp4").unlink()
    assert code == 0
    table = pd.read_parquet(tmp_path / "out" / "metrics.parquet")
    assert table.attrs == {}  # what DVC tracks holds no run facts (how many items came from the store)
    assert len(table) == 5 and table.set_index("item").loc["fake_broken", "status"] == "failed"
    done = table[table.status != "failed"].set_index("item")
    assert done.loc["fake_clip1", "static_drift"] > 40 > done.loc["fake_clip0", "static_drift"]
    summary = pd.read_csv(tmp_path / "out" / "summary.csv").set_index("metric")
    assert summary.loc["fvd16", "n_real"] == 2 and summary.loc["fvd16", "n_fake"] == 2
    assert summary.loc["fvd16", "value"] > 0 and len(summary.loc["fvd16", "detector_sha256"]) == 64
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["videos"] == {"real": 2, "fake": 2, "failed": 1}
    assert "fvd16 = " in capsys.readouterr().out


def test_evaluate_without_a_detector_says_where_to_put_one(folders, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CINEMAGRAPH_MODELS", str(tmp_path / "models"))
    (tmp_path / "params.yaml").write_text("evaluate:\n  i3d: null\n")
    assert main(["evaluate", "--real", str(folders / "real"), "--fake", str(folders / "fake")]) == 2
    assert "i3d/i3d_kinetics400.pt" in capsys.readouterr().err
