"""Model profiles: the tiny profile's shape, the tokenizer, real weights from a folder or the HF cache."""

import json

import pytest
import torch

from stages.errors import InputError
from stages.diffusion.models import (ModelOptions, byte_level_tokenizer, byte_level_vocabulary, default_geometry,
                           load_models, random_architecture)
from stages.diffusion.twins import (TwinOptions, cached_attention_layers, generate_twins, injected_attention_layers)

SMALL = TwinOptions(height=64, width=64, steps=3)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny():
    return load_models(ModelOptions(profile="tiny"))


def test_the_byte_level_tokenizer_has_one_token_per_byte():
    vocabulary = byte_level_vocabulary()
    assert len(vocabulary) == 514 and sorted(vocabulary.values()) == list(range(514))
    tokenizer = byte_level_tokenizer()
    # "a" is byte 97 (its own stand-in) → 2 + 97; a word's last byte takes the "</w>" half: 2 + 256 + 98.
    assert tokenizer("ab").input_ids == [0, 99, 356, 1]
    assert len(tokenizer("x" * 500, truncation=True, max_length=77).input_ids) == 77
    # any text encodes, one token per UTF-8 byte: "café" is 5 bytes, "🌊" 4, each word's last in the </w> half
    ids = tokenizer("café 🌊").input_ids
    assert len(ids) == 2 + 5 + 4 and ids[4] == 2 + 0xC3 and ids[5] == 2 + 256 + 0xA9 and ids[9] == 2 + 256 + 0x8A


def test_the_tiny_unet_has_stable_diffusions_block_layout(tiny):
    unet = tiny.unet
    # LDM output blocks 4–11 carry 8 decoder self-attention layers; the ResNet of output block 4 exists.
    injected = injected_attention_layers(unet)
    assert len(injected) == 8 and injected[0] == "up_blocks.1.attentions.1.transformer_blocks.0.attn1"
    unet.get_submodule("up_blocks.1.resnets.1")
    # Attention caching: LDM input blocks 4, 5 and output blocks 6, 7, 8.
    cached = cached_attention_layers(unet, ("down_blocks.1", "up_blocks.2"))
    assert [name.split(".transformer")[0] for name in cached] == [
        "down_blocks.1.attentions.0", "down_blocks.1.attentions.1",
        "up_blocks.2.attentions.0", "up_blocks.2.attentions.1", "up_blocks.2.attentions.2"]
    assert tiny.vae_factor == 8 and tiny.latent_channels == 4
    assert default_geometry("tiny") == {"height": 128, "width": 128, "steps": 10}
    assert default_geometry("sd15") == {"height": 512, "width": 512, "steps": 50}


def test_the_full_size_random_profile_has_sd_1_x_dimensions():
    settings = random_architecture("sd-random")
    assert settings["unet"]["block_out_channels"] == (320, 640, 1280, 1280)
    assert settings["unet"]["cross_attention_dim"] == 768 and settings["unet"]["attention_head_dim"] == 8
    assert settings["vae"]["block_out_channels"] == (128, 256, 512, 512)
    assert settings["text"]["hidden_size"] == 768 and settings["text"]["num_hidden_layers"] == 12


def save_diffusers_folder(models, folder):
    """Write the components in diffusers' on-disk layout, as a downloaded Stable Diffusion has them."""
    for name in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        getattr(models, name).save_pretrained(folder / name)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))


def test_a_real_profile_loads_a_local_folder_and_gives_the_same_twins(tiny, tmp_path):
    save_diffusers_folder(tiny, tmp_path / "sd")
    loaded = load_models(ModelOptions(profile="sd15", local_dir=str(tmp_path / "sd")))
    assert loaded.name == "sd15" and loaded.dtype == torch.float32
    ours = generate_twins(tiny, "a river", "river", 0, SMALL)
    theirs = generate_twins(loaded, "a river", "river", 0, SMALL)
    # Same weights; kernels may round differently (e.g. the text encoder's attention implementation).
    for mine, loaded_latents in ((ours.artistic_latents, theirs.artistic_latents),
                                 (ours.realistic_latents, theirs.realistic_latents)):
        assert torch.allclose(mine, loaded_latents, rtol=0, atol=1e-4 * float(mine.abs().max()))


def test_a_real_profile_is_found_in_the_hugging_face_cache_offline(tiny, tmp_path, monkeypatch):
    import huggingface_hub.constants

    repo = tmp_path / "hub" / "models--CompVis--stable-diffusion-v1-4"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123456789abcdef")
    save_diffusers_folder(tiny, repo / "snapshots" / "0123456789abcdef")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert load_models(ModelOptions(profile="sd14")).unet.config.block_out_channels == [32, 32, 64, 64]


def test_missing_weights_name_the_model_and_where_to_put_them(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(InputError, match=r"Stable Diffusion v1\.5 weights .* not found in the Hugging Face "
                                         r"cache.*models\.local_dir.*hf download stable-diffusion-v1-5"):
        load_models(ModelOptions(profile="sd15"))
    with pytest.raises(InputError, match=r"v1\.4 weights .* not found in .*nowhere \(no model_index\.json"):
        load_models(ModelOptions(profile="sd14", local_dir=str(tmp_path / "nowhere")))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model_index.json").write_text("{}")
    with pytest.raises(InputError, match="is incomplete"):
        load_models(ModelOptions(profile="sd14", local_dir=str(tmp_path / "broken")))


@pytest.mark.parametrize("options, message", [
    (ModelOptions(profile="sd3"), "unknown model profile 'sd3'"),
    (ModelOptions(profile="tiny", dtype="int8"), "models.dtype"),
])
def test_bad_model_options_are_refused(options, message):
    with pytest.raises(InputError, match=message):
        load_models(options)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_asking_for_a_gpu_that_is_not_there_is_refused():
    with pytest.raises(InputError, match="no CUDA GPU is available"):
        load_models(ModelOptions(profile="tiny", device="cuda"))
