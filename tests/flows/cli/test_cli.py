"""The ``cinemagraph animate`` command, end to end, including every kind of bad input."""

import json

import numpy as np
import pytest

from tests.conftest import smooth_texture, write_picture
from tests.paths import ROOT
from flows.cli import main
from stages.images import save_png
from stages.video import read_video


@pytest.fixture
def picture(tmp_path):
    return write_picture(tmp_path, 301, 513, np.s_[150:280, 40:480])


def test_animate_writes_a_lossless_loop_flow_and_meta(picture):
    folder, image, mask = picture
    code = main([
        "animate", str(folder / "painting.png"), "--mask", str(folder / "water.png"),
        "--direction", "flowing from left to right", "--frames", "12", "--seed", "3",
        "--save-flow", str(folder / "flow.npy"), "-o", str(folder / "loop.npz")])
    assert code == 0
    frames = read_video(folder / "loop.npz")
    assert frames.shape == (12, 301, 513, 3)
    np.testing.assert_array_equal(frames[0], image)
    assert np.abs(frames[:, ~mask].astype(int) - image[~mask]).max() <= 1
    flow = np.load(folder / "flow.npy")
    assert flow.shape == (2, 301, 513) and np.all(flow[:, ~mask] == 0) and flow[0, mask].mean() > 0.9
    meta = json.loads((folder / "loop_meta.json").read_text())
    assert meta["direction"] == "left to right" and meta["seed"] == 3 and meta["frames"] == 12
    assert (folder / "loop_flow.png").is_file()


def test_gray_and_rgba_pictures_and_hints_work(tmp_path):
    import cv2

    gray = smooth_texture(64, 64)[:, :, 0]
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    rgba = np.dstack([smooth_texture(64, 64), np.full((64, 64), 255, np.uint8)])
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    mask = np.zeros((64, 64), bool)
    mask[10:50, 10:50] = True
    save_png(tmp_path / "m.png", mask)
    for name in ("gray", "rgba"):
        assert main(["animate", str(tmp_path / f"{name}.png"), "--mask", str(tmp_path / "m.png"),
                     "--hint", "30,30,0,1", "--hint", "20,20,0.5,1", "--frames", "4",
                     "-o", str(tmp_path / f"{name}.gif")]) == 0
    assert read_video(tmp_path / "gray.gif").shape == (4, 64, 64, 3)


@pytest.mark.parametrize("change, message", [
    ({"image": "missing.png"}, "image not found"),
    ({"image": "notes.txt"}, "cannot read"),
    ({"mask": "small.png"}, "same width and height"),
    ({"mask": "empty.png"}, "mask is empty"),
    ({"direction": "sideways"}, "accepted: "),
    ({"frames": "1"}, "at least 2"),
    ({"flow": "nan.npy"}, "NaN or infinite"),
    ({"output": "loop.avi"}, "unsupported output"),
])
def test_bad_input_gets_a_clear_message_not_a_traceback(picture, capsys, change, message):
    folder, _, _ = picture
    save_png(folder / "small.png", np.ones((10, 10), bool))
    save_png(folder / "empty.png", np.zeros((301, 513), bool))
    (folder / "notes.txt").write_text("not an image")
    bad_flow = np.zeros((2, 301, 513), np.float32)
    bad_flow[0, 0, 0] = np.nan
    np.save(folder / "nan.npy", bad_flow)
    args = {"image": "painting.png", "mask": "water.png", "direction": "downwards", "frames": "4",
            "output": "loop.mp4", **change}
    argv = ["animate", str(folder / args["image"]), "--mask", str(folder / args["mask"]),
            "--frames", args["frames"], "-o", str(folder / args["output"])]
    argv += ["--flow", str(folder / args["flow"])] if "flow" in args else ["--direction", args["direction"]]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def test_the_executable_exits_with_the_commands_status(tmp_path):
    """``cinemagraph`` (flows.cli.program) exits with main's status: 0, 2 for a user error (one line)."""
    import subprocess
    import sys
    from pathlib import Path

    root = ROOT
    run = lambda *argv: subprocess.run([sys.executable, "-c", "from flows.cli import program; program()", *argv],
                                       cwd=tmp_path, env={"PYTHONPATH": str(root), "PATH": ""},
                                       capture_output=True, text=True, timeout=120)
    shown = run("--help")
    assert shown.returncode == 0 and "animate" in shown.stdout
    refused = run("animate", str(tmp_path / "none.png"), "--mask", str(tmp_path / "none.png"))
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
