"""Do the procedural world and the small trainings give the same bytes on another x86-64 CPU?

Runs the same small work — procedural scenes (the ``synth`` step), the segmenter's training, G_flow's
training, k-means over an attention-like matrix, the procedural twins' Ā of a scene and a loop of it
rendered by the motion engine (Numba) — in fresh processes that each take another kernel path,
as another CPU would: this CPU's own (``native``), and a forced older instruction set (``avx2``: ATen's
capability, oneDNN's ISA, MKL's, numpy's and OpenCV's dispatch and OpenBLAS's kernels capped at AVX2, Numba
compiling for Haswell; ``baseline``: no AVX at all; ``1-thread``: one core). Each path runs without and
with the pinning of ``stages.cpu_paths``. Prints, per part, which output files differ from the native run,
and each part's seconds.

    python benchmarks/cpu_paths.py [--paths native avx2 baseline 1-thread] [--pinning off on] [--iterations 10]
                                     [--change NAME[=VALUE] ...]

OpenBLAS's core type is forced for the measurement only (in a child process): the pipeline never sets it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

AVX512 = "AVX512F,AVX512-COMMON,AVX512-SKX,AVX512-CLX,AVX512-CNL,AVX512-ICL"
PATHS = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
             "OPENBLAS_CORETYPE": "Haswell", "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
             "OPENCV_CPU_DISABLE": AVX512, "NUMBA_CPU_NAME": "haswell"},
    "baseline": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
                 "OPENBLAS_CORETYPE": "Nehalem", "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
                 "OPENCV_CPU_DISABLE": "AVX,FP16,AVX2," + AVX512, "NUMBA_CPU_NAME": "nehalem"},
    "1-thread": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
}
"""Environment of each kernel path: what a CPU with only these instructions (or one core) would take."""

LIMITS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "OPENBLAS_CORETYPE",
          "NPY_DISABLE_CPU_FEATURES", "OPENCV_CPU_DISABLE")
"""The settings above that stand for instructions the CPU lacks: pinning cannot raise them, so a pinned run
applies them again on top of the pinning (the others, a compiler target and thread counts, pinning sets)."""


def work(folder: Path, iterations: int, pinned: bool, changes: list[str] = ()) -> dict[str, float]:
    """Run every part into ``folder/<part>`` → seconds per part (this process, with its environment).
    ``changes`` (pinned runs): ``NAME=VALUE`` replaces a pinned setting, ``NAME`` leaves it out."""
    if pinned:
        from stages.cpu_paths import pin_cpu_paths

        limits = {name: os.environ[name] for name in LIMITS if name in os.environ}
        pin_cpu_paths()
        for change in changes:
            name, _, value = change.partition("=")
            if value:
                os.environ[name] = value
            else:
                os.environ.pop(name, None)
        os.environ.update(limits)
    import numpy as np
    import yaml

    from stages.diffusion.procedural import self_attention
    from stages.images import load_mask, load_rgb
    from stages.masks.clustering import cluster_attention
    from stages.motion.engine import LoopRenderer
    from stages.scenes.eulerian import read_motion
    from stages.masks.training import SegmentTrainingOptions, train_segmenter
    from tasks.batch import Item
    from tasks.synth import synth_item
    from tasks.train import train_flow_network

    seconds = {}
    started = time.perf_counter()
    scenes = folder / "synth"
    captions, splits = {}, {"train": [], "validation": []}
    for index in range(10):
        split = "validation" if index % 5 == 4 else "train"
        item = Item(f"scene{index}", values={"seed": 1000 + index, "split": split})
        captions[item.id] = synth_item(item, dict(height=96, width=128, frames=30, fps=30, crf=10), scenes)["caption"]
        splits[split].append(item.id)
    (scenes / "captions.json").write_text(json.dumps(captions))
    (scenes / "splits.json").write_text(json.dumps(splits))
    seconds["synth"] = time.perf_counter() - started

    started = time.perf_counter()
    train_segmenter(SegmentTrainingOptions(count=32, held_out=4, iterations=iterations), folder / "segment")
    seconds["train_segment"] = time.perf_counter() - started

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["run"]["store"] = str(folder / "store")
    params["train_flow"].update(data=str(scenes), iterations=iterations, validate_every=iterations,
                                checkpoint_every=iterations, log_every=10, device="cpu", batch_size=4)
    started = time.perf_counter()
    train_flow_network(params, folder / "g_flow", folder / "g_flow" / "metrics.json", folder / "g_flow")
    seconds["train_flow"] = time.perf_counter() - started

    started = time.perf_counter()
    rows = np.random.default_rng(0).random((256, 256))
    rows = np.exp(8 * rows) / np.exp(8 * rows).sum(axis=1, keepdims=True)
    labels = cluster_attention(rows, (16, 16), 10)
    (folder / "kmeans").mkdir()
    np.save(folder / "kmeans" / "labels.npy", labels)
    seconds["kmeans"] = time.perf_counter() - started

    started = time.perf_counter()
    image, mask = load_rgb(scenes / "scene0_input.png"), load_mask(scenes / "scene0_mask.png")
    (folder / "attention").mkdir()
    np.save(folder / "attention" / "attention.npy", self_attention(image))
    seconds["attention"] = time.perf_counter() - started

    started = time.perf_counter()
    frames = np.stack(list(LoopRenderer(image, mask, read_motion(scenes / "scene0_motion.pth"), frames=30)))
    (folder / "render").mkdir()
    np.save(folder / "render" / "frames.npy", frames)
    seconds["render"] = time.perf_counter() - started
    return seconds


def digests(folder: Path) -> dict[str, str]:
    """``part/relative/path`` → sha256 of every output file under ``folder`` (the stores left out: the work
    folder's name holds the data folder's path)."""
    files = [path for path in sorted(folder.rglob("*"))
             if path.is_file() and path.relative_to(folder).parts[0] not in ("store", "train")]
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def run(path: str, pinned: bool, folder: Path, iterations: int,
        changes: list[str] = ()) -> tuple[dict[str, str], dict[str, float]]:
    """Run :func:`work` in a fresh process on kernel path ``path`` → (file digests, seconds per part)."""
    folder.mkdir(parents=True)
    environment = {**os.environ, **PATHS[path], "PYTHONPATH": str(ROOT)}
    command = [sys.executable, __file__, "--worker", str(folder), "--iterations", str(iterations),
               "--change", *changes]
    result = subprocess.run(command + (["--pinned"] if pinned else []), env=environment, cwd=ROOT,
                            capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{path} (pinned={pinned}) failed:\n{result.stderr[-3000:]}")
    return digests(folder), json.loads(result.stdout.strip().splitlines()[-1])


def differing(reference: dict[str, str], other: dict[str, str]) -> dict[str, list[str]]:
    """Part → the files whose bytes differ between two runs' digests."""
    found: dict[str, list[str]] = {}
    for name in sorted(set(reference) | set(other)):
        if reference.get(name) != other.get(name):
            found.setdefault(name.split("/")[0], []).append(name.split("/", 1)[1])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS))
    parser.add_argument("--pinning", nargs="+", default=["off", "on"], choices=["off", "on"])
    parser.add_argument("--iterations", type=int, default=10, help="training steps of each network")
    parser.add_argument("--change", nargs="*", default=[], metavar="NAME[=VALUE]",
                        help="pinned runs: replace a setting of stages.cpu_paths (NAME=VALUE) or leave it out (NAME)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--pinned", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(work(args.worker, args.iterations, args.pinned, args.change)))
        return
    with tempfile.TemporaryDirectory() as temporary:
        for pinned in (choice == "on" for choice in args.pinning):
            reference = None
            for path in args.paths:
                folder = Path(temporary, f"{path}-{pinned}")
                files, seconds = run(path, pinned, folder, args.iterations, args.change)
                timing = ", ".join(f"{part} {value:.1f} s" for part, value in seconds.items())
                if reference is None:
                    reference = files
                    print(f"pinned={pinned} {path}: {len(files)} files; {timing}", flush=True)
                    continue
                changes = differing(reference, files)
                shown = "; ".join(f"{part}: {', '.join(names[:4])}{' …' if len(names) > 4 else ''} "
                                  f"({len(names)})" for part, names in changes.items()) or "every file identical"
                print(f"pinned={pinned} {path} vs {args.paths[0]}: {shown}; {timing}", flush=True)


if __name__ == "__main__":
    main()
