"""G_flow and G_frame: shapes, conditioning, and G_frame's splatting checked against analytic motions."""

import numpy as np
import pytest
import torch

from tests.learned_helpers import SMALL_FLOW, SMALL_FRAME
from stages.motion.engine import LoopRenderer
from stages.errors import InputError
from stages.learned.flow_net import FlowNet, FlowNetConfig
from stages.learned.frame_net import FrameNet, FrameNetConfig, integrate_flow, softmax_splat
from stages.learned.inference import LearnedRenderer
from stages.learned.layers import CrossAttentionBlock

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_flow_net_handles_any_size_and_bounds_its_output():
    torch.manual_seed(0)
    net = FlowNet(FlowNetConfig(**SMALL_FLOW, text_width=12))
    out = net(torch.rand(2, 3, 19, 27), torch.ones(2, 1, 19, 27), text=torch.randn(2, 77, 12))
    assert out.shape == (2, 2, 19, 27) and out.abs().max() < 1
    hinted = FlowNet(FlowNetConfig(**SMALL_FLOW, conditioning="hint"))
    assert hinted(torch.rand(1, 3, 16, 16), torch.ones(1, 1, 16, 16), hint=torch.zeros(1, 2, 16, 16)).shape == (1, 2, 16, 16)
    with pytest.raises(InputError, match="give a caption"):
        net(torch.rand(1, 3, 16, 16), torch.ones(1, 1, 16, 16))
    with pytest.raises(InputError, match="give a direction hint"):
        hinted(torch.rand(1, 3, 16, 16), torch.ones(1, 1, 16, 16), text=torch.randn(1, 77, 32))


def test_the_caption_changes_the_flow():
    torch.manual_seed(1)
    net = FlowNet(FlowNetConfig(**SMALL_FLOW, text_width=8))
    for module in net.modules():  # wake the zero-initialised output projections
        if isinstance(module, CrossAttentionBlock):
            torch.nn.init.normal_(module.project_out.weight, std=0.5)
    image, mask = torch.rand(1, 3, 16, 16), torch.ones(1, 1, 16, 16)
    a, b = net(image, mask, text=torch.randn(1, 77, 8)), net(image, mask, text=torch.randn(1, 77, 8))
    assert (a - b).abs().max() > 1e-4


def test_the_caption_direction_token_carries_the_named_direction():
    from stages.learned.text import DIRECTION_TOKEN, TextEncoderOptions, caption_direction, encode_captions

    assert caption_direction("a river flowing from left to right") == pytest.approx((1.0, 0.0))
    assert caption_direction("a waterfall falling downwards") == pytest.approx((0.0, 1.0))  # image y grows down
    assert caption_direction("a calm lake") == (0.0, 0.0)
    captions = ["a river flowing right to left", "a calm lake"]
    plain = encode_captions(captions, TextEncoderOptions())
    marked = encode_captions(captions, TextEncoderOptions(direction_token=True))
    torch.testing.assert_close(marked[:, :DIRECTION_TOKEN], plain[:, :DIRECTION_TOKEN])
    expected = torch.zeros(2, marked.shape[-1])
    expected[0, 0] = -1.0
    torch.testing.assert_close(marked[:, DIRECTION_TOKEN], expected, atol=1e-6, rtol=0)


def test_the_caption_direction_enters_the_conditioning_map_inside_the_mask():
    torch.manual_seed(2)
    net = FlowNet(FlowNetConfig(**SMALL_FLOW, text_width=8, caption_direction=True))
    assert net.config.condition_channels == 4 + SMALL_FLOW["pooled_text"] + 2
    seen = []
    net.stem.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    text, mask = torch.randn(1, 77, 8), torch.zeros(1, 1, 16, 16)
    text[0, -1, :2] = torch.tensor([0.6, -0.8])
    mask[..., 4:9, 2:7] = 1
    net(torch.rand(1, 3, 16, 16), mask, text=text)
    direction = seen[0][0, 4:6]  # after RGB and mask, before the pooled caption
    torch.testing.assert_close(direction, torch.tensor([0.6, -0.8]).view(2, 1, 1) * mask[0])


def test_a_new_cross_attention_block_is_the_identity():
    block = CrossAttentionBlock(16, 8, heads=2)
    x = torch.randn(2, 16, 5, 7)
    torch.testing.assert_close(block(x, torch.randn(2, 77, 8)), x)


def test_text_normaliser_standardises_the_training_captions():
    net = FlowNet(FlowNetConfig(**SMALL_FLOW, text_width=4))
    embeddings = torch.randn(6, 77, 4) * torch.linspace(0.5, 3, 4) + 7
    net.fit_text_normaliser(embeddings, floor=0.0)
    standardised = (embeddings - net.text_mean) / net.text_scale
    torch.testing.assert_close(standardised.mean(0), torch.zeros(77, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(standardised.std(0, unbiased=False), torch.ones(77, 4), atol=1e-4, rtol=0)
    assert set(net.state_dict()) >= {"text_mean", "text_scale"}  # saved with the weights


def test_euler_integration_of_a_uniform_flow_is_exact_inside():
    flow = torch.tensor([1.5, -0.5]).view(2, 1, 1).expand(2, 24, 30).contiguous()
    displacement = integrate_flow(flow, 4)
    torch.testing.assert_close(displacement[:, 8:20, 2:20], torch.tensor([6.0, -2.0]).view(2, 1, 1).expand(2, 12, 18))


def test_softmax_splat_averages_by_weight_and_marks_holes():
    features = torch.tensor([[[[1.0, 5.0]]]])  # one channel, a 1×2 image
    # source A moves its left pixel onto the right one; source B stays; weights 1 (A) and 3 (B)
    source_a = (features, torch.tensor([[[[1.0, 0.0]], [[0.0, 0.0]]]]), torch.ones(1, 1, 1, 2))
    source_b = (torch.tensor([[[[0.0, 9.0]]]]), torch.zeros(1, 2, 1, 2), torch.tensor([[[[0.0, 3.0]]]]))
    out = softmax_splat([source_a, source_b])
    # right pixel: (1·1 + 1·5 + 3·9) / (1 + 1 + 3); left pixel: only B's zero-weight pixel → a hole
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([0.0, 33.0 / 5.0]))
    torch.testing.assert_close(out[0, 1, 0], torch.tensor([0.0, 1.0]))


def test_untrained_frame_net_translates_a_periodic_texture_exactly():
    # With zero correction and Z, G_frame is symmetric splatting: for a flow of 1 px/frame and a texture of
    # period N along x, frame n is the texture shifted by n pixels (independent truth: np.roll).
    period, height, width = 8, 16, 40
    x = np.arange(width)
    texture = (0.5 + 0.4 * np.sin(2 * np.pi * x / period))[None, :].repeat(height, 0)
    image = torch.from_numpy(np.stack([texture, 1 - texture, texture * 0.5])).float()[None]
    flow = torch.zeros(1, 2, height, width)
    flow[:, 0] = 1.0
    net = FrameNet(FrameNetConfig(**SMALL_FRAME))
    for n in (1, 3, 6):
        with torch.no_grad():
            frame = net(image, image, flow, torch.tensor([n]), torch.tensor([period]), torch.ones(1, 1, height, width))
        expected = torch.roll(image, n, dims=3)
        torch.testing.assert_close(frame[..., period:width - period], expected[..., period:width - period],
                                   atol=1e-5, rtol=0)


def test_learned_renderer_loops_keeps_the_static_region_and_starts_like_the_engine(texture):
    height, width = texture.shape[:2]
    mask = np.zeros((height, width), bool)
    mask[30:70, 20:110] = True
    flow = np.zeros((2, height, width), np.float32)
    flow[0][mask], flow[1][mask] = 0.8, 0.3
    torch.manual_seed(0)
    learned = LearnedRenderer(FrameNet(FrameNetConfig(**SMALL_FRAME)), texture, mask, flow, frames=12)
    engine = LoopRenderer(texture, mask, flow, frames=12)
    np.testing.assert_array_equal(learned.frame(0), texture)
    np.testing.assert_array_equal(learned.frame(12), learned.frame(0))
    for n in (3, 7):
        frame = learned.frame(n)
        np.testing.assert_array_equal(frame[~mask], texture[~mask])
        inner = np.zeros_like(mask)
        inner[36:64, 30:100] = True  # away from the region's edges, where hole filling differs
        assert np.abs(frame[inner].astype(int) - engine.frame(n)[inner]).mean() < 1.0
    assert len(list(learned)) == 12
