"""The learned stages as Prefect flows: synth_train → train_flow → train_frame → animate_learned."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.paths import ROOT


@pytest.mark.slow
def test_training_stages_feed_the_learned_animate_stage(prefect_server, tmp_path, one_torch_thread, monkeypatch):
    from flows.animate import animate_flow
    from tasks.dag import declared
    from flows.synth import synth_flow
    from flows.learned import train_flow_stage, train_frame_stage
    from stages.learned.train_flow import FlowTraining

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["run"].update(store=str(tmp_path / ".cache/store"), executor="local")
    params["synth_train"].update(count=8, height=32, width=48, frames=6, validation_every=4)
    params["synth"].update(count=2, height=32, width=48, frames=6)
    loop = dict(data=str(tmp_path / "synth_train"), iterations=4, batch_size=2, crop=24, validate_every=2,
                checkpoint_every=2, log_every=2, device="cpu")
    params["train_flow"].update(loop)
    params["train_frame"].update(loop, flow_model=str(tmp_path / "g_flow"), predicted_flow_iterations=2,
                                 eval_stride=3)
    params["animate_learned"].update(frames=6, flow_model=str(tmp_path / "g_flow"),
                                     frame_model=str(tmp_path / "g_frame"))
    assert all(declared(name) for name in ("synth_train", "train_flow", "train_frame", "animate_learned"))
    synth_flow(params, out_dir=str(tmp_path / "synth_train"), section="synth_train")
    assert json.loads((tmp_path / "synth_train/splits.json").read_text())["validation"] == ["scene0003", "scene0007"]
    plots = lambda name: (str(tmp_path / f"plots/{name}_losses.csv"), str(tmp_path / f"plots/{name}_validation.csv"))
    flow_run = train_flow_stage(params, str(tmp_path / "g_flow"), str(tmp_path / "train_flow.json"),
                                *plots("train_flow"))
    assert flow_run.status.tolist() == ["ok"]
    metrics = json.loads((tmp_path / "train_flow.json").read_text())
    assert {"epe", "epe_zero", "epe_mean", "speed_outside"} <= set(metrics)
    losses = pd.read_csv(tmp_path / "plots/train_flow_losses.csv")
    assert losses.step.tolist() == [2, 4] and "epe_px" in losses
    train_frame_stage(params, str(tmp_path / "g_frame"), str(tmp_path / "train_frame.json"), *plots("train_frame"))
    assert {"psnr_learned", "psnr_renderer"} <= set(json.loads((tmp_path / "train_frame.json").read_text()))
    assert (tmp_path / "g_frame/g_frame.safetensors").is_file()
    # the generation side reads the checkpoints
    synth_flow(params, out_dir=str(tmp_path / "synth"), section="synth")
    manifest = animate_flow(params, scenes=str(tmp_path / "synth"), out_dir=str(tmp_path / "animate"),
                            metrics_path=str(tmp_path / "animate.json"), section="animate_learned")
    assert manifest.status.tolist() == ["ok", "ok"]
    meta = json.loads((tmp_path / "animate/scene0000/scene0000_meta.json").read_text())
    assert meta["motion"] == "G_flow (text-conditioned)" and meta["renderer"] == "G_frame"
    # a re-run of the training stage resumes from its finished state instead of training again
    steps = []
    monkeypatch.setattr(FlowTraining, "step", lambda self, batch, iteration: steps.append(iteration) or {})
    curves = [Path(path).read_bytes() for path in plots("train_flow")]
    again = train_flow_stage(params, str(tmp_path / "g_flow_again"), str(tmp_path / "again.json"),
                             *plots("train_flow"))
    assert steps == []
    assert again.epe.tolist() == flow_run.epe.tolist()
    assert [Path(path).read_bytes() for path in plots("train_flow")] == curves  # no row added twice
