"""Steps holding learned networks run in the stage's process only when the networks are small."""

from __future__ import annotations

import os

from stages.learned.loading import SMALL_WEIGHTS_BYTES, checkpoint_files
from tasks.animate import small_learned_networks
from tasks.generate import small_g_flow, small_g_frame


def weights_of(folder, name: str, size: int):
    """A checkpoint folder whose weights file has ``size`` bytes (sparse: nothing is written)."""
    weights = checkpoint_files(name, folder)[0]
    weights.parent.mkdir(parents=True, exist_ok=True)
    with open(weights, "wb") as handle:
        handle.truncate(size)
    return str(folder)


def test_a_step_is_light_only_when_every_network_it_reads_is_small(tmp_path):
    small, large = SMALL_WEIGHTS_BYTES, SMALL_WEIGHTS_BYTES + 1
    small_flow = weights_of(tmp_path / "small_flow", "flow_model", small)
    large_flow = weights_of(tmp_path / "large_flow", "flow_model", large)
    small_frame = weights_of(tmp_path / "small_frame", "frame_model", small)
    large_frame = weights_of(tmp_path / "large_frame", "frame_model", large)
    assert os.path.getsize(checkpoint_files("flow_model", large_flow)[0]) == large

    assert small_g_flow({"source": "g_flow", "flow_model": small_flow})
    assert not small_g_flow({"source": "g_flow", "flow_model": large_flow})
    assert not small_g_flow({"source": "g_flow", "flow_model": str(tmp_path / "missing")})
    assert small_g_flow({"source": "direction", "flow_model": large_flow})  # a rule reads no network

    assert small_g_frame({}) and small_g_frame({"frame_model": small_frame})
    assert not small_g_frame({"frame_model": large_frame})

    learned = {"motion": "learned", "renderer": "learned"}
    assert small_learned_networks({**learned, "flow_model": small_flow, "frame_model": small_frame})
    assert not small_learned_networks({**learned, "flow_model": small_flow, "frame_model": large_frame})
    assert not small_learned_networks({**learned, "flow_model": large_flow, "frame_model": small_frame})
    assert small_learned_networks({"motion": "hints", "renderer": "engine", "flow_model": large_flow,
                                   "frame_model": large_frame})  # neither network is read
