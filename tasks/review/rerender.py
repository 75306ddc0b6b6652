"""Re-render an item from the first step its edit changes — mask → flow → video — with the pipeline's own
steps, into a new version; and open a new picture as an item (its own twin: no weights needed).

Parts of the mask under an arrow move the arrow's way (the arrows interpolated over those parts); the other
parts move as the chosen motion source says (the direction phrase or each class's default, or G_flow).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import asdict
from pathlib import Path

import numpy as np

from stages.errors import InputError
from stages.images import load_mask, load_rgb, save_png
from stages.masks.maker import GivenMask, given_mask
from stages.motion.flowfield import dense_flow
from stages.motion.sources import MotionRequest, flow_options
from stages.pipeline import CinemagraphPipeline
from tasks.generate import write_flow, write_loop
from tasks.one_prompt import write_given_mask
from tasks.review.edits import Edit
from tasks.review.folders import SAFE_ID, ReviewFolder, ReviewItem
from tasks.review.versions import SETTINGS, ItemVersions, read_json

MASK_FILES = ("mask.png", "mask.json", "mask_overlay.png", "mask_regions.png")


def version_settings(versions: ItemVersions, version: int, params: dict) -> dict:
    """What made ``version``: its settings.json, or for version 0 the item's own (no arrows, its speed)."""
    files = versions.files(version)
    if SETTINGS in files:
        return read_json(files[SETTINGS], {})
    speed = float((item_params(versions.item, params).get("flow") or {}).get("speed", 1.0))
    return {"source": "direction", "direction": None, "speed": speed, "hints": [], "steps": [], "parent": None}


def item_params(item: ReviewItem, params: dict) -> dict:
    """The params sections mask, flow, video the item was made with (its meta's, else ``params``)."""
    meta = item.meta("cinemagraph_meta.json")
    made = meta.get("settings") or {}
    video = {**(params.get("video") or {}), **{key: meta[key] for key in ("frames", "fps") if key in meta}}
    return {"mask": made.get("mask") or params.get("mask") or {}, "flow": made.get("flow") or params.get("flow") or {},
            "video": made.get("video") or video}


def head_mask(files: dict[str, Path], size: tuple[int, int]) -> np.ndarray:
    """The mask bool (H, W) of a version's files (all False when it has none)."""
    return load_mask(files["mask.png"], size) if "mask.png" in files else np.zeros(size, bool)


def rerender(versions: ItemVersions, edit: Edit, params: dict) -> dict:
    """A new version of the item from ``edit``, starting at the first changed step → the new head."""
    head = versions.head()
    files = versions.files(head["version"])
    artistic = load_rgb(files["artistic.png"])
    old = version_settings(versions, head["version"], params)
    mask_changed = not np.array_equal(edit.mask, head_mask(files, artistic.shape[:2]))
    motion = {"source": edit.source, "direction": edit.direction, "speed": edit.speed,
              "hints": [asdict(hint) for hint in edit.hints]}
    if not mask_changed and all(old.get(key) == value for key, value in motion.items()):
        raise InputError("nothing changed: paint the mask, drag an arrow, or change the speed or the motion first")
    if not edit.mask.any():
        raise InputError("the mask is empty: paint the part that should move")
    steps = ["mask", "flow", "video"] if mask_changed else ["flow", "video"]

    def build(folder: Path) -> None:
        seconds = {}
        started = time.perf_counter()
        if mask_changed:
            chosen = given_mask(edit.mask, artistic.shape[:2], versions.item.meta("meta.json").get("region") or "water")
            write_given_mask(chosen, artistic, "painted in the review", folder)
        else:
            chosen = kept_mask(files, edit.mask, folder)
        seconds["mask"] = time.perf_counter() - started
        pipeline = CinemagraphPipeline.from_params(pipeline_params(versions.item, params, edit))
        flow, record = part_motion(pipeline, versions.item, files, artistic, chosen, edit)
        write_flow(folder, flow, record)
        seconds["flow"] = time.perf_counter() - seconds["mask"] - started
        frames, rendering = pipeline.render(artistic, chosen.region_ids > 0, flow)
        write_loop(frames, flow, pipeline.settings.video, folder,
                   {"id": versions.item.id, "prompt": versions.item.prompt, "motion": record, **rendering})
        seconds["video"] = time.perf_counter() - sum(seconds.values()) - started
        (folder / SETTINGS).write_text(json.dumps({**motion, "steps": steps, "parent": head["version"],
                                                   "seconds": {k: round(v, 3) for k, v in seconds.items()}}, indent=2))

    return versions.commit(edit.base, build)


def kept_mask(files: dict[str, Path], mask: np.ndarray, folder: Path) -> GivenMask:
    """The head's mask, its parts and their classes unchanged (its files copied into ``folder``)."""
    for name in MASK_FILES:
        if name in files:
            shutil.copy2(files[name], folder / name)
    if "mask_regions.png" not in files or "mask.json" not in files:
        raise InputError("this item has no mask parts on disk: paint its mask")
    region_ids = load_rgb(files["mask_regions.png"])[..., 0].astype(np.int32)
    return GivenMask(mask, region_ids, read_json(files["mask.json"], {})["regions"])


def g_flow_present(flow: dict) -> bool:
    """Whether the G_flow checkpoint the ``flow`` section names is on disk."""
    from tasks.offline_models import trained_flow_model

    return trained_flow_model(flow_options(flow).flow_model)


def pipeline_params(item: ReviewItem, params: dict, edit: Edit) -> dict:
    """The params the pipeline re-renders with: the item's, the page's speed and source, an mp4 loop."""
    made = item_params(item, params)
    flow = {**made["flow"], "speed": edit.speed, "source": edit.source}
    if edit.source == "g_flow" and not g_flow_present(flow):
        raise InputError(f"the g_flow source needs a trained G_flow in {flow.get('flow_model')}: run "
                         "`dvc repro train_flow` (see docs/learned-motion.md), or pick another source")
    return {"mask": made["mask"], "flow": flow, "video": {**made["video"], "formats": ["mp4"]}}


def part_motion(pipeline: CinemagraphPipeline, item: ReviewItem, files: dict[str, Path], artistic: np.ndarray,
                chosen: GivenMask, edit: Edit) -> tuple[np.ndarray, dict]:
    """The flow float32 (2, H, W), pixels per frame: the parts under an arrow follow the arrows, the others the
    motion source → the flow and motion.json's record."""
    meta = item.meta("meta.json")
    realistic = load_rgb(files["realistic.png"]) if "realistic.png" in files else artistic
    request = MotionRequest(item.prompt, meta.get("region"), edit.direction or meta.get("direction"),
                            int(meta.get("seed", 0)))
    flow, record = pipeline.make_flow(realistic, chosen.region_ids, chosen.regions, request)
    arrowed = set()
    for number, hint in enumerate(edit.hints, 1):
        part = int(chosen.region_ids[int(hint.y), int(hint.x)])
        if part == 0:
            raise InputError(f"arrow {number} starts outside the mask: drag arrows from inside a painted part")
        arrowed.add(part)
    if arrowed:
        inside = np.isin(chosen.region_ids, sorted(arrowed))
        flow[:, inside] = (dense_flow(inside, list(edit.hints)) * np.float32(edit.speed))[:, inside]
        for part in record["parts"]:
            if part["id"] in arrowed:
                part["source"] = "arrows drawn in the review"
    return flow, {**record, "arrows": [asdict(hint) for hint in edit.hints]}


def open_picture(folder: ReviewFolder, path: Path, prompt: str) -> ReviewItem:
    """A picture of the folder as a new item (``<review>/new/<id>/``): the picture as its own twin, the prompt's
    region and direction read from ``prompt`` (what it shows) → the item (no mask yet: paint it)."""
    pipeline = CinemagraphPipeline()
    rewrite = pipeline.rewrite(prompt or "a painting of water")
    twins = pipeline.twins_of_picture(load_rgb(path), rewrite)
    stem = "".join(c if c.isalnum() or c in "._-" else "-" for c in path.stem)[:100].strip("-._") or "picture"
    item_id = next(name for n in range(1, 10_000) if (name := f"new-{stem}" + (f"-{n}" if n > 1 else ""))
                   not in folder.items and SAFE_ID.fullmatch(name))
    partial = folder.state_dir / "new" / f".partial-{uuid.uuid4().hex}"
    partial.mkdir(parents=True)
    save_png(partial / "artistic.png", twins.artistic)
    save_png(partial / "realistic.png", twins.realistic)
    (partial / "meta.json").write_text(json.dumps({"prompt": rewrite.prompt, "region": rewrite.region,
                                                   "direction": rewrite.direction, "seed": 0,
                                                   "image": str(path.relative_to(folder.root))}, indent=2))
    os.rename(partial, folder.state_dir / "new" / item_id)
    return folder.add_new(item_id)
