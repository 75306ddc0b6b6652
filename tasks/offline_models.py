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
from typing import Callable

from stages.diffusion.local_models import models_dir
from stages.errors import InputError
from stages.learned.loading import checkpoint_files
from stages.learned.train_flow import FlowTraining
from stages.masks.segmenters import SegmenterOptions
from stages.masks.training import SegmentTrainingOptions, train_segmenter
from stages.motion.sources import FlowOptions
from tasks.code import code_digest
from tasks.store import json_digest
from tasks.synth import write_scenes

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
    build_once(folder, trained_segmenter, lambda work: train_segmenter(options, work), "the offline segmenter",
               "about a minute on two CPU cores")
    return str(folder)


def trained_flow_model(folder: str | Path) -> bool:
    """Whether ``folder`` holds a G_flow checkpoint (both of its files)."""
    return all(path.is_file() for path in checkpoint_files("flow_model", folder))


def flow_model_checkpoint(flow_model: str, scenes: dict, training: dict, root: str | Path = ".") -> str:
    """G_flow's folder: ``flow_model`` (relative to ``root``) when it holds one or is not the default, else the
    user model cache's, trained on demand as the DVC stages train it: the scenes of ``scenes`` (the
    ``synth_train`` section, every key given) and the run of ``training`` (the ``train_flow`` section; its
    ``data`` is those scenes)."""
    given = Path(root, flow_model)
    if trained_flow_model(given) or flow_model != FlowOptions.flow_model:
        return str(given)
    if not scenes or not training:
        raise InputError(f"no G_flow in {given}: point flow.flow_model at one, or give the synth_train and train_flow "
                         "sections to train it (the command line reads them from params.yaml or its defaults)")
    training = {key: value for key, value in training.items() if key != "data"}
    digest = json_digest({"scenes": scenes, "training": training,
                          "code": code_digest(("tasks.synth", "stages.learned.train_flow"))})
    folder = models_dir() / f"g_flow-{digest[:16]}"
    build_once(folder, trained_flow_model, lambda work: train_flow_model(scenes, training, work),
               "G_flow on the procedural world's scenes", "a few minutes on two CPU cores")
    return str(folder)


def train_flow_model(scenes: dict, training: dict, out_dir: Path) -> None:
    """Draw the scenes of ``scenes`` and train G_flow on them (``training``) → its checkpoint in ``out_dir``."""
    with tempfile.TemporaryDirectory(prefix=".g_flow-", dir=out_dir.parent) as work:
        write_scenes(scenes, Path(work, "scenes"))
        run = FlowTraining(Path(work, "scenes"), training, Path(work, "training"))
        run.export(out_dir, run.run())


def build_once(folder: Path, ready: Callable[[Path], bool], build: Callable[[Path], None], what: str,
               duration: str) -> None:
    """``build(work)`` into a fresh folder renamed to ``folder``, unless ``ready(folder)``, also after waiting
    for the lock of another process building it; ``what`` and how long it takes (``duration``) are said on
    stderr while it builds."""
    if ready(folder):
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready(folder):
            return
        print(f"training {what} once into {folder} ({duration}; it is reused afterwards)", file=sys.stderr)
        work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            build(work)
            os.replace(work, folder)
        finally:
            shutil.rmtree(work, ignore_errors=True)
