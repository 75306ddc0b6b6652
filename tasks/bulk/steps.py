"""One bulk item through rewrite → twins → mask → flow → video, each step keyed exactly as the text DAG keys it.

What each step reads and with which settings comes from the stage declarations (tasks.dag): :func:`step_item`
builds the item a stage's flow would build, its inputs taken from the previous steps' store entries. Keys are
digests of file contents, so an item computed by ``dvc repro`` or by an earlier bulk run is found, never
computed again. A row with an ``image`` makes its twins from the picture, and one with a ``mask`` takes that
mask (:data:`PICTURE_TWINS`, :data:`GIVEN_MASK`, as ``cinemagraph generate --image/--mask`` does).
"""

from __future__ import annotations

import json
import tempfile
import time
from functools import lru_cache
from pathlib import Path

from tasks.dag import declared, load, stage_writing
from stages.diffusion.makers import TwinSettings, twin_maker
from stages.errors import InputError
from stages.images import image_size, load_mask, load_rgb
from stages.masks.maker import given_mask
from stages.pipeline import PipelineSettings
from tasks.batch import Item, ItemStep, execute_item, item_key, resolved_settings
from tasks.bulk.manifest import ItemSpec
from tasks.code import code_digest
from tasks.executor import LocalExecutor
from tasks.offline_models import trained_flow_model
from tasks.one_prompt import write_given_mask
from tasks.rewrite import read_rewrite
from tasks.store import Store
from tasks.twins import procedural_profile, write_picture_twins

STAGES = ("rewrite", "twins", "mask", "flow", "video")
"""The steps of a bulk item, in order (the text DAG's, without its pictures of Ā)."""
SECTIONS = ("rewrite", "models", "twins", "attention", "inversion", "mask", "flow", "video")
"""The params sections a bulk item reads."""


def picture_twins_item(item: Item, params: dict, out_dir: Path) -> dict:
    """Twins of a user's picture by the pipeline's twin maker: its own twin on the procedural profile, its
    DDIM inversion on a diffusion profile."""
    settings = TwinSettings.from_params(params)
    rewrite = read_rewrite(item.inputs["rewrite"])
    twins = twin_maker(settings).of_picture(load_rgb(item.inputs["image"]), rewrite)
    meta = write_picture_twins(twins, item.inputs["image"], rewrite, int(item.values["seed"]), settings,
                               out_dir)
    return {"twin_source": meta["twin_source"], "region": meta["region"]}


def given_mask_item(item: Item, params: dict, out_dir: Path) -> dict:
    """A user's mask as the item's region mask; every part gets the region."""
    meta = json.loads(Path(item.inputs["meta"]).read_text())
    artistic = load_rgb(item.inputs["artistic"])
    shape = image_size(item.inputs["image"]) if "image" in item.inputs else artistic.shape[:2]
    given = given_mask(load_mask(item.inputs["mask"], shape), artistic.shape[:2], meta["region"])
    record = write_given_mask(given, artistic, item.inputs["mask"].name, out_dir)
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
    """The step, item and settings section of ``stage`` for the bulk item ``spec``, as its declaration says.

    ``params``: the run's sections with the row's overrides (:func:`with_overrides`); ``upstream``: stage →
    the folder holding that earlier step's files (its store entry).
    """
    declaration = declared(stage)
    section = declaration.step_params(params)
    inputs = {name: upstream[stage_writing(folder)] / file for name, (folder, file) in declaration.input_files().items()}
    if declaration.models:
        inputs.update(load(declaration.models)(section))
    values = {name: getattr(spec, name) for name in declaration.values}
    if stage == "twins" and spec.image is not None:
        return PICTURE_TWINS, Item(spec.id, {**inputs, "image": spec.image}, values), \
            {**section, "inversion": params.get("inversion") or {}}
    if stage == "mask" and spec.mask is not None:
        inputs = {"artistic": inputs["artistic"], "meta": inputs["meta"], "mask": spec.mask}
        return GIVEN_MASK, Item(spec.id, {**inputs, **({"image": spec.image} if spec.image else {})}), {}
    return load(declaration.run), Item(spec.id, inputs, values), section


IN_PROCESS = LocalExecutor()


@lru_cache(maxsize=None)
def module_code(module: str) -> str:
    """The code digest of the steps of ``module`` (as ItemStep.code takes it), once per process as a batch
    takes it once per stage: it reads every module of the import closure (~0.3 s a step in a new process,
    five steps an item), and a process runs the code it imported, whatever is edited later."""
    return code_digest(module)


def take_step_codes() -> None:
    """Take the code digest of every step a bulk item may take (:func:`module_code`), importing none of them:
    a run does it while it starts, so that its first items do not wait for it."""
    for module in {declared(stage).run.split(":")[0] for stage in STAGES} | {__name__}:
        module_code(module)


def check_settings(params: dict, specs: list[ItemSpec]) -> dict:
    """The run's params after checking, before any work, every section with each distinct set of row
    overrides (every key known, every value inside its field's rule); the offline segmenter must be trained
    when a row has no mask of its own."""
    distinct = {json.dumps(spec.overrides, sort_keys=True): spec for spec in specs}
    for spec in distinct.values():
        PipelineSettings.from_params(with_overrides(params, spec))
    settings = PipelineSettings.from_params(params)
    checkpoint = Path(settings.mask.segmenter.checkpoint) / "config.json"
    if settings.mask.segmenter.segmenter == "synthetic" and not checkpoint.is_file() and any(
            spec.mask is None for spec in specs):
        raise InputError(f"the offline segmenter is not trained ({checkpoint} missing): run `cinemagraph pipeline "
                         "train_segment` (or `dvc repro train_segment`) first, or give each row a mask")
    if any(with_overrides(params, spec)["flow"].get("source", settings.flow.source) == "g_flow"
           for spec in distinct.values()) and not trained_flow_model(settings.flow.flow_model):
        raise InputError(f"G_flow is not trained (no checkpoint in {settings.flow.flow_model}): run `dvc repro "
                         "train_flow` first, or set flow.source to direction, class_default or zero")
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
            key = item_key(step, item, section, module_code(step.run.__module__))
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


def warm_up_item(spec: ItemSpec, params: dict) -> None:
    """Run ``spec`` into a throwaway store and forget its outcome: afterwards this process has imported the
    steps an item like it takes, taken their code digests and loaded their models (seconds on a cold process:
    transformers, NLTK, the segmenter), so its first real item costs what the others do."""
    with tempfile.TemporaryDirectory(prefix="bulk-warm-up-") as store_root:
        run_item(spec, params, store_root)
