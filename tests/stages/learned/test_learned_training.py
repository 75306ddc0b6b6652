"""Training loops: resuming after an interruption, precision settings, and learning on tiny scenes."""

import csv
import json

import numpy as np
import pytest
import torch

from tests.learned_helpers import write_scenes
from stages.errors import InputError
from stages.learned.inference import FlowPredictor
from stages.learned.losses import find_vgg16_weights
from stages.learned.text import TextEncoderOptions
from stages.learned.train_flow import FlowTraining
from stages.learned.train_frame import FrameTraining
from stages.learned.training import resolve_precision

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LOOP = dict(batch_size=2, crop=16, validate_every=1000, checkpoint_every=2, log_every=1, device="cpu")


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return write_scenes(tmp_path_factory.mktemp("scenes"), count=8)


def test_an_interrupted_training_resumes_from_its_last_state(scenes, tmp_path, monkeypatch):
    section = dict(LOOP, iterations=6)
    first = FlowTraining(scenes, section, tmp_path)
    original_step, calls = first.step, []

    def crash_at_five(batch, iteration):
        if iteration == 4:
            raise KeyboardInterrupt
        calls.append(iteration)
        return original_step(batch, iteration)

    monkeypatch.setattr(first, "step", crash_at_five)
    with pytest.raises(KeyboardInterrupt):
        first.run()
    assert calls == [0, 1, 2, 3] and (tmp_path / "state.pt").is_file()
    second = FlowTraining(scenes, section, tmp_path)
    resumed_step, resumed = second.step, []
    monkeypatch.setattr(second, "step", lambda batch, i: resumed.append(i) or resumed_step(batch, i))
    metrics = second.run()
    assert resumed == [4, 5] and second.trainer.iteration == 6
    assert {"epe", "epe_zero", "epe_mean", "epe_caption_direction", "speed_outside"} <= set(metrics)
    with (tmp_path / "losses.csv").open() as stream:
        assert [int(row["step"]) for row in csv.DictReader(stream)] == [1, 2, 3, 4, 5, 6]
    # another configuration does not pick up this state
    other = FlowTraining(scenes, dict(section, lr_g=1e-5), tmp_path)
    assert not other.trainer.load_state()


def test_psnr_of_a_uniform_error_and_inside_a_region():
    from stages.evaluation.video_metrics import psnr

    frames, reference = np.full((2, 4, 5, 3), 110, np.uint8), np.full((2, 4, 5, 3), 100, np.uint8)
    assert psnr(frames, reference) == pytest.approx(20 * np.log10(255 / 10))
    region = np.zeros((4, 5), bool)
    region[1:3, 1:4] = True
    frames[:, ~region] = 0  # errors outside the region do not count
    assert psnr(frames, reference, region) == pytest.approx(20 * np.log10(255 / 10))
    assert psnr(reference / 255, reference / 255 + 0.1, peak=1.0) == pytest.approx(20.0)


def test_the_flow_network_keeps_its_own_text_encoder(scenes, tmp_path):
    # the train_flow section alone names G_flow's caption encoder (the twins' models.profile plays no part)
    training = FlowTraining(scenes, dict(LOOP, iterations=1, text_encoder="tiny"), tmp_path)
    assert training.text == TextEncoderOptions("tiny", None, direction_token=True)
    record = json.loads((training.export(tmp_path / "model", training.validate()) / "g_flow.json").read_text())
    assert record["text_encoder"]["profile"] == "tiny" and record["config"]["caption_direction"]
    assert FlowPredictor(tmp_path / "model").text == training.text  # inference embeds captions the same way
    with pytest.raises(InputError, match="unknown text encoder 'sd99'"):
        FlowTraining(scenes, dict(LOOP, text_encoder="sd99"), tmp_path)


def test_the_cosine_schedule_takes_the_learning_rates_from_their_value_to_zero():
    from stages.learned.training import LoopOptions

    cosine = LoopOptions.from_params({"iterations": 100, "lr_schedule": "cosine"})
    assert [cosine.lr_factor(i) for i in (0, 50, 100)] == pytest.approx([1.0, 0.5, 0.0], abs=1e-12)
    assert LoopOptions.from_params({"iterations": 100}).lr_factor(99) == 1.0
    with pytest.raises(InputError, match="lr_schedule must be constant or cosine"):
        LoopOptions.from_params({"lr_schedule": "linear"})


def test_precision_choices():
    assert resolve_precision("auto", torch.device("cpu")) is None
    assert resolve_precision("bfloat16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(InputError, match="float16 autocast needs a GPU"):
        resolve_precision("float16", torch.device("cpu"))
    with pytest.raises(InputError, match="precision must be"):
        resolve_precision("half", torch.device("cpu"))


def test_flow_training_runs_in_bfloat16(scenes, tmp_path):
    training = FlowTraining(scenes, dict(LOOP, iterations=2, precision="bfloat16"), tmp_path)
    losses = training.step(next(iter(torch.utils.data.DataLoader(training.train_set, batch_size=2))), 0)
    assert {"d", "gan", "feature_matching", "epe_px"} <= set(losses) and all(np.isfinite(list(losses.values())))
    assert np.isfinite(training.run()["epe"])


def test_frame_training_runs_in_bfloat16_and_compares_with_the_engine(scenes, tmp_path):
    training = FrameTraining(scenes, dict(LOOP, iterations=2, precision="bfloat16", eval_stride=3), tmp_path)
    metrics = training.run()
    assert {"psnr_sample", "psnr_learned", "psnr_renderer"} <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())
    expected = "image gradients" if find_vgg16_weights(None) is None else "VGG-16"  # what is on this disk
    assert training.perceptual_name.startswith(expected)


@pytest.mark.slow
def test_directional_flow_network_learns_the_direction(scenes, tmp_path):
    # The hint gives the direction; the speed must be learned. After a short training the held-out error
    # must beat predicting zero flow and predicting the training set's mean flow.
    section = dict(LOOP, iterations=80, batch_size=4, crop=32, conditioning="hint", gan_weight=0,
                   feature_matching_weight=0, lr_g=2e-3, ema_decay=0.9, checkpoint_every=1000, log_every=20)
    metrics = FlowTraining(scenes, section, tmp_path).run()
    assert metrics["epe"] < 0.7 * metrics["epe_zero"]
    assert metrics["epe"] < metrics["epe_mean"]


@pytest.mark.slow
def test_text_flow_network_learns_the_direction_its_captions_name(scenes, tmp_path):
    # The caption names the direction (read into the conditioning map); speed and which pixels move must be
    # learned. After a short training the held-out error must beat zero flow, the training mean flow and
    # moving the whole mask the caption's way at the mean speed (without the direction map it stays ≈ zero flow's).
    section = dict(LOOP, iterations=80, batch_size=4, crop=32, gan_weight=0, feature_matching_weight=0,
                   lr_g=2e-3, lr_schedule="cosine", ema_decay=0.9, checkpoint_every=1000, log_every=20)
    metrics = FlowTraining(scenes, section, tmp_path).run()
    assert metrics["epe"] < 0.5 * metrics["epe_zero"]
    assert metrics["epe"] < min(metrics["epe_mean"], metrics["epe_caption_direction"])


def test_a_misspelt_training_setting_is_refused_with_its_name(scenes, tmp_path):
    with pytest.raises(InputError, match=r"unknown key\(s\) iteratoins in params section 'train_flow'"):
        FlowTraining(scenes, dict(LOOP, iteratoins=5), tmp_path)
    with pytest.raises(InputError, match=r"unknown key\(s\) lr in params section 'train_frame'"):
        FrameTraining(scenes, dict(LOOP, lr=0.1), tmp_path)
