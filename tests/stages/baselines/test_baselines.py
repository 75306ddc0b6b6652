"""The diffusion baselines: their native lengths and sizes, tiny random runs through the real pipelines, real
weights read from folders or the Hugging Face cache with no network, and one-line refusals."""

from __future__ import annotations

import dataclasses
import inspect
import json
import socket
import urllib.request

import numpy as np
import pytest

from stages.baselines.common import BASELINES, BaselineOptions, BaselineSettings, skip_reason
from stages.baselines.run import BASELINE_NAMES, baseline, make_baseline, run_baseline
from stages.baselines.svd import crop_to_aspect
from stages.baselines.text_to_video import noise_window
from stages.diffusion.models import ModelOptions, load_models
from stages.errors import InputError
from stages.video import read_video, video_fps
from tests.conftest import smooth_texture
from tests.stages.diffusion.test_models import save_diffusers_folder

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = BaselineSettings(ModelOptions(profile="tiny"))
PICTURE = smooth_texture(96, 128)
# Frames per video: the paper's appendix F for Text2Video-Zero (8), the pipelines' defaults for the others.
FRAMES = {"text2video_zero": 8, "animatediff": 16, "svd": 14}
# Frames per second: diffusers' Text2Video-Zero example, AnimateDiff's own samples, SVD's conditioning default.
FPS = {"text2video_zero": 4, "animatediff": 8, "svd": 7}
PROMPT = "a waterfall in the style of van gogh"


@pytest.fixture
def no_network(monkeypatch):
    """Every attempt to resolve a name or open a connection, refused and listed."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[1] if len(args) > 1 else args[0])
        raise OSError("network access in a test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """An empty Hugging Face cache and an empty $CINEMAGRAPH_MODELS."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("CINEMAGRAPH_MODELS", str(tmp_path / "models"))
    return tmp_path


def test_the_network_guard_sees_a_connection(no_network):
    with pytest.raises(OSError):
        urllib.request.urlopen("http://example.org", timeout=1)
    assert no_network


def test_every_baseline_is_registered_under_its_name():
    assert set(BASELINES) == set(BASELINE_NAMES) == {"text2video_zero", "animatediff", "svd"}


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_a_tiny_baseline_writes_its_video_at_native_length_and_is_seeded(name, no_network, tmp_path):
    record = make_baseline(name, TINY, PROMPT, PICTURE, 0, tmp_path / "videos" / f"{name}.npz")
    frames = read_video(tmp_path / "videos" / f"{name}.npz")
    height, width = (64, 112) if name == "svd" else (64, 64)
    assert frames.shape == (FRAMES[name], height, width, 3)
    assert frames.std(axis=0).mean() > 1  # frames differ from each other: a video, not a still
    assert {key: record[key] for key in ("status", "method", "frames", "height", "width", "fps", "seed", "steps",
                                         "prompt", "video")} == dict(
        status="made", method=name, frames=FRAMES[name], height=height, width=width, fps=FPS[name], seed=0,
        steps=3, prompt=PROMPT, video=f"{name}.npz")
    assert record["weights"] and all("tiny random" in weights for weights in record["weights"])
    assert json.loads((tmp_path / "videos" / f"{name}_meta.json").read_text()) == record
    again = run_baseline(name, TINY, PROMPT, PICTURE, 0)
    other = run_baseline(name, TINY, PROMPT, PICTURE, 1)
    assert np.array_equal(frames, again.frames)
    assert np.abs(frames.astype(int) - other.frames).mean() > 1
    assert no_network == []


def test_a_baseline_video_plays_at_its_fps(tmp_path):
    record = make_baseline("animatediff", TINY, PROMPT, None, 0, tmp_path / "animatediff.mp4")
    assert video_fps(tmp_path / "animatediff.mp4") == record["fps"] == FPS["animatediff"]
    assert read_video(tmp_path / "animatediff.mp4").shape == (FRAMES["animatediff"], 64, 64, 3)


def test_the_native_geometry_is_the_papers_and_the_pipelines_own():
    from diffusers import AnimateDiffPipeline, StableVideoDiffusionPipeline, TextToVideoZeroPipeline

    def defaults(pipeline) -> dict:
        return {key: value.default for key, value in inspect.signature(pipeline.__call__).parameters.items()}

    zero, animatediff, svd = defaults(TextToVideoZeroPipeline), defaults(AnimateDiffPipeline), defaults(
        StableVideoDiffusionPipeline)
    native = {name: dataclasses.astuple(BASELINES[name].native) for name in BASELINE_NAMES}
    # Appendix F: Text2Video-Zero natively makes 8 frames at 512 × 512 (Stable Diffusion's size).
    assert native["text2video_zero"] == (8, 512, 512, zero["num_inference_steps"]) and zero["video_length"] == 8
    assert native["animatediff"] == (animatediff["num_frames"], 512, 512, animatediff["num_inference_steps"])
    assert native["svd"] == (None, svd["height"], svd["width"], svd["num_inference_steps"])  # frames: its UNet's
    assert noise_window(zero["num_inference_steps"]) == (zero["t0"], zero["t1"])
    assert noise_window(3) == (1, 2) and noise_window(2) == (0, 1)
    real = BaselineSettings(ModelOptions(profile="sd15"))
    assert not real.small() and TINY.small()
    assert BaselineSettings(ModelOptions(profile="sd15"), BaselineOptions(size="small")).small()
    assert not BaselineSettings(ModelOptions(profile="tiny"), BaselineOptions(size="native")).small()


@pytest.mark.parametrize("profile, why", [("procedural", "has no diffusion model"),
                                          ("sd-random", "no full-size random video models")])
def test_profiles_without_video_models_skip_the_baselines_in_one_line(profile, why):
    reason = skip_reason(profile)
    assert reason.startswith("diffusion baselines skipped: ") and why in reason and "\n" not in reason
    for name in BASELINE_NAMES:
        with pytest.raises(InputError) as error:
            baseline(name, BaselineSettings(ModelOptions(profile=profile)))
        assert str(error.value) == reason
    assert skip_reason("tiny") is None and skip_reason("sd15") is None
    with pytest.raises(InputError, match="unknown model profile 'sd3'"):
        skip_reason("sd3")
    with pytest.raises(InputError, match="unknown baseline 'cogvideo'; baselines: "):
        baseline("cogvideo", TINY)


def test_the_procedural_profile_records_a_skipped_baseline_and_writes_no_video(tmp_path):
    procedural = BaselineSettings()
    assert procedural.models.profile == "procedural"  # the offline default
    video = tmp_path / "svd.mp4"
    video.write_bytes(b"left by an earlier run")
    record = make_baseline("svd", procedural, PROMPT, PICTURE, 2, video)
    assert record == dict(status="skipped", method="svd", reason=skip_reason("procedural"), seed=2, prompt=PROMPT)
    assert json.loads((tmp_path / "svd_meta.json").read_text()) == record and not video.exists()
    with pytest.raises(InputError, match="unknown baseline 'cogvideo'; baselines: "):
        make_baseline("cogvideo", procedural, PROMPT, PICTURE, 2, video)
    with pytest.raises(InputError, match="unsupported output 'svd.avi'"):
        make_baseline("svd", procedural, PROMPT, PICTURE, 2, tmp_path / "svd.avi")


def test_baseline_settings_come_from_params_and_are_checked():
    settings = BaselineSettings.from_params({"models": {"profile": "sd15"}, "baselines": {"size": "small"}})
    assert settings.models.profile == "sd15" and settings.baselines.size == "small"
    assert BaselineSettings.from_params({}) == BaselineSettings()
    with pytest.raises(InputError, match="baselines.size must be one of auto, native, small, got 'huge'"):
        BaselineSettings.from_params({"baselines": {"size": "huge"}})
    with pytest.raises(InputError, match="unknown key.* adapter in params section 'baselines'"):
        BaselineSettings.from_params({"baselines": {"adapter": "x"}})


def test_the_conditioning_image_is_centre_cropped_to_the_video_aspect():
    square = np.arange(512 * 512 * 3).reshape(512, 512, 3)
    assert np.array_equal(crop_to_aspect(square, 576, 1024), square[112:400])  # 512 · 576 / 1024 = 288 rows
    tall = np.arange(300 * 100).reshape(300, 100)
    assert np.array_equal(crop_to_aspect(tall, 100, 50), tall[50:250])  # 100 columns → 200 rows
    assert np.array_equal(crop_to_aspect(tall, 60, 30), tall[50:250])


def test_missing_real_weights_name_what_to_put_where(no_weights, no_network):
    sd = no_weights / "sd"
    save_diffusers_folder(load_models(ModelOptions(profile="tiny")), sd)
    real = ModelOptions(profile="sd15", local_dir=str(sd))
    cases = [
        ("text2video_zero", BaselineSettings(ModelOptions(profile="sd15")),
         r"^text2video_zero needs Stable Diffusion: Stable Diffusion v1\.5 weights .*not found in the Hugging Face"),
        ("animatediff", BaselineSettings(real),
         r"^animatediff needs the motion adapter guoyww/animatediff-motion-adapter-v1-5-2 in the Hugging Face "
         r"cache or in .*/models/animatediff-motion-adapter-v1-5-2 \(no config\.json in either\).*hf download"),
        ("animatediff", BaselineSettings(real, BaselineOptions(adapter_dir=str(no_weights / "nowhere"))),
         r"^animatediff needs the motion adapter .* or in .*/nowhere .*baselines\.adapter_dir"),
        ("svd", BaselineSettings(real, BaselineOptions(svd_dir=str(no_weights / "nowhere"))),
         r"^svd needs Stable Video Diffusion stabilityai/stable-video-diffusion-img2vid in the Hugging Face cache "
         r"or in .*/nowhere \(no model_index\.json in either\).*baselines\.svd_dir"),
    ]
    for name, settings, message in cases:
        with pytest.raises(InputError, match=message) as error:
            baseline(name, settings)
        assert "\n" not in str(error.value)
    (no_weights / "broken").mkdir()
    (no_weights / "broken" / "model_index.json").write_text("{}")
    with pytest.raises(InputError, match=r"^svd: .*broken is incomplete"):
        baseline("svd", BaselineSettings(real, BaselineOptions(svd_dir=str(no_weights / "broken"))))
    assert no_network == []


def save_in_cache(hub, repo_id: str, component) -> None:
    """``component.save_pretrained`` into a Hugging Face cache snapshot of ``repo_id``, as a download leaves it."""
    repo = hub / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123456789abcdef")
    component.save_pretrained(repo / "snapshots" / "0123456789abcdef")


def test_real_profiles_read_weights_from_folders_and_the_cache_offline(no_weights, no_network):
    from diffusers import StableVideoDiffusionPipeline

    from stages.baselines.tiny import tiny_motion_adapter, tiny_svd

    save_diffusers_folder(load_models(ModelOptions(profile="tiny")), no_weights / "sd")
    tiny_motion_adapter(0).save_pretrained(no_weights / "adapter")
    save_in_cache(no_weights / "hub", "stabilityai/stable-video-diffusion-img2vid",
                  StableVideoDiffusionPipeline(**tiny_svd(0)))
    real = BaselineSettings(ModelOptions(profile="sd15", local_dir=str(no_weights / "sd")),
                            BaselineOptions(size="small", adapter_dir=str(no_weights / "adapter")))
    for name in BASELINE_NAMES:
        loaded = run_baseline(name, real, "a river", PICTURE, 3)
        assert not any("tiny random" in weights for weights in loaded.record.weights)
        tiny = run_baseline(name, TINY, "a river", PICTURE, 3)
        # The same weights, saved and read back: the same video up to rounding of the last bit.
        assert loaded.frames.shape == tiny.frames.shape
        assert np.abs(loaded.frames.astype(int) - tiny.frames).max() <= 1, name
    assert no_network == []
