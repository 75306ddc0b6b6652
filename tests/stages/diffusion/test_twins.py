"""Twin generation on the tiny profile: lockstep = two-pass, injection works, seeds, sizes, attention cache.

Structural similarity is SSIM (Wang et al. 2004) on luminance with an 11-tap Gaussian window of σ = 1.5
and the usual constants C1 = (0.01·255)², C2 = (0.03·255)², written below and checked against closed forms.
"""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from stages.errors import InputError
from stages.diffusion.models import ModelOptions, load_models
from stages.diffusion.twins import TwinOptions, generate_twins

PROMPT = "a large river flowing in front of a mountain in the style of starry nights painting"
TWIN = "river, mountain, nature, bright, realistic, photography, 4k, 8k"
SMALL = dict(height=64, width=64, steps=10)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two uint8 (H, W, 3) images, on their channel mean."""
    x, y = a.astype(np.float64).mean(axis=2), b.astype(np.float64).mean(axis=2)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda image: gaussian_filter(image, 1.5, truncate=3.5, mode="reflect")
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    return float(np.mean((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))))


@pytest.fixture(scope="module")
def models():
    return load_models(ModelOptions(profile="tiny"))


def test_ssim_matches_closed_forms():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    assert ssim(image, image) == pytest.approx(1.0)
    # Two flat images: variances vanish, SSIM = (2ab + C1) / (a² + b² + C1).
    flat_a, flat_b = np.full((16, 16, 3), 100, np.uint8), np.full((16, 16, 3), 150, np.uint8)
    c1 = (0.01 * 255) ** 2
    assert ssim(flat_a, flat_b) == pytest.approx((2 * 100 * 150 + c1) / (100**2 + 150**2 + c1))
    assert ssim(image, 255 - image) < 0


def test_lockstep_twins_equal_the_two_pass_reference(models):
    lockstep = generate_twins(models, PROMPT, TWIN, 3, TwinOptions(**SMALL, mode="lockstep"))
    two_pass = generate_twins(models, PROMPT, TWIN, 3, TwinOptions(**SMALL, mode="two-pass"))
    scale = float(lockstep.realistic_latents.abs().max())
    # The artistic latents differ only by batching (batch 4 vs 2: other float32 summation orders); the
    # injected realistic ones may differ by as much rounding, no more.
    batching = float((lockstep.artistic_latents - two_pass.artistic_latents).abs().max())
    realistic = float((lockstep.realistic_latents - two_pass.realistic_latents).abs().max())
    assert batching < 1e-4 * scale and realistic < max(10 * batching, 1e-6 * scale)
    np.testing.assert_allclose(lockstep.attention, two_pass.attention, atol=5e-4)
    assert np.abs(lockstep.realistic.astype(int) - two_pass.realistic).max() <= 1
    assert lockstep.feature_bytes == 0 and two_pass.feature_bytes > 100_000


def test_lockstep_equals_two_pass_to_rounding_in_float64():
    models = load_models(ModelOptions(profile="tiny", dtype="float64"))
    options = dict(height=64, width=64, steps=6)
    lockstep = generate_twins(models, PROMPT, TWIN, 3, TwinOptions(**options, mode="lockstep"))
    two_pass = generate_twins(models, PROMPT, TWIN, 3, TwinOptions(**options, mode="two-pass"))
    scale = float(lockstep.realistic_latents.abs().max())
    assert lockstep.realistic_latents.dtype == torch.float64
    assert torch.allclose(lockstep.realistic_latents, two_pass.realistic_latents, rtol=0, atol=1e-10 * scale)
    assert torch.allclose(lockstep.artistic_latents, two_pass.artistic_latents, rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(lockstep.attention, two_pass.attention, atol=1e-6)


def test_injection_makes_the_twin_structurally_closer(models):
    for seed in (0, 1, 2):
        scores = {}
        for name, attention, resnet in (("none", 0.0, 0.0), ("attention", 0.5, 0.0), ("paper", 0.5, 0.8)):
            options = TwinOptions(**SMALL, attention_injection=attention, resnet_injection=resnet)
            twins = generate_twins(models, PROMPT, TWIN, seed, options)
            scores[name] = ssim(twins.artistic, twins.realistic)
        assert scores["attention"] > scores["none"] + 0.02, (seed, scores)
        assert scores["paper"] > scores["none"] + 0.02, (seed, scores)


def test_the_resnet_features_are_injected_during_the_first_80_percent_of_steps(models):
    received = []  # what the next layer receives from up_blocks.1.resnets.1, per UNet call
    probe = models.unet.get_submodule("up_blocks.1.attentions.1").register_forward_pre_hook(
        lambda _module, args: received.append(args[0].clone()))
    try:
        generate_twins(models, PROMPT, TWIN, 0, TwinOptions(**SMALL))
    finally:
        probe.remove()
    same = [torch.equal(batch[:2], batch[2:]) for batch in received]
    assert same == [True] * 8 + [False] * 2  # int(0.8 · 10) = 8 steps


def test_the_unet_is_left_as_it_was(models):
    processors = {name: type(p) for name, p in models.unet.attn_processors.items()}
    generate_twins(models, PROMPT, TWIN, 0, TwinOptions(**SMALL, mode="two-pass"))
    assert {name: type(p) for name, p in models.unet.attn_processors.items()} == processors
    assert not any(module._forward_hooks for module in models.unet.modules())


def test_seeds_reproduce_bit_for_bit_on_cpu(models):
    first = generate_twins(models, PROMPT, TWIN, 7, TwinOptions(**SMALL))
    again = generate_twins(models, PROMPT, TWIN, 7, TwinOptions(**SMALL))
    other = generate_twins(models, PROMPT, TWIN, 8, TwinOptions(**SMALL))
    assert np.array_equal(first.artistic, again.artistic) and np.array_equal(first.realistic, again.realistic)
    assert torch.equal(first.realistic_latents, again.realistic_latents)
    assert np.array_equal(first.attention, again.attention)
    assert not np.array_equal(first.artistic, other.artistic)


def test_non_square_images_keep_height_and_width_apart(models):
    twins = generate_twins(models, PROMPT, TWIN, 0, TwinOptions(height=64, width=192, steps=4))
    assert twins.artistic.shape == twins.realistic.shape == (64, 192, 3)
    assert twins.artistic_latents.shape == (1, 4, 8, 24)
    assert twins.attention_grid == (4, 12) and twins.attention.shape == (48, 48)


def test_attention_is_the_mean_over_the_papers_blocks_and_late_steps(models):
    twins = generate_twins(models, PROMPT, TWIN, 0, TwinOptions(**SMALL))
    # 10 DDIM steps: timesteps 901, 801, …, 1; those ≤ 541 are the last 6. Layers: down_blocks.1 (2) and
    # up_blocks.2 (3); the tiny UNet has 2 heads per layer.
    assert twins.timesteps == [901, 801, 701, 601, 501, 401, 301, 201, 101, 1]
    assert twins.attention_maps == 6 * 5 * 2
    assert twins.attention.shape == (16, 16) and twins.attention.dtype == np.float32
    np.testing.assert_allclose(twins.attention.sum(axis=1), 1.0, atol=1e-5)
    assert (twins.attention >= 0).all() and twins.attention.max(axis=1).mean() > 2.0 / 16


@pytest.mark.parametrize("change, message", [
    (dict(height=100), "height 100 is not a multiple of 64.*use 64 or 128"),
    (dict(width=32), "width 32 is not a multiple of 64"),
    (dict(mode="three-pass"), "twins.mode"),
    (dict(negative_mix=1.5), "negative_mix"),
    (dict(steps=0), "steps"),
])
def test_bad_options_are_refused(models, change, message):
    with pytest.raises(InputError, match=message):
        generate_twins(models, PROMPT, TWIN, 0, TwinOptions(**{**SMALL, **change}))
