"""The artistic-domain comparison on disk: every method's loop of some prompts, side by side, and scored.

For each method (stages.art_methods) and prompt id of the ``compare_art`` section, in ``out_dir``:
``<method>/<id>.mp4`` with ``<id>_flow.png`` (flow methods) and ``<id>_meta.json`` beside it (its prompt, so
``cinemagraph mturk export`` asks the text question); ``index.html``: one row per prompt, every method's loop
autoplaying, muted and looping side by side; ``scores.csv``: per prompt and flow method its ``flow_epe`` and
``flow_epe_signfree`` against the procedural world's truth (tasks.truth; nothing else here reads truth). The
metrics: per method ``epe`` and ``epe_signfree`` (means over the prompts that have such regions) and its
videos, and every skipped method with the reason.

The flow methods read the twins (``artistic.png``, ``realistic.png``, ``meta.json``) and the mask stage's
``mask_regions.png``, ``mask.json`` and ``segmentation_mask.png``; their G_flows are
``<ablations>/<name>`` (the train_ablations stage), ours there when present, else ``flow.flow_model``. The
diffusion baselines run where the profile has video models (stages.baselines.common.skip_reason).
"""

from __future__ import annotations

import html
import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from stages.art_methods import ART_METHODS, FLOW_METHODS, ArtInputs, method_loop, method_motion
from stages.baselines.common import BaselineSettings, skip_reason
from stages.baselines.run import make_baseline
from stages.errors import InputError, shorten
from stages.images import load_mask, load_rgb
from stages.learned.loading import checkpoint_files
from stages.motion.render import video_options, write_cinemagraph
from stages.motion.sources import flow_options
from stages.options import options_from
from stages.values import FRAMES, rule, ruled
from stages.threads import map_in_order
from tasks.gallery import GALLERY_STYLE
from tasks.generate import motion_inputs
from tasks.truth import method_scores, mean_of

DEFAULT_PROMPTS = ("monet-waterfall", "pixel-waterfall", "watercolor-stream", "anime-clouds", "starry-river",
                   "ukiyo-lake")
"""Four prompts whose motion the prompt determines (two waterfalls, two direction phrases: ``epe``) and two
whose regions move either way (a river; a lake under clouds and sky: ``epe_signfree``)."""


def methods_rule(value, setting: str) -> list[str]:
    """A list of known method names (:data:`stages.art_methods.ART_METHODS`) holding ``ours``."""
    if not isinstance(value, (list, tuple)) or "ours" not in value:
        raise InputError(f"{setting} must be a list of methods holding ours, got {shorten(value)}")
    unknown = [name for name in value if name not in ART_METHODS]
    if unknown:
        raise InputError(f"{setting}: unknown method(s) {', '.join(map(str, unknown))}; methods: "
                         f"{', '.join(ART_METHODS)}")
    return value


def prompts_rule(value, setting: str) -> list[str]:
    """A non-empty list of prompt ids."""
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(item, str) for item in value):
        raise InputError(f"{setting} must be a non-empty list of prompt ids, got {shorten(value)}")
    return value


@dataclass(frozen=True)
class CompareArtOptions:
    """The ``compare_art`` section: which methods animate which prompts, and how long the loops are."""

    methods: tuple[str, ...] = field(default=ART_METHODS, metadata=rule(methods_rule))
    """the methods compared (stages.art_methods.ART_METHODS; ours among them)."""
    prompts: tuple[str, ...] = field(default=DEFAULT_PROMPTS, metadata=rule(prompts_rule))
    """ids of the prompt list animated by every method (their twins and masks must be made)."""
    frames: int = ruled(60, FRAMES)
    """frames per loop of the flow methods (the baselines keep their own length)."""


def compare_art_options(section: dict | None) -> CompareArtOptions:
    """CompareArtOptions from the ``compare_art`` section, every key checked."""
    return options_from(CompareArtOptions, section, "compare_art")


def art_inputs(twins: Path, masks: Path) -> ArtInputs:
    """What the flow methods read for one prompt: its twins folder and its mask folder."""
    if not (twins / "meta.json").is_file() or not (masks / "mask.json").is_file():
        raise InputError(f"no twins or mask for prompt {twins.name!r} ({twins}, {masks}): is it in the prompt "
                         "list (rewrite.prompts), and have the twins and mask stages run? (compare_art.prompts)")
    meta = json.loads((twins / "meta.json").read_text())
    realistic, region_ids, regions, request = motion_inputs(meta, json.loads((masks / "mask.json").read_text()),
                                                            masks / "mask_regions.png", twins / "realistic.png")
    artistic = load_rgb(twins / "artistic.png")
    return ArtInputs(artistic, realistic, region_ids, regions,
                     load_mask(masks / "segmentation_mask.png", artistic.shape[:2]), request)


def g_flow_folder(name: str, ablations: Path, flow_model: str) -> Path:
    """The checkpoint folder of G_flow ``name`` (stages.art_methods.G_FLOWS): ``ablations/<name>``; ours
    falls back to ``flow_model`` (flow.flow_model) when the ablations hold none."""
    folder = Path(ablations, name)
    if checkpoint_files("flow_model", folder)[0].is_file():
        return folder
    if name == "ours":
        return Path(flow_model)
    raise InputError(f"no G_flow {name} in {folder}: train it (`dvc repro train_ablations`) or leave {name} out "
                     "of compare_art.methods")


def flow_method_loops(names: list[str], ids: list[str], twins: Path, masks: Path, ablations: Path, params: dict,
                      out_dir: Path) -> dict[str, dict[str, np.ndarray]]:
    """Write every flow method's loop of every prompt (the module docstring), prompts at once on the CPUs of
    the thread policy (stages.threads) → per prompt id, per method, its flow before ``flow.scale`` (float32
    (2, H, W), pixels per frame)."""
    options = flow_options(params.get("flow"))
    video = replace(video_options(params.get("video")), frames=compare_art_options(params.get("compare_art")).frames,
                    formats=("mp4",))
    steps = {name: method_motion(options, g_flow_folder(FLOW_METHODS[name].g_flow, ablations, options.flow_model))
             for name in names}

    def prompt_loops(item_id: str) -> dict[str, np.ndarray]:
        inputs, flows = art_inputs(twins / item_id, masks / item_id), {}
        for name in names:
            loop = method_loop(FLOW_METHODS[name], steps[name], video, inputs)
            (out_dir / name).mkdir(parents=True, exist_ok=True)
            write_cinemagraph(out_dir / name / f"{item_id}.mp4", loop.frames, loop.flow * np.float32(options.scale),
                              video.fps, {"id": item_id, "method": name, "prompt": inputs.request.prompt,
                                          **loop.record})
            flows[name] = loop.flow
        return flows

    return dict(zip(ids, map_in_order(prompt_loops, ((item_id,) for item_id in ids))))


def baseline_videos(names: list[str], ids: list[str], twins: Path, params: dict, out_dir: Path) -> dict[str, str]:
    """Write every diffusion baseline's video of every prompt (one baseline over all prompts, then the next) →
    the baselines skipped on this profile, each with the reason."""
    settings = BaselineSettings.from_params(params)
    reason = skip_reason(settings.models.profile)
    if reason is not None:
        return {name: reason for name in names}
    for name in names:
        for item_id in ids:
            meta = json.loads((twins / item_id / "meta.json").read_text())
            make_baseline(name, settings, meta["prompt"], load_rgb(twins / item_id / "artistic.png"),
                          int(meta.get("seed", 0)), out_dir / name / f"{item_id}.mp4")
    return {}


def write_gallery(out_dir: Path, ids: list[str], prompts: dict[str, str], shown: list[str],
                  skipped: dict[str, str]) -> None:
    """``out_dir/index.html``: one row per prompt, every method of ``shown`` a looping video (autoplaying,
    muted), and a line per skipped method saying why."""
    head = "".join(f"<th>{html.escape(name)}</th>" for name in shown)
    rows = "".join(
        f"<tr><td><b>{html.escape(item_id)}</b><br>{html.escape(prompts[item_id])}</td>"
        + "".join(f'<td><video src="{html.escape(name)}/{html.escape(item_id)}.mp4" autoplay loop muted playsinline>'
                  "</video></td>" for name in shown) + "</tr>" for item_id in ids)
    notes = "".join(f"<li>{html.escape(name)}: {html.escape(reason)}</li>" for name, reason in skipped.items())
    page = (f"<!doctype html><meta charset=utf-8><title>artistic-domain comparison</title><style>{GALLERY_STYLE}"
            "td{vertical-align:top;max-width:220px}</style><h1>artistic-domain comparison</h1>"
            + (f"<p>skipped:</p><ul>{notes}</ul>" if notes else "")
            + f"<table><tr><th>prompt</th>{head}</tr>{rows}</table>")
    (out_dir / "index.html").write_text(page)


def comparison_metrics(flows: dict[str, dict[str, np.ndarray]], twins: Path, shown: list[str],
                       skipped: dict[str, str], out_dir: Path) -> tuple[dict, pd.DataFrame]:
    """The metrics (module docstring) and one row per prompt scored against truth (id, per flow method its
    ``<method>`` flow_epe and ``<method>_signfree`` flow_epe_signfree)."""
    rows = []
    for item_id, by_method in flows.items():
        scores = method_scores(twins / item_id, by_method)
        if scores is not None:
            rows.append({"id": item_id, **{f"{name}{suffix}": errors[key] for name, errors in scores.items()
                                           for key, suffix in (("flow_epe", ""), ("flow_epe_signfree", "_signfree"))}})
    methods = {}
    for name in shown:
        methods[name] = {"videos": len(list((out_dir / name).glob("*.mp4")))}
        if name in FLOW_METHODS:
            methods[name].update(epe=mean_of([row[name] for row in rows]),
                                 epe_signfree=mean_of([row[f"{name}_signfree"] for row in rows]))
    metrics = {"prompts": len(flows), "scored_against_truth": len(rows), "methods": methods, "skipped": skipped}
    return metrics, pd.DataFrame(rows)


def compare_art(params: dict, twins: Path, masks: Path, ablations: Path, out_dir: Path) -> dict:
    """Run the comparison of the ``compare_art`` section into ``out_dir`` → the metrics."""
    options = compare_art_options(params.get("compare_art"))
    ids = list(options.prompts)
    flow_names = [name for name in options.methods if name in FLOW_METHODS]
    shutil.rmtree(out_dir, ignore_errors=True)  # the stage's own folder: no loop of an earlier run stays
    out_dir.mkdir(parents=True)
    flows = flow_method_loops(flow_names, ids, twins, masks, ablations, params, out_dir)
    skipped = baseline_videos([name for name in options.methods if name not in FLOW_METHODS], ids, twins, params,
                              out_dir)
    shown = [name for name in options.methods if name not in skipped]
    prompts = {item_id: json.loads((twins / item_id / "meta.json").read_text())["prompt"] for item_id in ids}
    write_gallery(out_dir, ids, prompts, shown, skipped)
    metrics, table = comparison_metrics(flows, twins, shown, skipped, out_dir)
    table.to_csv(out_dir / "scores.csv", index=False, float_format="%.4f")
    return {"frames": options.frames, **metrics}
