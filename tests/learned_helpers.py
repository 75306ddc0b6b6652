"""Tiny datasets and untrained checkpoints for the learned-network tests."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from stages.learned.checkpoint import save_checkpoint
from stages.learned.flow_net import FlowNet, FlowNetConfig
from stages.learned.frame_net import FrameNet, FrameNetConfig
from stages.learned.text import TextEncoderOptions, text_width
from tasks.batch import Item
from tasks.synth import synth_item

SMALL_FLOW = dict(channels=(8, 16), heads=2, spade_hidden=8, pooled_text=4)
SMALL_FRAME = dict(channels=(8, 16))


def write_scenes(root: Path, count: int = 4, height: int = 32, width: int = 48, frames: int = 8,
                 layout: str = "splits") -> Path:
    """Synthetic scenes in the Eulerian layout: one folder per scene with splits.json (``splits``) or the real
    dataset's train/ and validation/ folders (``folders``); every 4th scene is held out."""
    params = dict(height=height, width=width, frames=frames, fps=10, crf=10)
    captions, splits = {}, {"train": [], "validation": []}
    for index in range(count):
        split = "validation" if index % 4 == 3 else "train"
        item = Item(f"clip{index}", values={"seed": 500 + index, "split": split})
        folder = root / (split if layout == "folders" else item.id)
        folder.mkdir(parents=True, exist_ok=True)
        captions[item.id] = synth_item(item, params, folder)["caption"]
        splits[split].append(item.id)
    (root / "captions.json").write_text(json.dumps(captions))
    if layout == "splits":
        (root / "splits.json").write_text(json.dumps(splits))
    return root


def flow_checkpoint(folder: Path, conditioning: str = "text", seed: int = 0) -> Path:
    """An untrained G_flow checkpoint (tiny text profile)."""
    text = TextEncoderOptions()
    config = FlowNetConfig(**SMALL_FLOW, conditioning=conditioning, text_width=text_width(text))
    torch.manual_seed(seed)
    return save_checkpoint(folder, "g_flow", FlowNet(config), config.to_dict(),
                           text_encoder=text.to_dict() if conditioning == "text" else None)


def frame_checkpoint(folder: Path, seed: int = 0) -> Path:
    """An untrained G_frame checkpoint (which renders like the motion engine)."""
    config = FrameNetConfig(**SMALL_FRAME)
    torch.manual_seed(seed)
    return save_checkpoint(folder, "g_frame", FrameNet(config), config.to_dict())
