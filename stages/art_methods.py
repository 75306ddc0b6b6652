"""The methods of the artistic-domain comparison (the paper's Table 2, artistic images), by name.

A *flow method* is the pipeline with one component swapped (:class:`FlowMethod`): the picture G_flow reads
(the realistic twin, or — ``wo_twin`` — the artistic image itself), the mask (the final mask of Ā's clusters
and the segmentation, or — ``segmentation_mask`` — the segmentation of the twin alone), and the G_flow (ours,
or one trained without the caption, without the mask, or without both). Everything else is the pipeline's
own ``flow`` and ``video`` steps: the g_flow motion source (clamped, times ``flow.scale``) and the renderer.
The diffusion baselines (:mod:`stages.baselines`) are methods by name too (:data:`ART_METHODS`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from stages.baselines.run import BASELINE_NAMES
from stages.masks.maker import given_mask
from stages.motion.render import VideoOptions, render_loop
from stages.motion.sources import FlowOptions, MotionRequest, MotionStep, motion_source

PICTURES = ("realistic", "artistic")
"""The picture G_flow reads: the realistic twin (the paper's) or the artistic image."""
MASKS = ("final", "segmentation")
"""The mask: the final mask (Ā's clusters the segmentation covers) or the segmentation of the twin alone."""
G_FLOWS = ("ours", "wo_text", "wo_mask", "wo_text_mask")
"""The G_flow checkpoints: ours, and those trained without the caption, without the mask, without both."""


@dataclass(frozen=True)
class FlowMethod:
    """One flow method: the pipeline with these components."""

    picture: str = "realistic"
    """the picture G_flow reads (:data:`PICTURES`)."""
    mask: str = "final"
    """the mask G_flow reads and the loop moves (:data:`MASKS`)."""
    g_flow: str = "ours"
    """the G_flow checkpoint (:data:`G_FLOWS`)."""


FLOW_METHODS = {
    "ours": FlowMethod(),
    "wo_text": FlowMethod(g_flow="wo_text"),
    "wo_mask": FlowMethod(g_flow="wo_mask"),
    "wo_text_mask": FlowMethod(g_flow="wo_text_mask"),
    "wo_twin": FlowMethod(picture="artistic"),
    "segmentation_mask": FlowMethod(mask="segmentation"),
}
"""The flow methods by name."""

ART_METHODS = (*FLOW_METHODS, *BASELINE_NAMES)
"""Every method of the artistic-domain comparison, in the order the gallery and the metrics list them."""


@dataclass(frozen=True)
class ArtInputs:
    """What the flow methods read for one prompt (never its truth)."""

    artistic: np.ndarray
    """uint8 (H, W, 3): the artistic image (every loop moves it)."""
    realistic: np.ndarray
    """uint8 (H, W, 3): its realistic twin."""
    region_ids: np.ndarray
    """int (H, W): the part of the final mask of every pixel (0 = static)."""
    regions: list[dict]
    """``{"id", "class"}`` of every part of the final mask."""
    segmentation: np.ndarray
    """bool (H, W): what the segmentation of the twin alone says moves."""
    request: MotionRequest
    """the prompt, its region, direction and seed."""


@dataclass
class MethodLoop:
    """One flow method's result for one prompt."""

    flow: np.ndarray
    """float32 (2, H, W), pixels per frame: G_flow's clamped flow before ``flow.scale`` (what is scored)."""
    mask: np.ndarray
    """bool (H, W): the region the loop moves."""
    frames: np.ndarray
    """uint8 (N, H, W, 3): the loop (frame 0 is the artistic image)."""
    record: dict
    """what moved each part (motion.json's record), the method's components and the renderer."""


def method_motion(options: FlowOptions, g_flow_folder: str) -> MotionStep:
    """The flow step of a flow method: the g_flow source of ``options`` reading the checkpoint in
    ``g_flow_folder`` (G_flow loaded once, held by the step)."""
    return motion_source(replace(options, source="g_flow", flow_model=str(g_flow_folder)))


def method_mask(method: FlowMethod, inputs: ArtInputs) -> tuple[np.ndarray, list[dict]]:
    """The part of every pixel, int (H, W) (0 = static), and the parts of ``method``'s mask; the segmentation's
    connected parts take the prompt's region as their class."""
    if method.mask == "final":
        return inputs.region_ids, inputs.regions
    chosen = given_mask(inputs.segmentation, inputs.artistic.shape[:2], inputs.request.region)
    return chosen.region_ids, chosen.regions


def method_loop(method: FlowMethod, step: MotionStep, video: VideoOptions, inputs: ArtInputs) -> MethodLoop:
    """The loop of the artistic image by ``method``: its mask, its picture through ``step``
    (:func:`method_motion`), the renderer of ``video``."""
    region_ids, regions = method_mask(method, inputs)
    picture = inputs.realistic if method.picture == "realistic" else inputs.artistic
    flow, motion = step(picture, region_ids, regions, inputs.request)
    frames, rendering = render_loop(video, inputs.artistic, region_ids > 0, flow)
    return MethodLoop(flow / np.float32(step.options.scale), region_ids > 0, frames,
                      {**motion, "picture": method.picture, "mask": method.mask, "g_flow": method.g_flow,
                       **rendering})
