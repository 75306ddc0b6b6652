"""Run a diffusion baseline by name: :func:`make_baseline` writes its video and record (or records that the
profile skips it); :func:`run_baseline` returns the frames. The model is loaded once per process."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from stages.baselines import svd, text_to_video  # noqa: F401 (they register the baselines)
from stages.baselines.common import BASELINES, BaselineSettings, BaselineVideo, skip_reason
from stages.memo import loaded_once
from stages.motion.render import sidecar_paths
from stages.registry import check_name, create
from stages.video import check_video_path, write_video

BASELINE_NAMES = ("text2video_zero", "animatediff", "svd")
"""The baselines in the paper's order: its own text-to-video baseline, then the newer ones."""


@loaded_once(maxsize=1)
def baseline(name: str, settings: BaselineSettings):
    """The baseline ``name`` built for ``settings``, once per process; one at a time (building the next frees
    the last, so run one baseline over all items before the next)."""
    return create(BASELINES, "baseline", name, settings)


def run_baseline(name: str, settings: BaselineSettings, prompt: str, image: np.ndarray | None,
                 seed: int) -> BaselineVideo:
    """The video of baseline ``name`` for ``prompt`` (text-to-video) or the artistic ``image``, uint8 (H, W, 3)
    (image-to-video), at its length and size (docs/baselines.md), seeded by ``seed``."""
    return baseline(name, settings).generate(prompt, image, seed)


def make_baseline(name: str, settings: BaselineSettings, prompt: str, image: np.ndarray | None, seed: int,
                  video: str | Path) -> dict:
    """Write baseline ``name``'s video of ``prompt`` or of the artistic ``image`` (uint8 (H, W, 3); used by
    ``svd``) to ``video`` (format by suffix, at the baseline's fps) and its record beside it
    (``<stem>_meta.json``) → that record.

    Made: ``status`` "made", ``method``, ``weights`` (list), ``frames``, ``height``, ``width`` (pixels),
    ``fps``, ``seed``, ``steps``, ``reference``, ``prompt``, ``video`` (file name). On a profile without video
    models (:func:`stages.baselines.common.skip_reason`) only the record is written: ``status`` "skipped",
    ``method``, ``reason`` (one line), ``seed``, ``prompt``; a video left at ``video`` by an earlier run is
    removed.
    """
    video = check_video_path(video)
    check_name(BASELINES, "baseline", name)
    reason = skip_reason(settings.models.profile)
    if reason is None:
        made = run_baseline(name, settings, prompt, image, seed)
        write_video(video, made.frames, fps=made.record.fps)
        record = {"status": "made", **asdict(made.record), "weights": list(made.record.weights),
                  "prompt": prompt, "video": video.name}
    else:
        video.unlink(missing_ok=True)
        record = {"status": "skipped", "method": name, "reason": reason, "seed": int(seed), "prompt": prompt}
    meta = sidecar_paths(video)["meta"]
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps(record, indent=2, ensure_ascii=False))
    return record
