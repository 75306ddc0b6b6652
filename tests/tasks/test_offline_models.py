"""G_flow trained on demand outside the repository: once, into the user model cache, then reused."""

import json

from flows.params import default_params
from stages.motion.sources import FlowOptions
from tasks.offline_models import flow_model_checkpoint, trained_flow_model


def test_g_flow_is_trained_once_into_the_model_cache_and_a_given_one_is_kept(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CINEMAGRAPH_MODELS", str(tmp_path / "models"))
    monkeypatch.chdir(tmp_path)  # no data/models/g_flow here
    params = default_params()
    scenes = {**params["synth_train"], "count": 4, "height": 32, "width": 48, "frames": 8, "validation_every": 4}
    training = {**params["train_flow"], "iterations": 2, "batch_size": 2, "crop": 32, "validate_every": 2,
                "checkpoint_every": 2, "device": "cpu"}
    folder = flow_model_checkpoint(FlowOptions.flow_model, scenes, training)
    assert "training G_flow" in capsys.readouterr().err
    assert folder.startswith(str(tmp_path / "models" / "g_flow-")) and trained_flow_model(tmp_path / folder)
    assert json.loads((tmp_path / folder / "g_flow.json").read_text())["iterations"] == 2
    assert [path.name for path in (tmp_path / "models").iterdir() if not path.name.startswith(".")] == \
        [folder.rsplit("/", 1)[1]]  # the scenes and the training state went with the temporary folder
    assert flow_model_checkpoint(FlowOptions.flow_model, scenes, training) == folder
    assert "training" not in capsys.readouterr().err
    assert flow_model_checkpoint("elsewhere/g_flow", scenes, training) == "elsewhere/g_flow"  # the user's to fix
