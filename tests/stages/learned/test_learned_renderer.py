"""G_frame's loop renderer (payloads splatted once per video, frames in flight) against the network's own
training-time forward pass, frame by frame, with weights that make Z and the correction matter."""

import numpy as np
import pytest
import torch

from tests.conftest import smooth_texture
from stages.images import to_tensor, to_uint8
from stages.learned.frame_net import FRAME_PRESETS, FrameNet, FrameNetConfig
from stages.learned.inference import LearnedRenderer, decoder_window
from stages.motion.engine import feather_weights
from stages.motion.flowfield import dense_flow, region_hints
from stages.threads import map_in_order

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def trained_looking_network() -> FrameNet:
    """The small G_frame with every weight random (its importance and output layers start at zero)."""
    torch.manual_seed(0)
    model = FrameNet(FrameNetConfig(**FRAME_PRESETS["small"]))
    for layer in (model.importance, model.out):
        torch.nn.init.normal_(layer.weight, std=0.1)
        torch.nn.init.normal_(layer.bias, std=0.1)
    return model.eval()


@pytest.mark.parametrize("size, region, workers", [
    ((46, 61), (slice(8, 40), slice(6, 50)), 1),  # sides not multiples of 4: padding is exercised
    ((46, 61), (slice(8, 40), slice(6, 50)), 3),
    ((110, 150), (slice(45, 66), slice(60, 95)), 2),  # the decoder sees a window of the picture
    ((170, 70), (slice(10, 30), slice(8, 60)), 2),  # and two windows: a second region lies further down
])
def test_learned_renderer_matches_the_network_forward_within_one_level(size, region, workers):
    (height, width), frames = size, 9
    image = smooth_texture(height, width, seed=5)
    mask = np.zeros((height, width), bool)
    mask[region] = True
    if height == 170:
        mask[120:160, 10:55] = True
    flow = dense_flow(mask, region_hints(mask, 35.0, 1.3))
    model = trained_looking_network()
    renderer = LearnedRenderer(model, image, mask, flow, frames)
    if height == 110:
        assert renderer._windows == [(12, 100, 28, 128)]
    if height == 170:
        assert renderer._windows == [(0, 64, 0, 72), (88, 172, 0, 72)]
    rendered = list(map_in_order(renderer._render, (renderer._displacements(n) for n in range(frames)), workers))
    source = to_tensor(image)
    feather = torch.from_numpy(feather_weights(mask, 3.0))[None, None]
    with torch.inference_mode():
        for n in range(frames):
            expected = to_uint8(model(source, source, torch.from_numpy(flow)[None], torch.tensor([n]),
                                      torch.tensor([frames]), feather))
            difference = np.abs(rendered[n].astype(int) - expected)
            assert difference.max() <= 1, (n, difference.max())
            assert (difference > 0).mean() < 0.01
    assert np.abs(rendered[4].astype(int) - image)[mask].mean() > 2  # it does move
    np.testing.assert_array_equal(rendered[0][~mask], image[~mask])


def test_the_decoder_window_decodes_the_mask_as_the_whole_picture_does():
    model = trained_looking_network()
    height, width = 128, 160
    mask = np.zeros((height, width), bool)
    mask[50:70, 60:90] = True
    torch.manual_seed(1)
    channels = FRAME_PRESETS["small"]["channels"]
    splats = [torch.rand(1, c + 1 + (3 if level == 0 else 0), height >> level, width >> level)
              for level, c in enumerate(channels)]
    filled = torch.rand(1, 3, height, width)
    top, bottom, left, right = decoder_window(mask, model.multiple, (height, width))
    assert (top, bottom, left, right) == (16, 104, 28, 124)
    with torch.inference_mode():
        whole = model.decode(splats, filled)[0, :, top:bottom, left:right]
        window = model.decode([s[..., top >> level:bottom >> level, left >> level:right >> level]
                               for level, s in enumerate(splats)], filled[..., top:bottom, left:right])[0]
    inside = torch.from_numpy(mask[top:bottom, left:right])
    torch.testing.assert_close(window[:, inside], whole[:, inside], atol=1e-5, rtol=0)
    assert (window - whole).abs().max() > 1e-3  # at the window's edges it does differ: the test can see it
