"""The real-domain comparison: captions without the direction, and scores checked against hand-computed truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stages.evaluation.real_domain import clip_scores, flow_epe, kind_caption
from stages.motion.render import VideoOptions, render_loop
from stages.pipeline import PipelineSettings
from tests.conftest import smooth_texture


@pytest.mark.parametrize("caption, kinds", [
    ("a river flowing in the upwards direction beside a waterfall by the sea, past a castle, in the style of van "
     "gogh", "river, waterfall, sea"),
    ("white clouds heading upwards, right to left by a lake, through a valley, pastel drawing", "clouds, lake"),
])
def test_the_methods_read_the_kinds_of_the_caption_and_no_direction(caption, kinds):
    assert kind_caption(caption, PipelineSettings()) == kinds


@pytest.fixture(scope="module")
def clip():
    """A 32 × 48 picture whose box moves 1 px/frame rightwards (determined) above a box moving 0.5 px/frame
    down whose sign is free, and its 8 true frames (the engine's loop of the true flow)."""
    image = smooth_texture(32, 48)
    truth = np.zeros((2, 32, 48), np.float32)
    determined, free = np.zeros((32, 48), bool), np.zeros((32, 48), bool)
    determined[4:12, 8:40], free[18:28, 8:40] = True, True
    truth[0][determined], truth[1][free] = 1.0, 0.5
    frames, _ = render_loop(VideoOptions(frames=8), image, determined | free, truth)
    return image, truth, frames, determined | free, free


def test_the_true_flow_scores_no_error_and_the_best_psnr(clip):
    image, truth, true_frames, moving, free = clip
    flipped = truth.copy()
    flipped[:, free] *= -1  # the sign-free box may go either way
    scores = {}
    for name, flow in {"truth": truth, "flipped": flipped, "half": truth / 2, "zero": np.zeros_like(truth)}.items():
        frames, _ = render_loop(VideoOptions(frames=8), image, moving, flow)
        scores[name] = clip_scores(flow, frames, truth, true_frames, moving, free)
    zero_epe = (8 * 32 * 1.0 + 10 * 32 * 0.5) / (8 * 32 + 10 * 32)  # the mean true speed over the moving pixels
    assert scores["truth"]["epe"] == scores["flipped"]["epe"] == 0.0
    assert scores["zero"]["epe"] == pytest.approx(zero_epe) and scores["half"]["epe"] == pytest.approx(zero_epe / 2)
    identical = 10 * np.log10(255.0**2 / 1e-10)  # identical frames: the squared error's floor of 1e-10
    assert scores["truth"]["psnr"] == scores["truth"]["psnr_moving"] == pytest.approx(identical)
    assert scores["truth"]["psnr"] > scores["half"]["psnr"] > scores["zero"]["psnr"]
    assert scores["zero"]["static_rmse"] == 0.0  # nothing moves: every frame is the input


def test_the_sign_is_free_only_where_the_clip_says_so(clip):
    _, truth, _, moving, free = clip
    assert flow_epe(-truth, truth, moving, free) == pytest.approx(2 * 8 * 32 / (8 * 32 + 10 * 32))
    assert flow_epe(-truth, truth, moving, np.zeros_like(free)) == pytest.approx(
        2 * (8 * 32 + 10 * 32 * 0.5) / (8 * 32 + 10 * 32))


def test_each_method_gets_its_mean_scores_and_its_fvd_against_the_true_videos(tmp_path):
    from flows.compare import method_table
    from stages.video import write_npz

    rng = np.random.default_rng(0)
    truths = rng.normal(size=(3, 2, 400))  # 3 clips, two protocols
    for index, truth in enumerate(truths):
        features = {f"truth.{protocol}": truth[p] for p, protocol in enumerate(("fvd16", "fvd60"))}
        features.update({f"ours.{protocol}": truth[p] for p, protocol in enumerate(("fvd16", "fvd60"))})
        features.update({f"wo_mask.{protocol}": truth[p] + 1.0 for p, protocol in enumerate(("fvd16", "fvd60"))})
        (tmp_path / f"clip{index}").mkdir()
        write_npz(tmp_path / f"clip{index}" / "features.npz", **features)
    scores = {f"{method}.{name}": [value + 1.0 * index for index in range(3)] for method, value in
              (("ours", 0.5), ("wo_mask", 2.0)) for name in ("epe", "psnr", "psnr_moving", "static_rmse")}
    manifest = pd.DataFrame({"id": ["clip0", "clip1", "clip2"], "status": "ok", **scores})
    table = method_table(manifest, tmp_path, ("ours", "wo_mask"), "sha").set_index("method")
    assert table.loc["ours", "epe"] == pytest.approx(1.5) and table.loc["wo_mask", "psnr"] == pytest.approx(3.0)
    assert table.loc["ours", "fvd16"] == pytest.approx(0.0, abs=1e-6)  # the same videos' features
    assert table.loc["wo_mask", "fvd60"] == pytest.approx(400.0)  # shifted by 1 in each of 400 dimensions
