"""How the text DAG's masks and motions compare with the exact truth of the procedural world.

Only this evaluation reads the ``truth_*`` files the procedural twins write beside every pair; no method step
does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from stages.images import iou, load_mask, load_rgb


def truth_scores(twins: Path, masks: Path, flows: Path) -> dict | None:
    """How one prompt's mask and motion compare with the exact truth of a procedural pair (None when the
    twins hold no truth): IoU of the final mask and of the segmentation alone with the artistic image's
    moving regions; for a named direction, whether the mean flow of the parts it names lies inside the
    direction's angle range widened by 10° on each side."""
    from stages.text.directions import angle_difference, parse_direction, vector_to_angle

    meta = json.loads((twins / "meta.json").read_text())
    if "truth" not in meta or not (masks / "mask.png").is_file():
        return None
    truth = load_mask(twins / meta["truth"]["mask"])
    scores = {"mask_iou": iou(load_mask(masks / "mask.png", truth.shape), truth),
              "segmentation_iou": iou(load_mask(masks / "segmentation_mask.png", truth.shape), truth)}
    motion_path = flows / "motion.json"
    if meta.get("direction") and motion_path.is_file():
        direction = parse_direction(meta["direction"])
        flow = np.load(flows / "flow.npy", allow_pickle=False)
        ids = load_rgb(masks / "mask_regions.png")[..., 0]
        named = [part["id"] for part in json.loads(motion_path.read_text())["parts"]
                 if part["source"].startswith("direction phrase")]
        if named:
            pixels = np.isin(ids, named)
            angle = vector_to_angle(float(flow[0][pixels].mean()), float(flow[1][pixels].mean()))
            half_range = ((direction.high - direction.low) % 360) / 2
            scores["direction_ok"] = angle_difference(angle, direction.center) <= half_range + 10
    return scores


def text_path_metrics(ids: list[str], folders: dict[str, Path], manifest) -> dict:
    """DVC metrics of a prompt run: counts, and the means of :func:`truth_scores` over the procedural pairs;
    ``folders``: the output folder of each stage (twins, mask, flow)."""
    rows = [scores for item_id in ids
            if (scores := truth_scores(*(folders[stage] / item_id for stage in ("twins", "mask", "flow"))))]
    metrics = {"prompts": len(ids), "videos": int((manifest.status == "ok").sum()),
               "failed": int((manifest.status == "failed").sum()), "scored_against_truth": len(rows)}
    for key in ("mask_iou", "segmentation_iou"):
        if rows:
            metrics[key] = round(float(np.mean([row[key] for row in rows])), 4)
    directed = [row["direction_ok"] for row in rows if "direction_ok" in row]
    if directed:
        metrics["direction_within_range"] = round(float(np.mean(directed)), 4)
    return metrics
