"""The ``compare`` step: one held-out clip → every compared method's loop, its scores against the clip's truth,
and the I3D features of each loop and of the true video (``stages.evaluation.real_domain``).

Item inputs: ``image`` (the clip's first frame), ``video`` (its true frames), ``motion`` (its true flow),
``mask`` (its true moving region), optional ``sign_free``; the model files (each method's G_flow, the
segmenter, the I3D file) so that their digests key the item. Item values: ``caption`` (the clip's caption;
the methods read only its kind nouns). Returns the caption read, the region, the mask's size, ``zero.epe``
(the end-point error of no motion) and ``<method>.<score>`` per method. Writes ``<method>.mp4`` per method, ``mask.png`` (the pipeline's
mask the methods share) and ``features.npz`` (``<method>.<protocol>`` and ``truth.<protocol>``, (400,) each).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.evaluation.fvd import PROTOCOLS, get_protocol, video_features
from stages.evaluation.i3d import load_detector
from stages.evaluation.real_domain import (clip_mask, clip_scores, flow_epe, kind_caption, method_loop,
                                           method_pipeline)
from stages.images import load_mask, load_rgb, save_png
from stages.learned.ablations import FLOW_ABLATIONS, method_names
from stages.learned.data import SIGN_FREE_SUFFIX
from stages.learned.loading import checkpoint_files
from stages.options import options_from
from stages.pipeline import CinemagraphPipeline, PipelineSettings
from stages.scenes.eulerian import Clip, read_motion
from stages.values import COUNT, FRAMES, ruled
from stages.video import read_video, write_npz, write_video
from tasks.batch import Item, ItemStep
from tasks.masks import small_segmenter
from tasks.twins import procedural_profile

TRUTH = "truth"
"""The name of the true videos' features in ``features.npz``."""


@dataclass(frozen=True)
class CompareOptions:
    """The ``compare`` section: the real-domain comparison on held-out clips with exact ground truth."""

    split: str = "validation"
    """the split of the clips folder compared (G_flow never trained on it)."""
    clips: int = ruled(2, COUNT)
    """how many of the split's clips (the first, by id): sized to the budget of ``make repro`` (each costs five
    I3D passes, about 25 s on one CPU core once the models are loaded; offline, a clip runs on each core at
    once, so two clips take one round on two cores)."""
    frames: int = ruled(60, FRAMES)
    """frames per loop (the paper's real-domain length; FVD60 needs 60)."""
    methods: tuple[str, ...] = ruled(tuple(FLOW_ABLATIONS), method_names)
    """the compared methods: G_flow's variants, each read from ``<models>/<method>``."""
    i3d: str | None = "random"
    """the FVD detector: a TorchScript or state-dict file; random = offline checks only (its FVDs are not
    comparable to published ones); null = $CINEMAGRAPH_MODELS/i3d/i3d_kinetics400.pt."""


def clip_item(clip: Clip, models: dict[str, Path]) -> Item:
    """The item of one clip (its files, the model files) with its caption."""
    inputs = {"image": clip.image, "video": clip.video, "motion": clip.motion, "mask": clip.mask, **models}
    sign_free = clip.motion.with_name(f"{clip.id}{SIGN_FREE_SUFFIX}")
    if sign_free.is_file():
        inputs["sign_free"] = sign_free
    return Item(clip.id, inputs, {"caption": clip.caption})


def method_files(models: str | Path, methods: tuple[str, ...]) -> dict[str, Path]:
    """Each method's G_flow weights and config under ``models`` (``<method>/g_flow.*``), as item inputs."""
    files = {}
    for method in methods:
        weights, config = checkpoint_files("flow_model", Path(models) / method)
        files.update({f"{method}_weights": weights, f"{method}_config": config})
    return files


def compare_clip(item: Item, params: dict, out_dir: Path) -> dict:
    """Every method's loop of one clip and its scores (``<method>.<score>``); ``params``: the pipeline's sections
    and ``compare``."""
    options = options_from(CompareOptions, params["compare"], "compare")
    settings = PipelineSettings.from_params(params)
    image = load_rgb(item.inputs["image"])
    true_frames = read_video(item.inputs["video"], options.frames)
    truth, moving = read_motion(item.inputs["motion"]), load_mask(item.inputs["mask"], image.shape[:2])
    sign_free = (load_mask(item.inputs["sign_free"], image.shape[:2]) if "sign_free" in item.inputs
                 else np.zeros_like(moving))
    caption = kind_caption(item.values["caption"], settings)
    rewrite, mask = clip_mask(CinemagraphPipeline(settings), image, caption)
    save_png(out_dir / "mask.png", mask.mask)
    detector = load_detector(options.i3d)
    protocols = [get_protocol(name) for name in PROTOCOLS]
    features = {f"{TRUTH}.{p.name}": video_features(detector, [true_frames], p)[0] for p in protocols}
    record = {"caption": caption, "region": rewrite.region, "mask_pixels": int(mask.mask.sum()),
              "zero.epe": flow_epe(np.zeros_like(truth), truth, moving, sign_free)}
    for method in options.methods:
        weights = item.inputs[f"{method}_weights"]
        pipeline = method_pipeline(settings, str(weights.parent), options.frames)
        flow, frames = method_loop(pipeline, image, rewrite, mask)
        write_video(out_dir / f"{method}.mp4", frames, settings.video.fps)
        features.update({f"{method}.{p.name}": video_features(detector, [frames], p)[0] for p in protocols})
        scores = clip_scores(flow, frames, truth, true_frames, moving, sign_free)
        record.update({f"{method}.{name}": value for name, value in scores.items()})
    write_npz(out_dir / "features.npz", **features)
    return record


def offline_models(params: dict) -> bool:
    """The compare step's ``light`` rule: the procedural world and a small segmenter make the clip's mask, so its
    items run in the stage's process, as many at once as it has CPUs (each on one torch thread: two CPUs run
    two clips at once, where one Ray actor would hold one CPU)."""
    return procedural_profile(params) and small_segmenter(params.get("mask"))


COMPARE = ItemStep("compare", compare_clip, holds_models=True, light=offline_models)
