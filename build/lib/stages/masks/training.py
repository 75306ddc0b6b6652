"""The offline segmenter: a small SegFormer trained on the synthetic scenes, whose exact region masks are the
labels (classes: background and every ``Region.name`` the scenes draw).

``train_segmenter(options, folder)`` trains it on CPU in about a minute and writes a transformers folder
(config.json with the class names, model.safetensors, preprocessor_config.json, training.json with the
held-out IoU per class beside a plain colour-threshold baseline); ``stages.masks.segmenters.load_segmenter(folder)`` reads it back as
the ``synthetic`` segmenter.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from stages.errors import InputError
from stages.images import iou
from stages.masks.segmenters import FAMILIES, SemanticSegmenter, Vocabulary
from stages.scenes.landscapes import scene_for
from stages.values import COUNT, RATE, SEED, SIZE, ruled

BACKGROUND = "background"
RECORD = "training.json"


@dataclass(frozen=True)
class SegmentTrainingOptions:
    """Knobs of the offline segmenter's training (params.yaml ``train_segment``)."""

    count: int = ruled(192, COUNT)
    """Training scenes; scene i uses seed + i."""
    held_out: int = ruled(24, COUNT)
    """Held-out scenes for the metrics, seeds after the training ones."""
    seed: int = ruled(5000, SEED)
    """Seed of the first training scene (the synth stages use 0… and 1000…)."""
    height: int = ruled(64, SIZE)
    """Scene height, pixels; the model sees every picture at this size."""
    width: int = ruled(96, SIZE)
    """Scene width, pixels."""
    iterations: int = ruled(150, COUNT)
    """AdamW steps."""
    batch_size: int = ruled(16, COUNT)
    lr: float = ruled(0.003, RATE)
    init_seed: int = ruled(0, SEED)
    """Seed of the initial weights and of the batch order."""


def tiny_segformer_config(classes: tuple[str, ...]):
    """A SegFormer of four one-layer stages (16–96 channels, ~0.25 M parameters) over ``classes``."""
    from transformers import SegformerConfig

    return SegformerConfig(num_encoder_blocks=4, depths=[1, 1, 1, 1], sr_ratios=[4, 2, 1, 1],
                           hidden_sizes=[16, 32, 64, 96], num_attention_heads=[1, 1, 2, 2], mlp_ratios=[2, 2, 2, 2],
                           decoder_hidden_size=64, num_labels=len(classes),
                           id2label=dict(enumerate(classes)), label2id={name: i for i, name in enumerate(classes)})


def pixel_processor(height: int, width: int):
    """The processor of the synthetic segmenter: resize to height × width, scale to [−1, 1]."""
    from transformers import SegformerImageProcessorPil

    return SegformerImageProcessorPil(size={"height": height, "width": width}, image_mean=[0.5] * 3,
                                   image_std=[0.5] * 3, do_reduce_labels=False)


WATER_KINDS = ("sea", "lake", "river", "waterfall")


def sample_kinds(rng: np.random.Generator) -> list[str]:
    """The moving kinds of one training scene: a water kind, often with clouds; sometimes sky or clouds alone."""
    draw = rng.random()
    if draw < 0.15:
        return [str(rng.choice(["sky", "clouds"]))]
    water = str(rng.choice(WATER_KINDS))
    return [water, "clouds"] if draw < 0.6 else [water]


def scene_samples(seeds: range, height: int, width: int) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """One frame (uint8 (H, W, 3), at a seeded time) and its region masks by name (bool (H, W)) per seed, of
    the procedural world's scenes (every kind the realistic twins draw)."""
    samples = []
    for seed in seeds:
        scene = scene_for(sample_kinds(np.random.default_rng([seed, 1])), None, seed, height, width)
        frame = scene.frame(int(np.random.default_rng(seed).integers(scene.period)))
        masks: dict[str, np.ndarray] = {}
        for region in scene.regions:
            masks[region.name] = masks.get(region.name, np.zeros((height, width), bool)) | region.mask
        samples.append((frame, masks))
    return samples


def label_map(masks: dict[str, np.ndarray], classes: tuple[str, ...], shape: tuple[int, int]) -> np.ndarray:
    """int64 (H, W) class indices from region masks by name (a later mask wins where two overlap); names
    outside ``classes`` stay background."""
    labels = np.zeros(shape, np.int64)
    for name, mask in masks.items():
        if name in classes:
            labels[mask] = classes.index(name)
    return labels


def colour_baseline(image: np.ndarray) -> dict[str, np.ndarray]:
    """A plain colour threshold per family, bool (H, W): water = clearly blue pixels (blue − red > 60),
    sky = bright, nearly grey ones (every channel > 190, spread < 45)."""
    rgb = image.astype(np.int32)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    return {"water": rgb[..., 2] - rgb[..., 0] > 60, "sky": (rgb.min(axis=2) > 190) & (spread < 45)}


def train_segmenter(options: SegmentTrainingOptions, folder: str | Path) -> dict:
    """Train the synthetic segmenter, save it in ``folder`` and return its held-out metrics: IoU per class,
    per family (water, sky: the union of their classes) and the colour baseline's family IoUs."""
    from transformers import SegformerForSemanticSegmentation

    train = scene_samples(range(options.seed, options.seed + options.count), options.height, options.width)
    held_out = scene_samples(range(options.seed + options.count, options.seed + options.count + options.held_out),
                             options.height, options.width)
    classes = (BACKGROUND, *sorted({name for _, masks in train for name in masks}))
    processor = pixel_processor(options.height, options.width)
    pixels = processor(images=[frame for frame, _ in train], return_tensors="pt")["pixel_values"]
    shape = (options.height, options.width)
    labels = torch.from_numpy(np.stack([label_map(masks, classes, shape) for _, masks in train]))
    torch.manual_seed(options.init_seed)
    model = SegformerForSemanticSegmentation(tiny_segformer_config(classes))
    optimiser = torch.optim.AdamW(model.parameters(), lr=options.lr)
    order = torch.Generator().manual_seed(options.init_seed)
    model.train()
    for _ in tqdm(range(options.iterations), desc="segmenter", unit="step", leave=False):
        batch = torch.randint(len(train), (options.batch_size,), generator=order)
        loss = model(pixel_values=pixels[batch], labels=labels[batch]).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    segmenter = SemanticSegmenter("synthetic", model, processor, dict(enumerate(classes)))
    metrics = held_out_metrics(segmenter, classes, held_out)
    metrics["final_loss"] = round(float(loss.detach()), 4)
    folder = Path(folder)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    (folder / RECORD).write_text(json.dumps({"classes": list(classes), "options": asdict(options),
                                             "metrics": metrics}, indent=2))
    return metrics


def held_out_metrics(segmenter: SemanticSegmenter, classes: tuple[str, ...],
                     samples: list[tuple[np.ndarray, dict[str, np.ndarray]]]) -> dict:
    """IoU over all ``samples`` pooled: per named class (``iou_<class>``), per family (``iou_water``,
    ``iou_sky``) and the colour baseline's (``baseline_iou_<family>``)."""
    everything = Vocabulary("scene", "all", classes[1:])
    predicted, truth, baseline = [], [], []
    for frame, masks in samples:
        predicted.append(segmenter.segment(frame, everything).labels + 1)
        truth.append(label_map(masks, classes, frame.shape[:2]))
        baseline.append(colour_baseline(frame))
    predicted, truth = np.stack(predicted), np.stack(truth)
    metrics = {f"iou_{name}": round(iou(predicted == i, truth == i), 4)
               for i, name in enumerate(classes) if i and (truth == i).any()}
    for family, members in FAMILIES.items():
        indices = [i for i, name in enumerate(classes) if name in members]
        if indices and np.isin(truth, indices).any():
            metrics[f"iou_{family}"] = round(iou(np.isin(predicted, indices), np.isin(truth, indices)), 4)
            metrics[f"baseline_iou_{family}"] = round(
                iou(np.stack([b[family] for b in baseline]), np.isin(truth, indices)), 4)
    return metrics
