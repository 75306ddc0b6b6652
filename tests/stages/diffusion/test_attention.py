"""The attention cache's running mean and its picture, against direct computations."""

import numpy as np
import pytest
import torch

from stages.diffusion.attention import AttentionMean, attention_grid, attention_picture
from tasks.twins import describe_attention


def random_maps(rng, count, tokens):
    logits = rng.normal(size=(count, tokens, tokens))
    maps = np.exp(logits)
    return maps / maps.sum(axis=2, keepdims=True)


def test_the_running_mean_equals_the_mean_of_all_maps():
    rng = np.random.default_rng(0)
    batches = [random_maps(rng, heads, 9) for heads in (2, 3, 1)]  # layers with different head counts
    mean = AttentionMean(tokens=9, max_timestep=541)
    for maps in batches:
        mean.add(torch.from_numpy(maps))
    everything = np.concatenate(batches)
    np.testing.assert_allclose(mean.result(), everything.mean(axis=0), atol=1e-6)
    assert mean.count == 6
    np.testing.assert_allclose(mean.result().sum(axis=1), 1.0, atol=1e-6)


def test_only_late_steps_at_the_right_resolution_are_wanted():
    mean = AttentionMean(tokens=1024, max_timestep=541)
    assert mean.wants(541, 1024) and mean.wants(1, 1024)
    assert not mean.wants(561, 1024) and not mean.wants(501, 4096)
    with pytest.raises(ValueError, match="no attention map"):
        mean.result()
    assert attention_grid(512, 512) == (32, 32) and attention_grid(512, 768) == (32, 48)


def test_the_picture_colours_pixels_by_where_they_attend():
    # Two regions (top half, bottom half of a 4×4 grid); each pixel attends uniformly within its region.
    region = np.repeat([0, 1], 8)
    attention = (region[:, None] == region[None, :]).astype(np.float32) / 8
    picture = attention_picture(attention, (4, 4), (8, 12))
    assert picture.shape == (8, 12, 3) and picture.dtype == np.uint8
    top, bottom = picture[:4].reshape(-1, 3), picture[4:].reshape(-1, 3)
    assert (top == top[0]).all() and (bottom == bottom[0]).all()
    assert np.abs(top[0].astype(int) - bottom[0]).max() == 255  # the first component separates them fully


def test_describe_attention_checks_rows_and_reports_entropy(tmp_path):
    uniform = np.full((16, 16), 1 / 16, np.float32)
    summary = describe_attention(uniform, (4, 4), (64, 64), tmp_path)
    assert summary["mean_row_entropy_bits"] == pytest.approx(4.0) == summary["uniform_entropy_bits"]
    assert (tmp_path / "attention.png").is_file() and (tmp_path / "attention.json").is_file()
    from stages.errors import InputError

    with pytest.raises(InputError, match="rows must sum to 1"):
        describe_attention(uniform * 2, (4, 4), (64, 64), tmp_path)
    with pytest.raises(InputError, match="expected"):
        describe_attention(uniform, (2, 4), (32, 64), tmp_path)
