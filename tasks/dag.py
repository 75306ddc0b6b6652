"""The DAG: every stage declared once, in order, in the manner of Kedro's ``node(func, inputs, outputs)``.

A declaration names what runs (``run``: an ItemStep run over the prompt list, or a flow taking the params and
its paths as keyword arguments), the params sections it reads, its inputs and outputs, metrics and plots.
Everything else derives from here: ``dvc.yaml`` (``python -m flows.dvc_yaml`` writes it: cmd, data and code deps,
params, outs, metrics, plots), what ``cinemagraph pipeline STAGE`` runs and with which paths, the items of an
ItemStep stage, the order the text DAG's prompts pass through, and the stages a gallery reports failures of.

Adding a stage: one step module (``tasks/<name>.py`` with an ItemStep, or a flow) and one declaration below,
then ``python -m flows.dvc_yaml``. This module imports nothing of the stages: running one stage imports only its
own code.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

PROMPTS = "prompts"
"""``items``: one item per prompt of the prompt list (params ``rewrite.prompts``), its id the row's id."""


@dataclass(frozen=True)
class Plot:
    """A DVC plot: a CSV file and its axes."""

    path: str
    """the CSV file, relative to the project."""
    x: str
    """the column on the x axis."""
    y: str | None = None
    """the column on the y axis (None: every other column)."""


@dataclass(frozen=True)
class Stage:
    """One stage of the DAG. Paths are relative to the project folder; an item input's ``{id}`` is its id."""

    name: str
    """the stage's name (in dvc.yaml and ``cinemagraph pipeline NAME``)."""
    run: str
    """``module:attribute``: an ItemStep (run over ``items``) or a Prefect flow called as
    ``flow(params, **deps, **outs, **metrics, **plots, **arguments)``."""
    params: tuple[str, ...] = ()
    """params.yaml sections the stage reads (an ItemStep gets the one section, or a dict of several)."""
    items: str | None = None
    """what an ItemStep runs over: :data:`PROMPTS`."""
    inputs: dict[str, str] = field(default_factory=dict)
    """an ItemStep's input files: name → path pattern with ``{id}`` (their folders are the stage's data deps)."""
    values: tuple[str, ...] = ()
    """an ItemStep's item values taken from the prompt list (prompt, region, direction, seed)."""
    batch_keys: tuple[str, ...] = ()
    """keys of the single params section that configure the batch, not the step (left out of item keys)."""
    models: str | None = None
    """``module:function`` (the step's params) → input files of the models it loads (their digests key items)."""
    deps: dict[str, str] = field(default_factory=dict)
    """a flow's input folders or files: argument → path."""
    reads: tuple[str, ...] = ()
    """other data deps (read through params, e.g. a model folder): DVC deps only."""
    outs: dict[str, str] = field(default_factory=dict)
    """output folders: argument → path (an ItemStep writes its items into the first)."""
    metrics: dict[str, str] = field(default_factory=dict)
    """DVC metrics files: argument → path."""
    plots: dict[str, Plot] = field(default_factory=dict)
    """DVC plots: argument → plot."""
    arguments: dict[str, str] = field(default_factory=dict)
    """other keyword arguments of a flow (not paths)."""
    after: str | None = None
    """``module:function(manifest, params, stage, root)`` run after an ItemStep's items (galleries, metrics)."""
    note: str | None = None
    """one line shown beside the stage in dvc.yaml."""

    def step_params(self, params: dict) -> dict:
        """What its ItemStep gets: its one params section (without its batch keys), or ``{section: values}`` of
        its several; ``{}`` for none."""
        if len(self.params) == 1:
            section = params.get(self.params[0]) or {}
            return {key: value for key, value in section.items() if key not in self.batch_keys}
        return {name: params.get(name) or {} for name in self.params}

    def input_files(self) -> dict[str, tuple[str, str]]:
        """Each item input: name → (the folder holding the items, the file in an item's folder)."""
        return {name: tuple(pattern.split("/{id}/")) for name, pattern in self.inputs.items()}


STAGES = (
    Stage("synth", "flows.synth:synth_flow", params=("synth",), outs={"out_dir": "data/synth"},
          arguments={"section": "synth"}),
    Stage("animate", "flows.animate:animate_flow", params=("animate",), deps={"scenes": "data/synth"},
          outs={"out_dir": "data/animate"}, metrics={"metrics_path": "data/metrics/animate.json"},
          arguments={"section": "animate"}),
    Stage("evaluate", "flows.evaluate:evaluate_flow", params=("evaluate",),
          deps={"real": "data/synth", "fake": "data/animate"}, outs={"out_dir": "data/evaluate"},
          metrics={"metrics_path": "data/metrics/evaluate.json"},
          plots={"plots_path": Plot("data/plots/evaluate_per_video.csv", x="video_id", y="seam_ratio")}),
    Stage("rewrite", "tasks.rewrite:REWRITE", params=("rewrite",), items=PROMPTS,
          values=("prompt", "region", "direction"), batch_keys=("prompts",), outs={"out_dir": "data/rewrite"}),
    Stage("twins", "tasks.twins:TWINS", params=("models", "twins", "attention"), items=PROMPTS,
          inputs={"rewrite": "data/rewrite/{id}/rewrite.json"}, values=("seed",), outs={"out_dir": "data/twins"},
          note="Ā (attention.npy) comes out of the same UNet calls as the twins (procedural: the world)"),
    Stage("attention", "tasks.twins:ATTENTION", items=PROMPTS,
          inputs={"attention": "data/twins/{id}/attention.npy", "meta": "data/twins/{id}/meta.json"},
          outs={"out_dir": "data/attention"}, after="flows.twin_flows:twin_gallery"),
    Stage("synth_train", "flows.synth:synth_flow", params=("synth_train",), outs={"out_dir": "data/synth_train"},
          arguments={"section": "synth_train"}),
    Stage("train_flow", "flows.learned:train_flow_stage", params=("train_flow",),
          reads=("data/synth_train",), outs={"out_dir": "data/models/g_flow"},
          metrics={"metrics_path": "data/metrics/train_flow.json"},
          plots={"losses_path": Plot("data/plots/train_flow_losses.csv", x="step"),
                 "validation_path": Plot("data/plots/train_flow_validation.csv", x="step")}),
    Stage("train_ablations", "flows.learned:train_ablations_stage", params=("train_flow", "train_ablations"),
          reads=("data/synth_train",), outs={"out_dir": "data/models/g_flow_ablations"},
          metrics={"metrics_path": "data/metrics/train_ablations.json"},
          note="G_flow and its ablations (w/o text, w/o mask, both) for the comparisons, equally long"),
    Stage("train_frame", "flows.learned:train_frame_stage", params=("train_frame",),
          reads=("data/synth_train", "data/models/g_flow"),
          outs={"out_dir": "data/models/g_frame"}, metrics={"metrics_path": "data/metrics/train_frame.json"},
          plots={"losses_path": Plot("data/plots/train_frame_losses.csv", x="step"),
                 "validation_path": Plot("data/plots/train_frame_validation.csv", x="step")}),
    Stage("animate_learned", "flows.animate:animate_flow", params=("animate_learned",),
          deps={"scenes": "data/synth"}, reads=("data/models/g_flow", "data/models/g_frame"),
          outs={"out_dir": "data/animate_learned"}, metrics={"metrics_path": "data/metrics/animate_learned.json"},
          arguments={"section": "animate_learned"}),
    Stage("train_segment", "flows.masks:train_segment_flow", params=("train_segment",),
          outs={"out_dir": "data/models/segmenter"}, metrics={"metrics_path": "data/metrics/train_segment.json"},
          note="the offline segmenter, trained on synthetic scenes with exact region masks"),
    Stage("mask", "tasks.masks:MASK", params=("mask",), items=PROMPTS,
          inputs={"artistic": "data/twins/{id}/artistic.png", "realistic": "data/twins/{id}/realistic.png",
                  "attention": "data/twins/{id}/attention.npy", "meta": "data/twins/{id}/meta.json"},
          models="tasks.masks:segmenter_inputs", reads=("data/models/segmenter",),
          outs={"out_dir": "data/mask"}, after="flows.masks:write_mask_gallery",
          note="clusters of Ā kept where the segmentation of the realistic twin covers them"),
    Stage("flow", "tasks.generate:FLOW", params=("flow",), items=PROMPTS,
          inputs={"twins_meta": "data/twins/{id}/meta.json", "realistic": "data/twins/{id}/realistic.png",
                  "mask_record": "data/mask/{id}/mask.json", "mask_regions": "data/mask/{id}/mask_regions.png"},
          models="tasks.generate:flow_model_inputs", reads=("data/models/g_flow",), outs={"out_dir": "data/flow"},
          note="G_flow's motion from the realistic twin, the mask and the prompt (flow.source: or a rule)"),
    Stage("video", "tasks.generate:VIDEO", params=("video",), items=PROMPTS,
          inputs={"artistic": "data/twins/{id}/artistic.png", "mask": "data/mask/{id}/mask.png",
                  "flow": "data/flow/{id}/flow.npy", "motion": "data/flow/{id}/motion.json"},
          models="tasks.generate:frame_model_inputs", outs={"out_dir": "data/video"},
          after="flows.generate:finish_video", note="the seamless loop of every prompt, and the gallery of all of them"),
    Stage("score", "flows.generate:score_flow", params=("rewrite", "flow"),
          deps={"twins": "data/twins", "masks": "data/mask", "flows": "data/flow", "videos": "data/video"},
          reads=("data/models/g_flow",), metrics={"metrics_path": "data/metrics/generate.json"},
          plots={"plots_path": Plot("data/plots/flow_epe.csv", x="id")},
          note="masks and every motion source against the procedural world's exact truth"),
    Stage("compare_art", "flows.compare_art:compare_art_flow",
          params=("compare_art", "baselines", "models", "flow", "video"),
          deps={"twins": "data/twins", "masks": "data/mask", "ablations": "data/models/g_flow_ablations"},
          reads=("data/models/g_flow",), outs={"out_dir": "data/compare_art"},
          metrics={"metrics_path": "data/metrics/compare_art.json"},
          note="some prompts by every method of the artistic-domain comparison, side by side, scored"),
    Stage("study", "flows.study:study_flow", params=("study",), deps={"videos": "data/compare_art"},
          outs={"out_dir": "data/study"}, note="the MTurk batch of the comparison: ours against every other method"),
    Stage("compare", "flows.compare:compare_flow",
          params=("rewrite", "models", "twins", "attention", "inversion", "mask", "flow", "video", "compare"),
          deps={"clips": "data/synth_train", "models": "data/models/g_flow_ablations"},
          reads=("data/models/segmenter",), outs={"out_dir": "data/compare"},
          metrics={"metrics_path": "data/metrics/compare.json"},
          plots={"plots_path": Plot("data/plots/compare.csv", x="method")},
          note="the real domain: G_flow and its ablations on held-out clips against their exact truth"),
)
"""Every stage, in the order dvc.yaml lists them."""


def load(reference: str) -> Any:
    """The object a ``module:attribute`` reference names (imports the module)."""
    module, attribute = reference.split(":")
    return getattr(importlib.import_module(module), attribute)


def declared(name: str) -> Stage | None:
    """The declaration of stage ``name``, or None."""
    return next((stage for stage in STAGES if stage.name == name), None)


def prompt_stages() -> list[str]:
    """The stages a prompt passes through, in order (each writes ``<out>/manifest.parquet``)."""
    return [stage.name for stage in STAGES if stage.items == PROMPTS]


def stage_writing(folder: str) -> str:
    """The stage whose output folder is ``folder``."""
    return next(stage.name for stage in STAGES if folder in stage.outs.values())
