"""One bulk item through rewrite → twins → mask → flow → video, each step keyed exactly as the text DAG keys it.

:func:`step_item` is the one place that says what each step of a bulk item reads and with which settings
(the stage flows say the same for the DAG: flows/rewrite.py, flows/twin_flows.py, flows/masks.py,
flows/generate.py). A step's inputs are the files of the previous steps' store entries: keys are digests of
file contents, so an item computed by ``dvc repro`` or by an earlier bulk run is found, never computed again.
A row with an ``image`` makes its twins from the picture, and one with a ``mask`` takes that mask
(:data:`PICTURE_TWINS`, :data:`GIVEN_MASK`, as ``cinemagraph generate --image/--mask`` does).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from stages.errors import InputError
from stages.images import image_size, load_rgb
from tasks.batch import Item, ItemStep, execute_item, item_key, resolved_settings
from tasks.bulk.manifest import ItemSpec
from tasks.checkpoints import checkpoint_inputs
from tasks.executor import LocalExecutor
from tasks.generate import FLOW, VIDEO, flow_options, given_mask, picture_twins, video_options
from tasks.masks import MASK, mask_items
from tasks.rewrite import REWRITE, read_rewrite
from tasks.store import Store
from tasks.twins import TWINS, procedural_profile

STAGES = ("rewrite", "twins", "mask", "flow", "video")
"""The steps of a bulk item, in order (the text DAG's)."""
SECTIONS = ("rewrite", "models", "twins", "attention", "inversion", "mask", "flow", "video")
"""The params sections a bulk item reads."""


def picture_twins_item(item: Item, params: dict, out_dir: Path) -> dict:
    """Twins of a user's picture (tasks.generate.picture_twins): its own twin on the procedural profile, its
    DDIM inversion on a diffusion profile."""
    meta = picture_twins(item.inputs["image"], read_rewrite(item.inputs["rewrite"]), int(item.values["seed"]),
                         params, out_dir)
    return {"twin_source": meta["twin_source"], "region": meta["region"]}


def given_mask_item(item: Item, params: dict, out_dir: Path) -> dict:
    """A user's mask as the item's region mask (tasks.generate.given_mask); every part gets the region."""
    meta = json.loads(Path(item.inputs["meta"]).read_text())
    shape = image_size(item.inputs["image"]) if "image" in item.inputs else None
    record = given_mask(item.inputs["mask"], load_rgb(item.inputs["artistic"]), meta["region"], out_dir, shape)
    return {"region": meta["region"], "regions": len(record["regions"])}


PICTURE_TWINS = ItemStep("picture_twins", picture_twins_item, num_gpus=1.0, holds_models=True,
                         light=procedural_profile)
GIVEN_MASK = ItemStep("given_mask", given_mask_item, light=True)


def with_overrides(params: dict, spec: ItemSpec) -> dict:
    """The sections a bulk item reads, with the row's overrides written in."""
    sections = {name: dict(params.get(name) or {}) for name in SECTIONS}
    for name, values in spec.overrides.items():
        sections[name].update(values)
    return sections


def step_item(stage: str, spec: ItemSpec, params: dict, upstream: dict[str, Path]) -> tuple[ItemStep, Item, dict]:
    """The step, item and settings section of ``stage`` for the bulk item ``spec``.

    ``params``: the run's sections with the row's overrides (:func:`with_overrides`); ``upstream``: stage →
    the folder holding that earlier step's files (its store entry). The items and sections are those the
    stage flows build for the DAG, so the keys are the same for the same content.
    """
    twins, masks, flows = (upstream.get(name) for name in ("twins", "mask", "flow"))
    if stage == "rewrite":
        section = {key: value for key, value in params["rewrite"].items() if key != "prompts"}
        return REWRITE, Item(spec.id, values={"prompt": spec.prompt, "region": spec.region,
                                              "direction": spec.direction}), section
    if stage == "twins":
        section = {name: params.get(name) or {} for name in ("models", "twins", "attention")}
        inputs = {"rewrite": upstream["rewrite"] / "rewrite.json"}
        if spec.image is None:
            return TWINS, Item(spec.id, inputs, {"seed": spec.seed}), section
        return PICTURE_TWINS, Item(spec.id, {**inputs, "image": spec.image}, {"seed": spec.seed}), \
            {**section, "inversion": params.get("inversion") or {}}
    if stage == "mask":
        if spec.mask is None:
            return MASK, Item(spec.id, mask_items(twins.parent, [twins.name], params["mask"])[0].inputs), params["mask"]
        inputs = {"artistic": twins / "artistic.png", "meta": twins / "meta.json", "mask": spec.mask}
        return GIVEN_MASK, Item(spec.id, {**inputs, **({"image": spec.image} if spec.image else {})}), {}
    if stage == "flow":
        models = checkpoint_inputs("flow_model", flow_options(params["flow"]).flow_model)
        return FLOW, Item(spec.id, {"twins_meta": twins / "meta.json", "realistic": twins / "realistic.png",
                                    "mask_record": masks / "mask.json", "mask_regions": masks / "mask_regions.png",
                                    **models}), params["flow"]
    models = checkpoint_inputs("frame_model", video_options(params["video"]).frame_model)
    inputs = {"artistic": twins / "artistic.png", "mask": masks / "mask.png", "flow": flows / "flow.npy",
              "motion": flows / "motion.json", **models}
    return VIDEO, Item(spec.id, inputs), params["video"]


IN_PROCESS = LocalExecutor()


def check_settings(params: dict, specs: list[ItemSpec]) -> dict:
    """The run's sections checked before any work → the params with numbers converted (stages.values).

    Every section's keys and values are checked by the options they make, with each distinct set of row
    overrides; the offline segmenter must be trained when a row has no mask of its own."""
    from stages.values import PARAMS, check_section
    from tasks.masks import mask_options
    from tasks.rewrite import rewrite_options
    from tasks.twins import attention_options, inversion_options, model_options, twin_options

    params = {**params, **{name: check_section(params.get(name), name, PARAMS[name])
                           for name in SECTIONS if name in PARAMS}}
    distinct = {json.dumps(spec.overrides, sort_keys=True): spec for spec in specs}
    for spec in distinct.values():
        sections = with_overrides(params, spec)
        rewrite_options(sections["rewrite"])
        for make in (model_options, twin_options, attention_options, inversion_options):
            make(sections)
        mask_options(sections["mask"])
        flow_options(sections["flow"])
        video_options(sections["video"])
    _, segmenter = mask_options(params.get("mask"))
    checkpoint = Path(segmenter.checkpoint) / "config.json"
    if segmenter.segmenter == "synthetic" and not checkpoint.is_file() and any(spec.mask is None for spec in specs):
        raise InputError(f"the offline segmenter is not trained ({checkpoint} missing): run `cinemagraph pipeline "
                         "train_segment` (or `dvc repro train_segment`) first, or give each row a mask")
    return params


def run_item(spec: ItemSpec, params: dict, store_root: str) -> dict:
    """Run one bulk item through every step into the store (or find its steps there) → its outcome.

    The outcome: ``status`` ok or failed; ``stage`` and ``error`` of a failure; ``keys`` (stage → store key);
    ``seconds`` (stage → the step's compute seconds, as recorded when it was computed); ``computed`` (the
    steps computed now, the rest were found in the store); ``video`` (the loop's file name).
    """
    params, store, upstream = with_overrides(params, spec), Store(store_root), {}
    outcome = {"id": spec.id, "status": "ok", "stage": None, "error": None, "keys": {}, "seconds": {},
               "computed": []}
    started = time.perf_counter()
    for stage in STAGES:
        try:
            step, item, section = step_item(stage, spec, params, upstream)
            section = resolved_settings(section, IN_PROCESS.device_for(step))
            key = item_key(step, item, section, step.code())
        except InputError as error:
            return {**outcome, "status": "failed", "stage": stage, "error": str(error)}
        record = execute_item(step, item, section, key, store_root)
        if record["status"] == "failed":
            return {**outcome, "status": "failed", "stage": stage, "error": record["error"]}
        outcome["keys"][stage] = key
        outcome["seconds"][stage] = record.get("seconds")
        if record["status"] == "ok":
            outcome["computed"].append(stage)
        upstream[stage] = store.path(key)
    outcome["video"] = record.get("meta", {}).get("video")
    outcome["wall_s"] = round(time.perf_counter() - started, 3)
    return outcome
