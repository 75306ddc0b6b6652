"""The ``synth`` step: one synthetic scene per item, written in the Eulerian dataset layout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stages.scenes.eulerian import write_motion
from stages.motion.flowfield import flow_to_rgb
from stages.images import save_png
from stages.scenes.landscapes import make_scene
from stages.video import write_video
from stages.values import COUNT, FPS, FRAMES, SEED, Range, ruled
from tasks.batch import Item, ItemStep


@dataclass(frozen=True)
class SynthOptions:
    """The ``synth`` / ``synth_train`` sections: how many scenes, of which size."""

    count: int = ruled(12, COUNT)
    """number of scenes."""
    seed: int = ruled(0, SEED)
    """seed of the first scene; scene i uses seed + i."""
    height: int = ruled(256, Range(16, 4096, integer=True))
    """pixels."""
    width: int = ruled(384, Range(16, 4096, integer=True))
    """pixels."""
    frames: int = ruled(60, FRAMES)
    """ground-truth frames; the texture loops exactly over this many."""
    fps: float = ruled(30, FPS)
    """frames per second of the ground-truth videos."""
    crf: int = ruled(16, Range(0, 51, integer=True))
    """H.264 quality of the ground-truth videos (lower = better)."""
    validation_every: int = ruled(4, COUNT)
    """every this-many-th scene is held out (split "validation")."""


def synth_item(item: Item, params: dict, out_dir: Path) -> dict:
    """Write ``<id>_input.png``, ``<id>_gt.mp4``, ``<id>_motion.pth``, ``<id>_mask.png`` and a flow picture."""
    scene = make_scene(item.values["seed"], params["height"], params["width"], params["frames"])
    video = scene.video(params["frames"])
    flow = scene.flow()
    save_png(out_dir / f"{item.id}_input.png", video[0])
    save_png(out_dir / f"{item.id}_mask.png", scene.mask)
    save_png(out_dir / f"{item.id}_flow.png", flow_to_rgb(flow))
    write_motion(out_dir / f"{item.id}_motion.pth", flow)
    write_video(out_dir / f"{item.id}_gt.mp4", video, fps=params["fps"], quality=params["crf"])
    return {"caption": scene.caption, "kind": scene.regions[0].name, "regions": len(scene.regions),
            "split": item.values["split"], "seed": item.values["seed"]}


SYNTH = ItemStep("synth", synth_item)


def synth_items(params: dict) -> list[Item]:
    """The batch of scenes: ``count`` seeds from ``seed``; every ``validation_every``-th is held out."""
    items = []
    for index in range(params["count"]):
        split = "validation" if (index + 1) % params["validation_every"] == 0 else "train"
        items.append(Item(f"scene{index:04d}", values={"seed": params["seed"] + index, "split": split}))
    return items
