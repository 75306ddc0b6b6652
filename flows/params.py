"""The params sections, each declared once (:data:`SECTIONS`), and reading params.yaml against them.

A section's keys are the fields of the options dataclasses that read it — each field's default, docstring
and rule (its metadata: a range, choices or a check) are the one declaration of that setting — plus the few
keys that configure a batch, not a component. Where two sections share a dataclass (``synth`` and
``synth_train``, ``train_flow`` and ``train_frame``, ``animate`` and ``animate_learned``) the second says its own
defaults here. :func:`default_params` is the offline default: params.yaml holds exactly it (a test checks),
and a command run in a folder without params.yaml uses it.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stages.errors import InputError, shorten
from stages.values import SEED, check_section


@dataclass(frozen=True)
class Key:
    """A key of a section that is no option field (the batch's prompt list, first seed or data folder)."""

    default: Any
    """its default (the offline default)."""
    doc: str
    """what it does."""
    rule: Any = None
    """its check: a Range or a function (value, setting) → value; None: none."""


@dataclass(frozen=True)
class Section:
    """A params section: the options dataclasses that read it (``module:Class``), this section's own defaults
    where it shares a dataclass with another section, its other keys and its nested sections."""

    kinds: tuple[str, ...]
    """the dataclasses whose fields are the section's keys (their defaults, docstrings and rules)."""
    defaults: dict[str, Any] = field(default_factory=dict)
    """this section's defaults, where they differ from the fields' own."""
    keys: dict[str, Key] = field(default_factory=dict)
    """keys that are no option field."""
    nested: dict[str, Section] = field(default_factory=dict)
    """sections inside this one."""

    def classes(self) -> list[type]:
        """The dataclasses (imported)."""
        return [getattr(importlib.import_module(kind.split(":")[0]), kind.split(":")[1]) for kind in self.kinds]

    def fields(self) -> dict[str, dataclasses.Field]:
        """Every option field of the section by key."""
        return {item.name: item for kind in self.classes() for item in dataclasses.fields(kind)}

    def default_values(self) -> dict:
        """The section's offline default: every key with its value, as params.yaml writes it."""
        values = {name: plain(default_of(item)) for name, item in self.fields().items()}
        values.update({name: key.default for name, key in self.keys.items()})
        values.update({name: section.default_values() for name, section in self.nested.items()})
        return {**values, **self.defaults}

    def read(self, values: dict | None, name: str) -> dict:
        """``values`` (in their order), then the defaults of the keys they lack; every key known and every value
        inside its rule (numbers keep their type, so params digests stay the same); InputError naming the
        first bad one."""
        values = dict(values or {})
        fields = self.fields()
        known = {*fields, *self.keys, *self.nested}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown key(s) {', '.join(unknown)} in params section {name!r}; known: "
                             f"{', '.join(sorted(known))}")
        rules = {key: item.metadata.get("rule") for key, item in fields.items()}
        rules.update({key: setting.rule for key, setting in self.keys.items()})
        checked = check_section(values, name, {key: rule for key, rule in rules.items() if rule is not None})
        for key, section in self.nested.items():
            checked[key] = section.read(values.get(key), f"{name}.{key}")
        return {**checked, **{key: value for key, value in self.default_values().items() if key not in checked}}


def default_of(item: dataclasses.Field) -> Any:
    """A dataclass field's default value."""
    return item.default_factory() if item.default is dataclasses.MISSING else item.default


def plain(value: Any) -> Any:
    """A default as YAML holds it: tuples become lists."""
    return list(value) if isinstance(value, tuple) else value


TRAINING = ("stages.learned.training:LoopOptions",)
TRAINING_DATA = Key("data/synth_train", "a folder in the Eulerian layout: split folders (real dataset) or "
                    "splits.json (synthetic)")

SECTIONS: dict[str, Section] = {
    "run": Section(("tasks.prefect_task:RunOptions",)),
    "synth": Section(("tasks.synth:SynthOptions",)),
    "animate": Section(("tasks.animate:AnimateOptions",)),
    "evaluate": Section(("tasks.evaluate:EvaluateOptions",)),
    "models": Section(("stages.diffusion.models:ModelOptions",)),
    "rewrite": Section(("stages.text.prompts:RewriteOptions",), keys={"prompts": Key(
        "data/prompts.csv", "the batch: a CSV with the columns id,prompt,region,direction,seed (only prompt "
        "required)")}),
    "twins": Section(("stages.diffusion.twins:TwinOptions",), defaults={"height": "auto", "width": "auto",
                                                                       "steps": "auto"},
                     keys={"seed": Key(0, "seed of the first prompt; row i uses seed + i unless the list gives "
                                          "one", SEED)},
                     nested={"procedural": Section(("stages.diffusion.procedural:ProceduralOptions",))}),
    "attention": Section(("stages.diffusion.attention:AttentionOptions",)),
    "inversion": Section(("stages.diffusion.inversion:InversionOptions",)),
    "synth_train": Section(("tasks.synth:SynthOptions",), defaults={
        "count": 96, "seed": 1000, "height": 256, "width": 256, "crf": 10, "validation_every": 8, "scenes": "world"}),
    "train_flow": Section(("stages.learned.train_flow:FlowTrainingOptions", *TRAINING), defaults={
        "gan_weight": 0, "feature_matching_weight": 0, "iterations": 500, "lr_g": 0.001, "lr_d": 0.002,
        "lr_schedule": "cosine", "checkpoint_every": 50}, keys={"data": TRAINING_DATA}),
    "train_frame": Section(("stages.learned.train_frame:FrameTrainingOptions", *TRAINING), defaults={
        "crop": 48, "flow_model": "data/models/g_flow", "predicted_flow_iterations": 50, "iterations": 250,
        "lr_g": 0.0005, "lr_d": 0.001, "validate_every": 50, "checkpoint_every": 50}, keys={"data": TRAINING_DATA}),
    "train_ablations": Section(("stages.learned.ablations:AblationOptions",)),
    "animate_learned": Section(("tasks.animate:AnimateOptions",), defaults={"motion": "learned",
                                                                           "renderer": "learned"}),
    "train_segment": Section(("stages.masks.training:SegmentTrainingOptions",)),
    "mask": Section(("stages.masks.selection:MaskOptions", "stages.masks.segmenters:SegmenterOptions")),
    "flow": Section(("stages.motion.sources:FlowOptions",)),
    "video": Section(("stages.motion.render:VideoOptions",)),
    "compare": Section(("tasks.compare:CompareOptions",)),
    "compare_art": Section(("tasks.compare_art:CompareArtOptions",)),
    "baselines": Section(("stages.baselines.common:BaselineOptions",)),
    "study": Section(("stages.study.mturk:StudySettings",), keys={"base_url": Key(
        "", "where the batch's videos/ will be served (input.csv points there); empty: relative paths")}),
}
"""Every params section, in params.yaml's order: declared once here and in the dataclasses' fields."""


def default_params() -> dict:
    """The offline default of every section: what params.yaml holds (a test checks) and what a command uses in a
    folder without one."""
    return {name: section.default_values() for name, section in SECTIONS.items()}


def load_params(path: str | Path = "params.yaml", sections: tuple[str, ...] | None = None) -> dict:
    """The parsed params file over the defaults: every key of the ``sections`` read (default: all) known and
    every value inside its rule (finite, in range, devices present), a one-line error naming the first bad
    one; other sections as the file has them. A clear error too when the file is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} not found: run from the project folder or pass --params")
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise InputError(f"{path} is not a readable YAML file ({shorten(' '.join(str(error).split()))})") from None
    if not isinstance(params, dict) or not all(isinstance(section, (dict, type(None))) for section in params.values()):
        raise InputError(f"{path} must hold sections of settings (name: {{key: value}}), as params.yaml does")
    read = SECTIONS if sections is None else sections
    checked = {name: SECTIONS[name].read(params.get(name), name) for name in read if name in SECTIONS}
    return {**params, **checked}


def read_params(path: Path | None, sections: tuple[str, ...]) -> dict:
    """The ``sections`` a one-item command reads, checked: from ``path``, else params.yaml here when present,
    else the offline default (:func:`default_params`), so a command behaves the same in any folder."""
    if path is None and not Path("params.yaml").is_file():
        return {name: SECTIONS[name].read(None, name) for name in sections}
    return load_params(path or "params.yaml", sections)


def with_assignments(params: dict, assignments: list[str], sections: tuple[str, ...]) -> dict:
    """``params`` with every ``SECTION.KEY=VALUE`` (nested keys with more dots; VALUE read as YAML, as ``dvc exp
    run -S`` reads it) written in, then the ``sections`` checked again."""
    params = json.loads(json.dumps(params))
    for assignment in assignments:
        name, separator, text = assignment.partition("=")
        path = name.split(".")
        if not separator or len(path) < 2 or not all(path):
            raise InputError(f"--set {shorten(assignment)}: write SECTION.KEY=VALUE, e.g. video.frames=24")
        target = params.setdefault(path[0], {}) or {}
        params[path[0]] = target
        for key in path[1:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = yaml.safe_load(text)
    return {**params, **{name: SECTIONS[name].read(params.get(name), name) for name in sections if name in SECTIONS}}
