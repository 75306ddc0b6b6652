"""The real-domain comparison (the paper's Table 1): each method's loop of a clip with exact ground truth,
made from the method's own inputs and scored against the truth.

What a method sees of a clip: its first frame; a caption naming the scene's kinds only
(:func:`kind_caption`: the direction phrase and every other word dropped, as BLIP captions of real videos
rarely name a direction); and the pipeline's own mask of that frame (:func:`clip_mask`: the picture as its
own twin, Ā's clusters that the segmenter covers) — not the clip's true mask. No angle is read from the
motion files: they, the true mask and the true frames serve the scores alone.

A method is the pipeline with one component swapped (:func:`method_pipeline`): G_flow from the method's
checkpoint. The real domain moves by G_flow's flow unscaled (the pipeline halves it for artistic images
only) and renders ``frames`` frames with the motion engine, as the paper's real-domain evaluation does.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from stages.evaluation.video_metrics import psnr, static_rmse
from stages.learned.losses import sign_free_endpoint_error
from stages.masks.selection import MaskResult
from stages.motion.sources import MotionRequest
from stages.pipeline import CinemagraphPipeline, PipelineSettings
from stages.text.prompts import Rewrite, region_of, rewrite_prompt


def kind_caption(caption: str, settings: PipelineSettings) -> str:
    """The nouns of ``caption`` that name a kind of moving region, comma-separated in caption order
    ("a river flowing downwards beside a waterfall, ukiyo-e" → "river, waterfall"): no direction, no style."""
    nouns = rewrite_prompt(caption, options=settings.rewrite).nouns
    return ", ".join(noun for noun in nouns if region_of(noun))


def method_pipeline(settings: PipelineSettings, flow_model: str, frames: int) -> CinemagraphPipeline:
    """The pipeline of ``settings`` with G_flow read from ``flow_model`` (a checkpoint folder), its flow unscaled,
    rendering ``frames`` frames with the motion engine."""
    flow = replace(settings.flow, source="g_flow", flow_model=str(flow_model), scale=1.0)
    video = replace(settings.video, frames=frames, frame_model=None)
    return CinemagraphPipeline(replace(settings, flow=flow, video=video))


def clip_mask(pipeline: CinemagraphPipeline, image: np.ndarray, caption: str) -> tuple[Rewrite, MaskResult]:
    """The rewritten ``caption`` and the pipeline's mask of ``image`` (uint8 (H, W, 3)) for its region."""
    rewrite = pipeline.rewrite(caption)
    twins = pipeline.twins_of_picture(image, rewrite)
    return rewrite, pipeline.make_mask(twins.attention, tuple(twins.attention_grid), twins.realistic,
                                       twins.artistic, rewrite.region)


def method_loop(pipeline: CinemagraphPipeline, image: np.ndarray, rewrite: Rewrite, mask: MaskResult
                ) -> tuple[np.ndarray, np.ndarray]:
    """The method's flow float32 (2, H, W) in pixels per frame and its loop uint8 (N, H, W, 3) of ``image``."""
    flow, _ = pipeline.make_flow(image, mask.region_ids, mask.regions, MotionRequest.of(rewrite, pipeline.settings.seed))
    frames, _ = pipeline.render(image, mask.region_ids > 0, flow)
    return flow, frames


def flow_epe(flow: np.ndarray, truth: np.ndarray, moving: np.ndarray, sign_free: np.ndarray) -> float:
    """Mean end-point error (pixels per frame) of ``flow`` against ``truth`` (both (2, H, W)) over the ``moving``
    pixels (bool (H, W)); over the ``sign_free`` ones (bool (H, W): the truth's sign was left to chance) against
    whichever of ±truth is closer — the held-out error of G_flow's training (``stages.learned.train_flow``)."""
    tensor = lambda array: torch.from_numpy(np.ascontiguousarray(array, np.float32))[None]  # noqa: E731
    return float(sign_free_endpoint_error(tensor(flow), tensor(truth), tensor(sign_free[None] & moving[None]),
                                          tensor(moving[None])))


def clip_scores(flow: np.ndarray, frames: np.ndarray, truth: np.ndarray, true_frames: np.ndarray,
                moving: np.ndarray, sign_free: np.ndarray) -> dict[str, float]:
    """A method's loop of one clip against the clip's truth.

    flow (2, H, W) and truth (2, H, W): pixels per frame; frames and true_frames: uint8 (N, H, W, 3), frame 0 the
    input; moving, sign_free: bool (H, W) of the truth. ``epe`` (:func:`flow_epe`), ``psnr`` (dB, every pixel
    of every frame), ``psnr_moving`` (dB, the true moving region), ``static_rmse`` (0–255: frames against the
    input over the true static region, StyleCineGAN's static consistency).
    """
    count = min(len(frames), len(true_frames))
    frames, true_frames = frames[:count], true_frames[:count]
    return {"epe": flow_epe(flow, truth, moving, sign_free), "psnr": psnr(frames, true_frames),
            "psnr_moving": psnr(frames, true_frames, moving), "static_rmse": static_rmse(frames, frames[0], ~moving)}
