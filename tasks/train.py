"""The training stages: G_flow and G_frame trained on a dataset folder into checkpoint folders.

Training state lives in a work folder under the store's parent (``.cache/train/<network>-<key>``) whose key
digests the stage's parameters, the model profile, the training code and the dataset's file listing, so
an interrupted run resumes where it stopped while any change starts afresh. DVC deletes a stage's outputs
before running it; the work folder is outside them. Each stage writes its checkpoint folder, a metrics
JSON (DVC metrics) and its loss and validation curves as CSV (DVC plots).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from pathlib import Path

import torch

from stages.errors import InputError
from stages.learned.ablations import AblationOptions, ablation_section
from stages.learned.train_flow import FlowTraining
from stages.learned.train_frame import FrameTraining
from stages.learned.training import LOSSES, VALIDATION
from stages.files import file_digest
from stages.devices import resolve_device
from tasks.batch import resolved_settings
from stages.options import options_from
from stages.threads import available_cpus
from tasks.code import code_digest
from tasks.store import json_digest


def dataset_fingerprint(root: str | Path) -> str:
    """sha256 of a dataset folder's files: relative paths and contents (sha256 of each file)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"training data not found: {root} (run `dvc repro synth_train` or set the data path)")
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root)}\0{file_digest(path)}\n".encode())
    return digest.hexdigest()


def work_dir(name: str, section: dict, data_root: str | Path, store_root: str | Path,
             flow_model: str | None = None) -> Path:
    """The resumable work folder of one training configuration (``flow_model``: a G_flow it depends on)."""
    weights = Path(flow_model or "", "g_flow.safetensors")
    resolved = resolved_settings(section, resolve_device(str(section.get("device", "auto")), f"{name} device"))
    key = json_digest({"name": name, "section": resolved, "code": code_digest(__name__),
                       "data": dataset_fingerprint(data_root),
                       "flow_model": file_digest(weights) if flow_model and weights.is_file() else None})
    return Path(store_root).parent / "train" / f"{name}-{key[:16]}"


def publish(work: Path, metrics: dict, metrics_path: str | Path, plots: tuple[str | Path, str | Path]) -> None:
    """Write the metrics JSON and copy the loss and validation curves to ``plots`` (losses, validation CSV)."""
    Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
    Path(metrics_path).write_text(json.dumps({k: round(float(v), 4) for k, v in metrics.items()}, indent=2))
    for source, target in zip((LOSSES, VALIDATION), plots):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(work / source, target)


def train_flow_network(params: dict, out_dir: str | Path, metrics_path: str | Path,
                        plots: tuple[str | Path, str | Path]) -> dict:
    """Train G_flow per ``params["train_flow"]`` (data folder in its ``data`` key) → held-out metrics."""
    section = params["train_flow"]
    work = work_dir("g_flow", section, section["data"], params["run"]["store"])
    training = FlowTraining(section["data"], section, work)
    metrics = training.run()
    training.export(out_dir, metrics)
    publish(work, metrics, metrics_path, plots)
    return metrics


def train_ablation(params: dict, name: str, iterations: int, out_dir: str) -> dict:
    """Train the compared G_flow ``name`` for ``iterations`` into ``out_dir/<name>`` → its held-out metrics (run
    in a process of its own by :func:`train_flow_ablations`, on one torch thread whatever the machine: the
    weights' bytes do not depend on its cores, see stages.cpu_paths)."""
    torch.set_num_threads(1)
    section = ablation_section(params["train_flow"], name, iterations)
    training = FlowTraining(section["data"], section, work_dir(f"g_flow_{name}", section, section["data"],
                                                               params["run"]["store"]))
    metrics = training.run()
    training.export(Path(out_dir) / name, metrics)
    return metrics


def train_flow_ablations(params: dict, out_dir: str | Path, metrics_path: str | Path) -> dict:
    """Train the compared G_flows (``params["train_ablations"]``: methods, iterations; everything else from
    ``train_flow``) into ``out_dir/<method>``, as many at once as there are CPUs (each in its own process, so
    each keeps its own seeded random state) → each one's held-out metrics, also written to ``metrics_path``."""
    options = options_from(AblationOptions, params.get("train_ablations"), "train_ablations")
    workers = min(len(options.methods), available_cpus())
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        trained = pool.map(train_ablation, repeat(params), options.methods, repeat(options.iterations),
                           repeat(str(out_dir)))
        metrics = dict(zip(options.methods, trained))
    Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
    Path(metrics_path).write_text(json.dumps({"iterations": options.iterations, **{
        name: {k: round(float(v), 4) for k, v in values.items()} for name, values in metrics.items()}}, indent=2))
    return metrics


def train_frame_network(params: dict, out_dir: str | Path, metrics_path: str | Path,
                        plots: tuple[str | Path, str | Path]) -> dict:
    """Train G_frame per ``params["train_frame"]`` (phase 2 uses its ``flow_model``) → held-out metrics."""
    section = params["train_frame"]
    work = work_dir("g_frame", section, section["data"], params["run"]["store"], section.get("flow_model"))
    training = FrameTraining(section["data"], section, work)
    metrics = training.run()
    training.export(out_dir, metrics)
    publish(work, metrics, metrics_path, plots)
    return metrics
