"""Segmenters built from their config classes with random weights, offline, and the trained synthetic one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stages.errors import InputError
from stages.images import iou, save_png
from stages.masks.segmenters import (ADE20K_IDS, SEGMENTERS, SegmenterOptions, create_segmenter, load_segmenter,
                                     vocabulary_for)
from stages.masks.training import (SegmentTrainingOptions, sample_kinds, colour_baseline, label_map,
                                   scene_samples, train_segmenter)
from stages.scenes.landscapes import scene_for


def tiny_ade20k(folder):
    """A random 150-class SegFormer whose classifier says "water" (ADE id 21) everywhere, saved to ``folder``."""
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessorPil

    torch.manual_seed(0)
    model = SegformerForSemanticSegmentation(SegformerConfig(
        depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 24, 32], num_attention_heads=[1, 1, 1, 1],
        decoder_hidden_size=16, num_labels=150))
    with torch.no_grad():
        model.decode_head.classifier.weight.zero_()
        model.decode_head.classifier.bias.zero_()
        model.decode_head.classifier.bias[ADE20K_IDS["water"]] = 1.0
    model.save_pretrained(folder)
    SegformerImageProcessorPil(size={"height": 64, "width": 64}).save_pretrained(folder)


def tiny_clipseg(folder):
    """A random CLIPSeg with the project's byte-level tokenizer, saved to ``folder``."""
    from transformers import CLIPSegConfig, CLIPSegForImageSegmentation, CLIPSegProcessor, ViTImageProcessorPil

    from stages.diffusion.models import byte_level_tokenizer

    tokenizer = byte_level_tokenizer()
    config = CLIPSegConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2,
                           image_size=64, patch_size=16),
        projection_dim=32, reduce_dim=16, extract_layers=(1, 2), conditional_layer=0)
    torch.manual_seed(0)
    CLIPSegForImageSegmentation(config).save_pretrained(folder)
    CLIPSegProcessor(image_processor=ViTImageProcessorPil(size={"height": 64, "width": 64}),
                     tokenizer=tokenizer).save_pretrained(folder)


def test_vocabularies_by_family_and_unknown_regions():
    assert vocabulary_for("Waterfall").classes == ("water", "waterfall", "river", "ocean", "lake", "sea")
    assert vocabulary_for("stream").family == "water"
    assert vocabulary_for("cloud").classes == ("sky", "clouds")
    with pytest.raises(InputError, match="families: water: water, waterfall.*; sky: sky, clouds"):
        vocabulary_for("lava")


def test_unknown_segmenter_lists_the_names():
    with pytest.raises(InputError, match="segmenters: ade20k, clipseg, synthetic, png"):
        create_segmenter(SegmenterOptions(segmenter="odise"))
    assert set(SEGMENTERS) == {"synthetic", "ade20k", "clipseg", "png"}


def test_ade20k_segmenter_maps_its_classes_to_the_vocabulary(tmp_path):
    tiny_ade20k(tmp_path)
    segmenter = create_segmenter(SegmenterOptions(segmenter="ade20k", local_dir=str(tmp_path)))
    image = np.random.default_rng(0).integers(0, 256, (48, 80, 3), dtype=np.uint8)
    water = segmenter.segment(image, vocabulary_for("river"))
    assert water.labels.shape == (48, 80)
    assert (water.labels == water.classes.index("water")).all()  # ADE "water" everywhere
    assert not segmenter.segment(image, vocabulary_for("sky")).mask.any()


def test_clipseg_segmenter_thresholds_the_prompt_probabilities(tmp_path):
    tiny_clipseg(tmp_path)
    image = np.random.default_rng(1).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    everything = create_segmenter(SegmenterOptions(segmenter="clipseg", local_dir=str(tmp_path),
                                                   clipseg_threshold=0.0)).segment(image, vocabulary_for("sky"))
    assert everything.labels.shape == (40, 56) and everything.mask.all()
    assert set(np.unique(everything.labels)) <= {0, 1}
    nothing = create_segmenter(SegmenterOptions(segmenter="clipseg", local_dir=str(tmp_path),
                                                clipseg_threshold=1.01)).segment(image, vocabulary_for("sky"))
    assert not nothing.mask.any()


@pytest.mark.parametrize("name", ["ade20k", "clipseg"])
def test_missing_real_weights_say_what_to_put_where(name, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match=r"weights not found in the Hugging Face cache .*mask.local_dir"):
        create_segmenter(SegmenterOptions(segmenter=name))
    with pytest.raises(InputError, match=f"weights not found in {tmp_path}.*config.json"):
        create_segmenter(SegmenterOptions(segmenter=name, local_dir=str(tmp_path)))


def test_png_segmenter_is_the_picture_and_checks_its_size(tmp_path):
    mask = np.zeros((32, 48), bool)
    mask[10:20, 5:30] = True
    save_png(tmp_path / "seg.png", mask)
    segmenter = create_segmenter(SegmenterOptions(segmenter="png", segmentation=str(tmp_path / "seg.png")))
    result = segmenter.segment(np.zeros((32, 48, 3), np.uint8), vocabulary_for("lake"))
    assert np.array_equal(result.mask, mask) and result.classes == ("lake",)
    with pytest.raises(InputError, match="same width and height"):
        segmenter.segment(np.zeros((33, 48, 3), np.uint8), vocabulary_for("lake"))


def test_scene_labels_come_from_the_region_names():
    samples = scene_samples(range(7, 9), 48, 64)
    for seed, (frame, masks) in zip(range(7, 9), samples):
        scene = scene_for(sample_kinds(np.random.default_rng([seed, 1])), None, seed, 48, 64)
        assert set(masks) == {region.name for region in scene.regions}
        labels = label_map(masks, ("background", *sorted(masks)), (48, 64))
        assert np.array_equal(labels > 0, scene.mask)


def test_colour_baseline_confuses_the_blue_sky_with_water():
    frame, masks = scene_samples(range(3, 4), 64, 96)[0]
    water = np.logical_or.reduce([mask for name, mask in masks.items() if name != "clouds"])
    baseline = colour_baseline(frame)["water"]
    assert baseline[:5].mean() > 0.5 and not water[:5].any()  # the top rows are sky
    assert iou(baseline, water) < 0.8


def test_trained_segmenter_round_trips_through_its_folder(tmp_path):
    options = SegmentTrainingOptions(count=12, held_out=4, height=32, width=48, iterations=3, batch_size=4)
    metrics = train_segmenter(options, tmp_path)
    assert {"iou_water", "baseline_iou_water"} <= set(metrics)
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "model.safetensors", "training.json"}
    loaded = load_segmenter(tmp_path)
    again = create_segmenter(SegmenterOptions(checkpoint=str(tmp_path)))
    frame, _ = scene_samples(range(99, 100), 32, 48)[0]
    vocabulary = vocabulary_for("river")
    assert np.array_equal(loaded.segment(frame, vocabulary).labels, again.segment(frame, vocabulary).labels)
    assert set(loaded.channel_classes.values()) >= {"background", "river", "lake", "waterfall"}
    with pytest.raises(InputError, match="dvc repro train_segment"):
        load_segmenter(tmp_path / "absent")


@pytest.mark.slow
def test_trained_segmenter_finds_held_out_water():
    """The acceptance check of the offline segmenter, at the pipeline's settings (~10–60 s on 2 cores)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        metrics = train_segmenter(SegmentTrainingOptions(), folder)
    assert metrics["iou_water"] >= 0.9 > metrics["baseline_iou_water"]
