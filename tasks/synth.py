"""The ``synth`` step: one synthetic scene per item, written in the Eulerian dataset layout."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from stages.scenes.eulerian import write_motion
from stages.motion.flowfield import flow_to_rgb
from stages.images import save_png
from stages.learned.data import SIGN_FREE_SUFFIX
from stages.learned.world_scenes import sign_free_mask, world_scene
from stages.scenes.landscapes import make_scene
from stages.video import write_video
from stages.values import COUNT, FPS, FRAMES, SEED, Range, one_of, ruled
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
    scenes: str = ruled("landscapes", one_of("landscapes", "world"))
    """landscapes: one water element (river, waterfall or lake), sometimes with clouds, captioned with its
    direction (stages.scenes.landscapes.make_scene); world: the text DAG's world, every kind it draws, several
    at once, captioned like prompts (stages.learned.world_scenes)."""


def synth_item(item: Item, params: dict, out_dir: Path) -> dict:
    """Write ``<id>_input.png``, ``<id>_gt.mp4``, ``<id>_motion.pth``, ``<id>_mask.png``, a flow picture and, for
    the world's scenes, ``<id>_signfree.png`` (where the sign of the motion was left to chance)."""
    seed = item.values["seed"]
    if params.get("scenes", "landscapes") == "world":
        drawn = world_scene(seed, params["height"], params["width"], params["frames"])
        scene, caption = drawn.scene, drawn.caption
        save_png(out_dir / f"{item.id}{SIGN_FREE_SUFFIX}", sign_free_mask(drawn))
    else:
        scene = make_scene(seed, params["height"], params["width"], params["frames"])
        caption = scene.caption
    video = scene.video(params["frames"])
    flow = scene.flow()
    save_png(out_dir / f"{item.id}_input.png", video[0])
    save_png(out_dir / f"{item.id}_mask.png", scene.mask)
    save_png(out_dir / f"{item.id}_flow.png", flow_to_rgb(flow))
    write_motion(out_dir / f"{item.id}_motion.pth", flow)
    write_video(out_dir / f"{item.id}_gt.mp4", video, fps=params["fps"], quality=params["crf"])
    return {"caption": caption, "kind": scene.regions[0].name, "regions": len(scene.regions),
            "split": item.values["split"], "seed": item.values["seed"]}


SYNTH = ItemStep("synth", synth_item)


def synth_items(params: dict) -> list[Item]:
    """The batch of scenes: ``count`` seeds from ``seed``; every ``validation_every``-th is held out."""
    items = []
    for index in range(params["count"]):
        split = "validation" if (index + 1) % params["validation_every"] == 0 else "train"
        items.append(Item(f"scene{index:04d}", values={"seed": params["seed"] + index, "split": split}))
    return items


def write_index(out_dir: str | Path, ids: list[str], captions: list[str], splits: list[str]) -> None:
    """``captions.json`` (id → caption) and ``splits.json`` (split → sorted ids) of a scene folder."""
    Path(out_dir, "captions.json").write_text(json.dumps(dict(zip(ids, captions)), indent=1))
    grouped: dict[str, list[str]] = {}
    for item_id, split in zip(ids, splits):
        grouped.setdefault(split, []).append(item_id)
    Path(out_dir, "splits.json").write_text(json.dumps({name: sorted(group) for name, group in sorted(grouped.items())},
                                                       indent=1))


def write_scenes(section: dict, out_dir: Path) -> None:
    """Every scene of a ``synth``/``synth_train`` section (all keys given) into ``out_dir/<id>/`` in this
    process, with a progress bar, and the folder's index: the scene set outside a DVC run."""
    items = synth_items(section)
    metas = [synth_item(item, section, Path(out_dir, item.id)) for item in tqdm(items, desc="scenes", unit="scene")]
    write_index(out_dir, [item.id for item in items], [meta["caption"] for meta in metas],
                [meta["split"] for meta in metas])
