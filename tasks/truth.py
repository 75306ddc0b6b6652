"""How the text DAG's masks and motions compare with the exact truth of the procedural world.

Only this evaluation reads the ``truth_*`` files and the ``procedural`` record the procedural twins write beside
every pair; no method step does (a test perturbs them and finds the method's outputs unchanged).

Motion is scored for every motion source (``stages.motion.sources.SOURCE_NAMES``) on the same inputs the flow
step reads, and for every method of the artistic-domain comparison (:func:`method_scores`), before
``flow.scale``: the end-point error (pixels per frame) against the artistic image's truth
flow inside its truth regions. A region's motion is *determined* when the prompt decides it — a waterfall
(it falls), or the region a direction phrase names; the world draws every other region's sign at random (a
river, lake, sea, sky or cloud whose prompt names no direction, and whose texture does not show it), so those
are scored sign-free: per region, the smaller of the errors of F and −F.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from stages.images import iou, load_mask
from stages.learned.world_scenes import SIGN_KNOWN_KINDS
from stages.motion.sources import MOTION_SOURCES, SOURCE_NAMES, FlowOptions
from stages.registry import create
from tasks.generate import motion_inputs


def truth_regions(twins: Path, meta: dict) -> list[tuple[np.ndarray, bool]]:
    """Per truth region of the artistic image: (mask bool (H, W), whether the prompt determines its motion)."""
    procedural = meta["procedural"]
    named = procedural["kinds"][0] if procedural.get("direction_angle") is not None else None
    return [(load_mask(twins / path), kind in SIGN_KNOWN_KINDS or kind == named)
            for kind, path in meta["truth"]["classes"].items()]


def flow_errors(flow: np.ndarray, truth: np.ndarray, regions: list[tuple[np.ndarray, bool]]) -> dict:
    """``flow_epe`` over the determined regions and ``flow_epe_signfree`` over the others (None where there are
    none): mean end-point error per pixel of ``flow`` against ``truth`` (both float32 (2, H, W), pixels per
    frame); sign-free per region, min(EPE(F), EPE(−F)) summed over its pixels."""
    sums = {True: [0.0, 0], False: [0.0, 0]}
    for pixels, determined in regions:
        errors = [float(np.hypot(*(sign * flow - truth)[:, pixels]).sum()) for sign in (1, -1)]
        sums[determined][0] += errors[0] if determined else min(errors)
        sums[determined][1] += int(pixels.sum())
    total = lambda part: round(part[0] / part[1], 4) if part[1] else None  # noqa: E731
    return {"flow_epe": total(sums[True]), "flow_epe_signfree": total(sums[False])}


def source_flow(twins: Path, masks: Path, options: FlowOptions, name: str) -> np.ndarray:
    """The flow float32 (2, H, W) of motion source ``name`` for one prompt, before ``flow.scale`` (its inputs as
    the flow step reads them)."""
    meta = json.loads((twins / "meta.json").read_text())
    inputs = motion_inputs(meta, json.loads((masks / "mask.json").read_text()), masks / "mask_regions.png",
                           twins / "realistic.png")
    return create(MOTION_SOURCES, "motion source", name, options)(*inputs)[0]


def flow_truth(twins: Path) -> tuple[np.ndarray, list[tuple[np.ndarray, bool]]] | None:
    """The artistic image's truth flow float32 (2, H, W) (pixels per frame) and :func:`truth_regions`, or None
    when the twins hold no truth."""
    meta = json.loads((twins / "meta.json").read_text())
    if "truth" not in meta:
        return None
    return np.load(twins / meta["truth"]["flow"], allow_pickle=False), truth_regions(twins, meta)


def motion_scores(twins: Path, masks: Path, options: FlowOptions) -> dict[str, dict]:
    """Per motion source, :func:`flow_errors` of its flow for one prompt."""
    return method_scores(twins, {name: source_flow(twins, masks, options, name) for name in SOURCE_NAMES})


def method_scores(twins: Path, flows: dict[str, np.ndarray]) -> dict[str, dict] | None:
    """Per method, :func:`flow_errors` of its flow (float32 (2, H, W), pixels per frame) against the truth of
    the twins in ``twins``; None when they hold none."""
    truth = flow_truth(twins)
    return None if truth is None else {name: flow_errors(flow, *truth) for name, flow in flows.items()}


def direction_within_range(meta: dict, masks: Path, flow: np.ndarray) -> bool | None:
    """Whether the mean of ``flow`` (2, H, W) over the parts a named direction moves
    (stages.motion.sources.named_parts) points inside its range widened by 10° on each side; None when the
    prompt names no direction."""
    from stages.motion.sources import named_parts
    from stages.text.directions import angle_difference, parse_direction, vector_to_angle

    if not meta.get("direction"):
        return None
    direction = parse_direction(meta["direction"])
    _, region_ids, regions, _ = motion_inputs(meta, json.loads((masks / "mask.json").read_text()),
                                              masks / "mask_regions.png", None)
    pixels = np.isin(region_ids, [part["id"] for part in named_parts(regions, meta.get("region"))])
    angle = vector_to_angle(float(flow[0][pixels].mean()), float(flow[1][pixels].mean()))
    return angle_difference(angle, direction.center) <= ((direction.high - direction.low) % 360) / 2 + 10


def truth_scores(twins: Path, masks: Path, flows: Path, options: FlowOptions) -> dict | None:
    """One prompt against the exact truth of its procedural pair (None when the twins hold no truth): IoU of
    the final mask and of the segmentation alone with the moving regions, :func:`motion_scores`, and
    :func:`direction_within_range` of the DAG's flow."""
    meta = json.loads((twins / "meta.json").read_text())
    if "truth" not in meta or not (masks / "mask.png").is_file() or not (flows / "flow.npy").is_file():
        return None
    truth = load_mask(twins / meta["truth"]["mask"])
    scores = {"mask_iou": iou(load_mask(masks / "mask.png", truth.shape), truth),
              "segmentation_iou": iou(load_mask(masks / "segmentation_mask.png", truth.shape), truth),
              "motion": motion_scores(twins, masks, options)}
    inside = direction_within_range(meta, masks, np.load(flows / "flow.npy", allow_pickle=False))
    if inside is not None:
        scores["direction_ok"] = inside
    return scores


def mean_of(values: list) -> float | None:
    """The mean of the values that are not None, rounded to 4 places (None when there are none)."""
    present = [value for value in values if value is not None]
    return round(float(np.mean(present)), 4) if present else None


def column(source: str, key: str) -> str:
    """The per-prompt column of ``source``'s ``key``: ``g_flow`` (flow_epe) or ``g_flow_signfree``."""
    return source if key == "flow_epe" else f"{source}_signfree"


def text_path_metrics(ids: list[str], folders: dict[str, Path], videos, options: FlowOptions
                      ) -> tuple[dict, list[dict]]:
    """DVC metrics of a prompt run and one row per scored prompt (id, then per source its flow_epe in a column named
    after it and its flow_epe_signfree in ``<source>_signfree``). ``folders``: the output folder of each stage (twins, mask, flow); ``videos``: the video
    stage's manifest. Overall figures are means over the prompts that have such regions."""
    scored = {item_id: scores for item_id in ids
              if (scores := truth_scores(*(folders[stage] / item_id for stage in ("twins", "mask", "flow")), options))}
    metrics = {"prompts": len(ids), "videos": int((videos.status == "ok").sum()),
               "failed": int((videos.status == "failed").sum()), "scored_against_truth": len(scored)}
    rows = [{"id": item_id, **{column(name, key): value for name, errors in scores["motion"].items()
                               for key, value in errors.items()}} for item_id, scores in scored.items()]
    if scored:
        for key in ("mask_iou", "segmentation_iou"):
            metrics[key] = mean_of([scores[key] for scores in scored.values()])
        metrics["flow_source"] = options.source
        for key in ("flow_epe", "flow_epe_signfree"):
            metrics[key] = {name: mean_of([row[column(name, key)] for row in rows]) for name in SOURCE_NAMES}
        metrics["prompts_determined"] = sum(row[column(options.source, "flow_epe")] is not None for row in rows)
        directed = [scores["direction_ok"] for scores in scored.values() if "direction_ok" in scores]
        if directed:
            metrics["direction_within_range"] = mean_of(directed)
    return metrics, rows
