"""Segmenters of the realistic twin (method §5) behind one interface, chosen by name.

``create_segmenter(options)`` builds the segmenter ``options.segmenter`` names; every segmenter has
``segment(image, vocabulary) -> Segmentation``: image uint8 (H, W, 3), result a per-pixel class map over the
vocabulary of the region's family (water: water, waterfall, river, ocean, lake, sea; sky: sky, clouds).

Registered here:
- ``synthetic`` (the offline default): a small SegFormer trained by the pipeline on the synthetic scenes
  (``stages.masks.training``), read from a checkpoint folder;
- ``ade20k``: an ADE20K-150 semantic model through transformers (SegFormer or UperNet checkpoints);
- ``clipseg``: CLIPSeg, one free-text prompt per vocabulary class, sigmoid, threshold;
- ``png``: a user's mask picture (white = the region).
Real weights are read from a local folder or the Hugging Face cache, never downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import torch

from stages.devices import resolve_device
from stages.errors import InputError
from stages.images import load_mask
from stages.values import FRACTION, ruled

FAMILIES: dict[str, tuple[str, ...]] = {
    "water": ("water", "waterfall", "river", "ocean", "lake", "sea"),
    "sky": ("sky", "clouds"),
}
"""Region families and the classes a segmenter looks for when the region is any of them."""

REGION_WORDS: dict[str, str] = {
    **{word: "water" for word in ("stream", "wave", "waves", "pond", "puddle", "fountain", "lagoon")},
    **{word: "sky" for word in ("cloud", "thunderstorm")},
}
"""Region names (as prompt rewriting gives them) that are not class names but belong to a family."""

ADE20K_IDS: dict[str, int] = {"sky": 2, "water": 21, "sea": 26, "river": 60, "waterfall": 113, "lake": 128}
"""0-based ADE20K-150 ids of the vocabulary classes (ADE20K has no cloud class: clouds are sky)."""


@dataclass(frozen=True)
class Vocabulary:
    """The region to find and the classes of its family."""

    region: str
    family: str
    classes: tuple[str, ...]


def vocabulary_for(region: str) -> Vocabulary:
    """The family vocabulary of a region name ("river", "clouds", "stream", …); InputError listing the
    families for a name none knows."""
    name = region.strip().lower()
    family = next((family for family, classes in FAMILIES.items() if name in classes or name == family),
                  REGION_WORDS.get(name))
    if family is None:
        known = "; ".join(f"{family}: {', '.join(classes)}" for family, classes in FAMILIES.items())
        raise InputError(f"no segmentation vocabulary knows the region {region!r}; families: {known} "
                         f"(also {', '.join(sorted(REGION_WORDS))}); pass --region with one of them")
    return Vocabulary(name, family, FAMILIES[family])


@dataclass
class Segmentation:
    """A per-pixel class map: labels int32 (H, W) indexing ``classes``, −1 outside the region."""

    labels: np.ndarray
    classes: tuple[str, ...]

    @property
    def mask(self) -> np.ndarray:
        """bool (H, W): the pixels of any vocabulary class."""
        return self.labels >= 0


class Segmenter(Protocol):
    """What every segmenter offers."""

    name: str

    def segment(self, image: np.ndarray, vocabulary: Vocabulary) -> Segmentation:
        """Segment uint8 (H, W, 3) ``image`` for the classes of ``vocabulary``."""


@dataclass(frozen=True)
class SegmenterOptions:
    """Which segmenter and where its weights are (params.yaml ``mask``)."""

    segmenter: str = "synthetic"
    """synthetic (trained offline by the pipeline), ade20k, clipseg or png."""
    checkpoint: str = "data/models/segmenter"
    """synthetic: the folder `dvc repro train_segment` writes (config.json, model.safetensors)."""
    local_dir: str | None = None
    """ade20k / clipseg: a transformers folder (config.json, model.safetensors, preprocessor_config.json and,
    for clipseg, the tokenizer files); null = the Hugging Face cache."""
    ade20k_model: str = "nvidia/segformer-b0-finetuned-ade-512-512"
    """ade20k: the repository looked up in the Hugging Face cache (SegFormer or UperNet, ADE20K-150)."""
    clipseg_model: str = "CIDAS/clipseg-rd64-refined"
    """clipseg: the repository looked up in the Hugging Face cache."""
    clipseg_threshold: float = ruled(0.4, FRACTION)
    """clipseg: a pixel belongs to the region where its best prompt's probability reaches this."""
    segmentation: str | None = None
    """png: the mask picture (white = the region), the size of the image."""
    device: str = "cpu"
    """auto (CUDA when present), cpu, cuda or cuda:N."""


SEGMENTERS: dict[str, Callable[[SegmenterOptions], Segmenter]] = {}


def register_segmenter(name: str) -> Callable:
    """Decorator: register a builder ``SegmenterOptions -> Segmenter`` under ``name``."""
    def add(builder: Callable[[SegmenterOptions], Segmenter]) -> Callable[[SegmenterOptions], Segmenter]:
        SEGMENTERS[name] = builder
        return builder
    return add


def create_segmenter(options: SegmenterOptions) -> Segmenter:
    """The segmenter ``options.segmenter`` names; InputError listing the names for an unknown one."""
    if options.segmenter not in SEGMENTERS:
        raise InputError(f"unknown segmenter {options.segmenter!r}; segmenters: {', '.join(SEGMENTERS)}")
    return SEGMENTERS[options.segmenter](options)


def labels_from_scores(scores: torch.Tensor, size: tuple[int, int], class_of_channel: list[int],
                       threshold: float | None = None) -> np.ndarray:
    """Per-pixel labels from a model's scores.

    scores: float (C, h, w), upsampled (bilinear) to ``size`` (H, W); class_of_channel[c] is the vocabulary
    index of channel c, or −1 for a class outside the vocabulary. A pixel takes its best channel's class;
    with ``threshold`` (probabilities), pixels whose best score is below it get −1. Returns int32 (H, W).
    """
    scores = torch.nn.functional.interpolate(scores[None].float(), size=size, mode="bilinear",
                                             align_corners=False)[0]
    best, channel = scores.max(dim=0)
    labels = torch.tensor(class_of_channel, dtype=torch.int32)[channel.cpu()].numpy()
    if threshold is not None:
        labels[best.cpu().numpy() < threshold] = -1
    return labels


class SemanticSegmenter:
    """A transformers semantic-segmentation model (``logits`` (1, C, h, w)) whose channels are named classes:
    ADE20K-150 checkpoints (``channel_classes`` from ADE20K_IDS) or the pipeline's synthetic SegFormer."""

    def __init__(self, name: str, model: torch.nn.Module, processor, channel_classes: dict[int, str],
                 device: torch.device | str = "cpu"):
        self.name = name
        self.model = model.to(device).eval()
        self.processor = processor
        self.channel_classes = channel_classes
        self.device = torch.device(device)

    def segment(self, image: np.ndarray, vocabulary: Vocabulary) -> Segmentation:
        """Labels over ``vocabulary.classes``: each pixel's arg-max class, −1 unless that class is in it."""
        pixels = self.processor(images=image, return_tensors="pt")["pixel_values"].to(self.device)
        with torch.inference_mode():
            logits = self.model(pixel_values=pixels).logits[0]
        channels = logits.shape[0]
        index = {name: i for i, name in enumerate(vocabulary.classes)}
        class_of_channel = [index.get(self.channel_classes.get(c, ""), -1) for c in range(channels)]
        return Segmentation(labels_from_scores(logits, image.shape[:2], class_of_channel), vocabulary.classes)


class ClipSegSegmenter:
    """CLIPSeg: one text prompt per vocabulary class; a pixel takes the class of its most probable prompt
    where that probability (sigmoid of the logit) reaches ``threshold``."""

    name = "clipseg"

    def __init__(self, model: torch.nn.Module, processor, threshold: float = 0.4,
                 device: torch.device | str = "cpu"):
        self.model = model.to(device).eval()
        self.processor = processor
        self.threshold = threshold
        self.device = torch.device(device)

    def segment(self, image: np.ndarray, vocabulary: Vocabulary) -> Segmentation:
        """Labels over ``vocabulary.classes`` from the prompts "a photo of <class>"."""
        prompts = [f"a photo of {name}" for name in vocabulary.classes]
        inputs = self.processor(text=prompts, images=[image] * len(prompts), padding=True, return_tensors="pt")
        with torch.inference_mode():
            logits = self.model(**{k: v.to(self.device) for k, v in inputs.items()}).logits
        probabilities = torch.sigmoid(logits.reshape(len(prompts), *logits.shape[-2:]))
        labels = labels_from_scores(probabilities, image.shape[:2], list(range(len(prompts))), self.threshold)
        return Segmentation(labels, vocabulary.classes)


class PngSegmenter:
    """A user's mask picture (white = the region): every white pixel is the region's own class."""

    name = "png"

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def segment(self, image: np.ndarray, vocabulary: Vocabulary) -> Segmentation:
        """The picture's white pixels as the class ``vocabulary.region``; refused unless it has the image's size."""
        mask = load_mask(self.path, image.shape[:2])
        return Segmentation(np.where(mask, 0, -1).astype(np.int32), (vocabulary.region,))


def missing_weights(what: str, repo_id: str, local_dir: str | None, reason: str) -> InputError:
    """The error for real segmenter weights that cannot be read: what to put where."""
    where = f"in {local_dir}" if local_dir else f"in the Hugging Face cache ({repo_id})"
    return InputError(
        f"{what} weights not found {where} ({reason}): put a transformers folder (config.json, model.safetensors and "
        f"the processor's files, as save_pretrained writes them) there and set mask.local_dir (or --segmenter-dir) to it, or run "
        f"`hf download {repo_id}` on a machine with network access and copy ~/.cache/huggingface here; "
        "the offline segmenter 'synthetic' needs no download")


def locate_folder(what: str, repo_id: str, local_dir: str | None) -> Path:
    """A real segmenter's folder: ``local_dir`` or the cached snapshot of ``repo_id`` (no network)."""
    from huggingface_hub import snapshot_download

    if local_dir is not None:
        folder = Path(local_dir).expanduser()
    else:
        try:
            folder = Path(snapshot_download(repo_id, local_files_only=True))
        except (OSError, ValueError) as error:  # huggingface_hub's "not in the cache" errors derive from these
            raise missing_weights(what, repo_id, None, "not in the cache") from error
    if not (folder / "config.json").is_file():
        raise missing_weights(what, repo_id, local_dir, f"no config.json in {folder}")
    return folder


def load_pretrained(what: str, repo_id: str, local_dir: str | None, model_class, processor_class):
    """(model, processor) from a real segmenter's folder, or the missing-weights error."""
    folder = locate_folder(what, repo_id, local_dir)
    try:
        return (model_class.from_pretrained(folder, local_files_only=True),
                processor_class.from_pretrained(folder, local_files_only=True))
    except (OSError, ValueError) as error:  # a missing or damaged file
        reason = f"{folder} is incomplete: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
        raise missing_weights(what, repo_id, local_dir, reason) from error


@register_segmenter("ade20k")
def ade20k_segmenter(options: SegmenterOptions) -> SemanticSegmenter:
    """An ADE20K-150 SegFormer or UperNet from ``local_dir`` or the cache."""
    from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation

    model, processor = load_pretrained("ADE20K segmentation", options.ade20k_model, options.local_dir,
                                       AutoModelForSemanticSegmentation, AutoImageProcessor)
    if model.config.num_labels != 150:
        raise InputError(f"the ADE20K segmenter must have 150 classes, this one has {model.config.num_labels}: "
                         "give an ADE20K-150 checkpoint (e.g. nvidia/segformer-b0-finetuned-ade-512-512)")
    return SemanticSegmenter("ade20k", model, processor, ade20k_channels(), resolve_device(options.device))


def ade20k_channels() -> dict[int, str]:
    """Channel → vocabulary class of ADE20K-150 models."""
    return {index: name for name, index in ADE20K_IDS.items()}


@register_segmenter("clipseg")
def clipseg_segmenter(options: SegmenterOptions) -> ClipSegSegmenter:
    """CLIPSeg from ``local_dir`` or the cache."""
    from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor

    model, processor = load_pretrained("CLIPSeg", options.clipseg_model, options.local_dir,
                                       CLIPSegForImageSegmentation, CLIPSegProcessor)
    return ClipSegSegmenter(model, processor, options.clipseg_threshold, resolve_device(options.device))


@register_segmenter("synthetic")
def synthetic_segmenter(options: SegmenterOptions) -> SemanticSegmenter:
    """The SegFormer the pipeline trained on the synthetic scenes (``options.checkpoint``)."""
    return load_segmenter(options.checkpoint, resolve_device(options.device))


def load_segmenter(folder: str | Path, device: torch.device | str = "cpu") -> SemanticSegmenter:
    """The trained synthetic segmenter of ``folder``; InputError saying how to make it when absent."""
    from transformers import SegformerForSemanticSegmentation, SegformerImageProcessorPil

    folder = Path(folder)
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise InputError(f"no trained segmenter in {folder} (config.json, model.safetensors): train it with "
                         "`dvc repro train_segment` (or `cinemagraph pipeline train_segment`), or set "
                         "mask.checkpoint to its folder")
    model = SegformerForSemanticSegmentation.from_pretrained(folder, local_files_only=True)
    processor = SegformerImageProcessorPil.from_pretrained(folder, local_files_only=True)
    return SemanticSegmenter("synthetic", model, processor, {int(k): v for k, v in model.config.id2label.items()},
                             device)


@register_segmenter("png")
def png_segmenter(options: SegmenterOptions) -> PngSegmenter:
    """The user's mask picture ``options.segmentation``."""
    if not options.segmentation:
        raise InputError("the png segmenter needs the mask picture: pass --segmentation PNG "
                         "(white = the region, the size of the image)")
    return PngSegmenter(options.segmentation)
