"""G_flow's ablations: the input switches remove the input, and train_ablations writes loadable checkpoints."""

import json

import numpy as np
import pytest
import torch

from stages.errors import InputError
from stages.learned.checkpoint import save_checkpoint
from stages.learned.flow_net import FlowNet, FlowNetConfig
from stages.learned.inference import FlowPredictor
from stages.learned.layers import CrossAttentionBlock
from stages.learned.loading import flow_predictor
from stages.learned.text import TextEncoderOptions, encode_captions, text_width
from tests.learned_helpers import SMALL_FLOW, write_scenes

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SWITCHES = {"ours": {}, "wo_text": {"text_input": False}, "wo_mask": {"mask_input": False},
            "wo_text_mask": {"text_input": False, "mask_input": False}}


def network(seed: int, **switches) -> FlowNet:
    """A small caption-direction G_flow with the ``switches``, its cross-attention awake (zero-initialised
    output projections would hide the caption)."""
    torch.manual_seed(seed)
    net = FlowNet(FlowNetConfig(**SMALL_FLOW, text_width=8, caption_direction=True, **switches)).eval()
    for module in net.modules():
        if isinstance(module, CrossAttentionBlock):
            torch.nn.init.normal_(module.project_out.weight, std=0.5)
    return net


def two_of_each() -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """An image, two captions (the second names another direction) and two masks inside the picture."""
    image = torch.rand(1, 3, 16, 16)
    texts = [torch.randn(1, 77, 8), torch.randn(1, 77, 8)]
    texts[0][0, -1, :2], texts[1][0, -1, :2] = torch.tensor([1.0, 0.0]), torch.tensor([0.0, -1.0])
    masks = [torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16)]
    masks[0][..., 2:9, 3:12], masks[1][..., 6:14, 1:7] = 1, 1
    return image, texts, masks


@pytest.mark.parametrize("name", sorted(SWITCHES))
def test_a_switched_off_input_leaves_the_raw_output_unchanged(name):
    net, (image, texts, masks) = network(3, **SWITCHES[name]), two_of_each()
    with torch.no_grad():
        by_caption = [net(image, masks[0], text=text) for text in texts]
        by_mask = [net(image, mask, text=texts[0]) for mask in masks]
    caption_moves, mask_moves = ((a - b).abs().max() > 1e-4 for a, b in (by_caption, by_mask))
    assert caption_moves == ("text" not in name)  # ours and wo_mask read the caption
    assert mask_moves == ("mask" not in name)  # ours and wo_text read the mask
    channels = 3 + ("mask" not in name) + ("text" not in name) * (SMALL_FLOW["pooled_text"] + 2)
    assert net.config.condition_channels == channels
    if "text" in name:  # no caption at all is fine for it
        torch.testing.assert_close(net(image, masks[0]), by_caption[0])


def test_without_the_mask_the_caption_direction_covers_the_picture():
    net, (image, texts, masks) = network(4, mask_input=False), two_of_each()
    seen = []
    net.stem.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    net(image, masks[0], text=texts[1])
    torch.testing.assert_close(seen[0][0, 3:5], torch.tensor([0.0, -1.0]).view(2, 1, 1).expand(2, 16, 16))


def test_the_directional_variant_cannot_drop_the_mask_its_hint_is_spread_over():
    with pytest.raises(InputError, match="hint is spread over the mask"):
        FlowNetConfig(conditioning="hint", mask_input=False)
    assert FlowNetConfig(conditioning="hint", mask_input=False, text_input=False).condition_channels == 3


def test_the_predictor_ignores_what_its_variant_does_not_read_but_zeroes_outside_the_mask(tmp_path):
    text = TextEncoderOptions(direction_token=True)
    picture = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    masks = [np.zeros((16, 16), bool), np.zeros((16, 16), bool)]
    masks[0][2:12, 3:14], masks[1][5:15, 1:9] = True, True
    for name in ("wo_text", "wo_mask"):
        config = FlowNetConfig(**SMALL_FLOW, text_width=text_width(text), caption_direction=True, **SWITCHES[name])
        torch.manual_seed(5)
        folder = save_checkpoint(tmp_path / name, "g_flow", FlowNet(config), config.to_dict(),
                                 text_encoder=text.to_dict() if config.reads_text else None)
        predictor = FlowPredictor(folder)
        assert json.loads((folder / "g_flow.json").read_text())["config"][name[3:] + "_input"] is False
        caption = None if name == "wo_text" else encode_captions(["a river"], text)
        with torch.no_grad():
            raw = predictor.model(torch.from_numpy(picture).permute(2, 0, 1)[None].float() / 255,
                                  torch.ones(1, 1, 16, 16), caption)
        if name == "wo_text":  # any caption, or none, gives the same flow
            flows = [predictor.predict(picture, masks[0], caption=caption) for caption in
                     ("a river flowing to the left", "clouds moving upwards", None)]
            assert all(np.array_equal(flows[0], flow) for flow in flows[1:])
        else:  # the same raw output under any mask, zeroed outside it
            for mask in masks:
                flow = predictor.predict(picture, mask, caption="a river")
                np.testing.assert_allclose(flow, raw[0].numpy() * 64 * mask, atol=1e-6)


def test_train_ablations_writes_a_loadable_checkpoint_per_method(tmp_path):
    from tasks.train import train_flow_ablations

    scenes = write_scenes(tmp_path / "scenes", count=4)
    section = dict(data=str(scenes), batch_size=2, crop=16, validate_every=1000, checkpoint_every=1000, log_every=1,
                   device="cpu", gan_weight=0, feature_matching_weight=0)
    params = {"train_flow": section, "train_ablations": {"iterations": 2}, "run": {"store": str(tmp_path / "store")}}
    metrics = train_flow_ablations(params, tmp_path / "models", tmp_path / "ablations.json")
    assert list(metrics) == list(SWITCHES)
    written = json.loads((tmp_path / "ablations.json").read_text())
    assert written["iterations"] == 2 and set(written["wo_mask"]) >= {"epe", "epe_zero", "epe_vs_zero"}
    picture, mask = np.zeros((32, 48, 3), np.uint8), np.zeros((32, 48), bool)
    mask[8:20, 10:30] = True
    for name, switches in SWITCHES.items():
        record = json.loads((tmp_path / "models" / name / "g_flow.json").read_text())
        assert record["iterations"] == 2
        assert {key: record["config"][key] for key in switches} == switches
        predictor = flow_predictor(tmp_path / "models" / name / "g_flow.safetensors", "cpu")
        flow = predictor.predict(picture, mask, caption="a river flowing to the left")
        assert flow.shape == (2, 32, 48) and not flow[:, ~mask].any()


def test_the_methods_are_named_from_the_ablations():
    from stages.learned.ablations import AblationOptions
    from stages.options import options_from

    assert options_from(AblationOptions, {"methods": ["wo_mask", "ours"]}, "train_ablations").methods == (
        "wo_mask", "ours")
    for wrong in (["ours", "wo_twin"], ["ours", "ours"], []):
        with pytest.raises(InputError, match="train_ablations.methods must list distinct methods"):
            options_from(AblationOptions, {"methods": wrong}, "train_ablations")
