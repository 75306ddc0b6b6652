"""The learned networks in use: ``cinemagraph animate --flow-model/--frame-model`` and the animate step."""

import json

import numpy as np
import pytest

from tests.conftest import write_picture
from flows.cli import main
from tests.learned_helpers import flow_checkpoint, frame_checkpoint, write_scenes
from stages.scenes.eulerian import list_clips
from stages.video import read_video
from tasks.animate import animate_item, learned_inputs
from tasks.batch import Item

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {"text": flow_checkpoint(root / "g_flow"), "hint": flow_checkpoint(root / "g_flow_hint", "hint"),
            "frame": frame_checkpoint(root / "g_frame")}


@pytest.fixture
def picture(tmp_path):
    return write_picture(tmp_path, 40, 56, np.s_[20:36, 4:50])


def animate(folder, *extra):
    return main(["animate", str(folder / "painting.png"), "--mask", str(folder / "water.png"), "--frames", "6",
                 "-o", str(folder / "loop.npz"), *extra])


def test_animate_with_both_networks_says_so_in_meta(picture, checkpoints):
    folder, image, mask = picture
    code = animate(folder, "--flow-model", str(checkpoints["text"]), "--prompt", "a river flowing to the left",
                   "--frame-model", str(checkpoints["frame"]), "--save-flow", str(folder / "flow.npy"))
    assert code == 0
    meta = json.loads((folder / "loop_meta.json").read_text())
    assert meta["motion"] == "G_flow (text-conditioned)" and meta["prompt"] == "a river flowing to the left"
    assert meta["renderer"] == "G_frame" and meta["frame_model"] == str(checkpoints["frame"])
    frames = read_video(folder / "loop.npz")
    np.testing.assert_array_equal(frames[0], image)
    assert np.all(frames[:, ~mask] == image[~mask])
    flow = np.load(folder / "flow.npy")
    assert np.all(flow[:, ~mask] == 0) and np.abs(flow).max() <= 1.0  # --max-flow 1 by default


def test_the_directional_network_reads_the_direction(picture, checkpoints):
    folder, _, _ = picture
    assert animate(folder, "--flow-model", str(checkpoints["hint"]), "--direction", "downwards") == 0
    meta = json.loads((folder / "loop_meta.json").read_text())
    assert meta["motion"] == "G_flow (hint-conditioned)" and meta["direction"] == "downwards"
    assert meta["renderer"] == "softmax splatting (motion engine)"


@pytest.mark.parametrize("extra, message", [
    (["--flow-model", "TEXT", "--hint", "3,3,1,0"], "drop --hint and --flow"),
    (["--flow-model", "TEXT"], "give --prompt"),
    (["--flow-model", "HINT", "--prompt", "a river"], "give --direction"),
    (["--flow-model", "FRAME", "--prompt", "a river"], "no g_flow checkpoint"),
    (["--direction", "left", "--hint", "3,3,1,0"], "exactly one of"),
    ([], "exactly one of"),
    (["--direction", "left", "--prompt", "a river"], "add --flow-model"),
])
def test_bad_learned_arguments_are_explained(picture, checkpoints, capsys, extra, message):
    folders = {"TEXT": checkpoints["text"], "HINT": checkpoints["hint"], "FRAME": checkpoints["frame"]}
    assert animate(picture[0], *[str(folders.get(a, a)) for a in extra]) == 2
    assert message in capsys.readouterr().err


def test_the_animate_step_uses_the_configured_checkpoints(tmp_path, checkpoints):
    root = write_scenes(tmp_path / "scenes", count=1, height=32, width=48, frames=6)
    clip = list_clips(root)[0]
    params = dict(frames=6, fps=10, speed=1.0, feather_px=3.0, motion="learned", renderer="learned",
                  flow_model=str(checkpoints["text"]), frame_model=str(checkpoints["frame"]), max_flow=None)
    inputs = {"image": clip.image, "mask": clip.mask, "motion": clip.motion, "video": clip.video,
              **learned_inputs(params)}
    assert inputs["flow_model"].name == "g_flow.safetensors"  # its digest joins the item's cache key
    meta = animate_item(Item(clip.id, inputs, {"caption": "a lake rippling"}), params, tmp_path / "out")
    assert meta["motion"] == "G_flow (text-conditioned)" and meta["renderer"] == "G_frame"
    written = json.loads((tmp_path / "out" / f"{clip.id}_meta.json").read_text())
    assert written["flow_model"] == str(checkpoints["text"]) and written["frames"] == 6
    assert np.isfinite(meta["psnr_moving"])
