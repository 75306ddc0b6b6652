"""Offline models a command needs outside the repository, trained on demand into the user model cache.

In the repository the DVC stages train them (``data/models/...``). Elsewhere — right after installing, in any
folder — the first command that needs one trains it into ``$CINEMAGRAPH_MODELS/<name>-<digest>`` (default
``~/.cache/cinemagraph/models``; the digest covers its settings and its code), with a progress bar, and later
commands reuse it. A lock file makes two first runs at once train it once, and the folder appears by an atomic
rename, so a killed training never leaves a folder that looks trained.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import sys
import tempfile
from pathlib import Path

from stages.diffusion.local_models import models_dir
from stages.masks.segmenters import SegmenterOptions
from stages.masks.training import SegmentTrainingOptions, train_segmenter
from tasks.code import code_digest
from tasks.store import json_digest

SEGMENTER_FILES = ("config.json", "model.safetensors")


def trained_segmenter(folder: Path) -> bool:
    """Whether ``folder`` holds a trained segmenter."""
    return all((folder / name).is_file() for name in SEGMENTER_FILES)


def segmenter_checkpoint(checkpoint: str) -> str:
    """The synthetic segmenter's folder: ``checkpoint`` when it holds one or is not the default (its absence is
    then the user's to fix), else the user model cache's, trained on demand (the ``train_segment`` defaults)."""
    if trained_segmenter(Path(checkpoint)) or checkpoint != SegmenterOptions.checkpoint:
        return checkpoint
    options = SegmentTrainingOptions()
    digest = json_digest({"options": dataclasses.asdict(options), "code": code_digest("stages.masks.training")})
    folder = models_dir() / f"segmenter-{digest[:16]}"
    if not trained_segmenter(folder):
        train_once(folder, options)
    return str(folder)


def train_once(folder: Path, options: SegmentTrainingOptions) -> None:
    """Train the segmenter into ``folder`` unless another process did while this one waited for the lock."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if trained_segmenter(folder):
            return
        print(f"training the offline segmenter once into {folder} (about a minute on two CPU cores; it is reused "
              "afterwards)", file=sys.stderr)
        work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            train_segmenter(options, work)
            os.replace(work, folder)
        finally:
            shutil.rmtree(work, ignore_errors=True)
