"""Checkpoints: round trips, and clear errors for another architecture, another config or a corrupt file."""

import json

import numpy as np
import pytest
import torch

from tests.learned_helpers import flow_checkpoint, frame_checkpoint
from stages.errors import InputError
from stages.learned.checkpoint import read_checkpoint
from stages.learned.flow_net import FlowNet, FlowNetConfig
from stages.learned.inference import FlowPredictor, load_frame_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_a_saved_flow_network_predicts_the_same_after_loading(tmp_path, texture):
    folder = flow_checkpoint(tmp_path / "g_flow", seed=3)
    record, state = read_checkpoint(folder, "g_flow")
    assert record["config"]["conditioning"] == "text" and record["text_encoder"]["profile"] == "tiny"
    predictor = FlowPredictor(folder)
    torch.manual_seed(3)  # the network flow_checkpoint built and saved, built again independently
    built = FlowNet(FlowNetConfig(**record["config"])).state_dict()
    for name, tensor in predictor.model.state_dict().items():
        torch.testing.assert_close(tensor, state[name])
        torch.testing.assert_close(tensor, built[name])
    mask = np.zeros(texture.shape[:2], bool)
    mask[10:50, 10:90] = True
    flow = predictor.predict(texture, mask, caption="a river flowing left to right")
    again = FlowPredictor(folder).predict(texture, mask, caption="a river flowing left to right")
    np.testing.assert_array_equal(flow, again)
    assert flow.shape == (2, *mask.shape) and np.all(flow[:, ~mask] == 0)
    clamped = predictor.predict(texture, mask, caption="a river", max_flow=1e-4, speed=3.0)
    assert np.abs(clamped).max() <= 3e-4 + 1e-9
    with pytest.raises(InputError, match="give a prompt"):
        predictor.predict(texture, mask)


def test_loading_the_other_network_names_what_the_folder_holds(tmp_path):
    frame_checkpoint(tmp_path / "g_frame")
    with pytest.raises(InputError, match="no g_flow checkpoint .* holds a g_frame checkpoint"):
        FlowPredictor(tmp_path / "g_frame")
    # a g_frame record renamed to look like a g_flow one is still recognised
    (tmp_path / "g_frame/g_frame.json").rename(tmp_path / "g_frame/g_flow.json")
    with pytest.raises(InputError, match="describes a 'g_frame' network, not g_flow"):
        FlowPredictor(tmp_path / "g_frame")


def test_weights_of_another_architecture_are_refused(tmp_path):
    folder = frame_checkpoint(tmp_path / "g_frame")
    record = json.loads((folder / "g_frame.json").read_text())
    record["config"]["channels"] = [8, 16, 32]  # the weights are for two levels
    (folder / "g_frame.json").write_text(json.dumps(record))
    with pytest.raises(InputError, match="do not fit the architecture .*missing: decoder.2"):
        load_frame_model(folder)
    record["config"] = {"channels": [8, 16], "colour": 3}
    (folder / "g_frame.json").write_text(json.dumps(record))
    with pytest.raises(InputError, match="does not match this version"):
        load_frame_model(folder)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "json", "missing"])
def test_corrupt_checkpoints_give_a_clear_error(tmp_path, damage):
    folder = frame_checkpoint(tmp_path / "g_frame")
    weights, meta = folder / "g_frame.safetensors", folder / "g_frame.json"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "garbage":
        weights.write_bytes(b"\x00" * 64)
    elif damage == "json":
        meta.write_text('{"architecture": "g_fr')
    else:
        weights.unlink()
    with pytest.raises(InputError, match="corrupt|incomplete"):
        load_frame_model(folder)
