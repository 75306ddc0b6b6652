"""Benchmark of the mask stage: clustering a 1024 × 1024 Ā and segmenting one 512² image per backend.

Ā is a row-stochastic matrix over a 32 × 32 grid (softmax of smooth random features, peaked like a real
one). Segmenters have random weights at their real size (timing does not depend on the weights):
``ade20k`` = SegFormer-B0 with 150 classes at 512², ``clipseg`` = CLIPSeg rd64 (ViT-B/16 at 352², the
family's prompts), ``synthetic`` = the pipeline's tiny SegFormer (it resizes to its training size).

    python benchmarks/masks.py [--threads 2] [--repeats 3] [--size 512]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from stages.diffusion.models import byte_level_tokenizer
from stages.masks.clustering import cluster_attention
from stages.masks.segmenters import ClipSegSegmenter, SemanticSegmenter, ade20k_channels, vocabulary_for
from stages.masks.training import SegmentTrainingOptions, pixel_processor, tiny_segformer_config


def peaked_attention(grid: tuple[int, int] = (32, 32), seed: int = 0) -> np.ndarray:
    """float32 (h·w, h·w): softmax over smooth random 8-d features, row-stochastic."""
    import cv2

    rng = np.random.default_rng(seed)
    coarse = rng.standard_normal((grid[0] // 4, grid[1] // 4, 8)).astype(np.float32)
    features = cv2.resize(coarse, (grid[1], grid[0]), interpolation=cv2.INTER_CUBIC).reshape(-1, 8)
    logits = 4.0 * features @ features.T
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def segmenters() -> dict:
    """Each backend at its real size, random weights."""
    from transformers import (CLIPSegConfig, CLIPSegForImageSegmentation, CLIPSegProcessor, SegformerConfig,
                              SegformerForSemanticSegmentation, SegformerImageProcessorPil, ViTImageProcessorPil)

    torch.manual_seed(0)
    tokenizer = byte_level_tokenizer()
    clipseg = CLIPSegForImageSegmentation(CLIPSegConfig(text_config=dict(
        vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)))
    options = SegmentTrainingOptions()
    classes = ("background", "clouds", "lake", "river", "waterfall")
    return {
        "ade20k": SemanticSegmenter("ade20k", SegformerForSemanticSegmentation(SegformerConfig(num_labels=150)),
                                    SegformerImageProcessorPil(size={"height": 512, "width": 512}),
                                    ade20k_channels()),
        "clipseg": ClipSegSegmenter(clipseg, CLIPSegProcessor(
            image_processor=ViTImageProcessorPil(size={"height": 352, "width": 352}), tokenizer=tokenizer)),
        "synthetic": SemanticSegmenter("synthetic", SegformerForSemanticSegmentation(tiny_segformer_config(classes)),
                                       pixel_processor(options.height, options.width), dict(enumerate(classes))),
    }


def timed(function, repeats: int) -> float:
    """Best wall time of ``repeats`` calls after one warm-up, seconds."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    attention = peaked_attention()
    results = {f"cluster_{method}_s": round(timed(lambda: cluster_attention(attention, (32, 32), k, method),
                                                  args.repeats), 3)
               for method, k in (("kmeans", 10), ("spectral", 5))}
    image = np.random.default_rng(0).integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)
    water = vocabulary_for("water")
    for name, segmenter in segmenters().items():
        results[f"segment_{name}_s"] = round(timed(lambda: segmenter.segment(image, water), args.repeats), 3)
    print(json.dumps({"threads": args.threads, "image": args.size, "attention": list(attention.shape), **results},
                     indent=2))


if __name__ == "__main__":
    main()
