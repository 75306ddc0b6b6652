"""Speed on a quiet and on a busy machine, from one run: the motion engine, G_frame, the command line.

Prints, for the engine (the whole 512² picture moving) and for G_frame (small network, lake scene): frames
per second on the quiet machine, while one other process keeps one core busy (a busy loop started here),
and their ratio (after a short warm-up render: the compiled kernels load once per process) — with the
thread policy of ``stages.threads`` and with torch's default threads as before;
the engine against the authors' scheme (``benchmarks/engine.py``); ``cinemagraph animate`` to MP4 and to
``.npz`` (122 against 2 frames, so start-up cancels); and what the backward integration of a long loop
keeps in memory, and what its checkpoints cost in time.

    python benchmarks/speed.py [--size 512] [--frames 120] [--cpus 2] [--gframe-frames 48] [--no-authors]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.engine import authors_scheme  # noqa: E402
from stages.images import save_png  # noqa: E402
from stages.learned.frame_net import FrameNet, FrameNetConfig, FRAME_PRESETS  # noqa: E402
from stages.learned.inference import LearnedRenderer  # noqa: E402
from stages.motion.engine import LoopRenderer, ReverseIntegrator, euler_displacements, pixel_grid  # noqa: E402
from stages.motion.flowfield import dense_flow, region_hints  # noqa: E402
from stages.scenes.landscapes import make_scene  # noqa: E402
from stages.threads import use_cpu_share  # noqa: E402


@contextmanager
def busy_core():
    """One other process spinning on a core while the block runs."""
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        yield
    finally:
        process.kill()
        process.wait()


def rate(render, frames: int) -> float:
    """Frames per second of ``render()`` (which renders ``frames`` frames), setup included."""
    started = time.perf_counter()
    render()
    return frames / (time.perf_counter() - started)


def quiet_and_busy(label: str, render, frames: int) -> float:
    """Print frames/s quiet, busy and their ratio → the quiet figure."""
    quiet = rate(render, frames)
    with busy_core():
        busy = rate(render, frames)
    print(f"{label:<46} quiet {quiet:7.1f}   one core busy {busy:7.1f}   ratio {busy / quiet:5.2f}")
    return quiet


def with_default_threads(cpus: int):
    """Torch's default policy as before: ``cpus`` intra-op threads, one frame at a time."""
    use_cpu_share(1)
    torch.set_num_threads(cpus)


def cli_rate(folder: Path, suffix: str, frames: int, cpus: int) -> float:
    """``cinemagraph animate`` frames/s: (frames + 2) against 2 frames, start-up cancelled."""
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
                   "CINEMAGRAPH_THREADS": str(cpus)}

    def seconds(count: int) -> float:
        command = [str(Path(sys.executable).with_name("cinemagraph")), "animate", str(folder / "image.png"), "--mask",
                   str(folder / "mask.png"), "--direction", "flowing from left to right", "--frames", str(count),
                   "-o", str(folder / f"out{suffix}")]
        started = time.perf_counter()
        subprocess.run(command, env=environment, check=True, capture_output=True)
        return time.perf_counter() - started

    return frames / (seconds(frames + 2) - seconds(2))


def backward_memory(height: int, width: int, frames: int) -> None:
    """Bytes the backward integration keeps for a long loop, against keeping every displacement."""
    flow = torch.from_numpy(dense_flow(np.ones((height, width), bool), region_hints(np.ones((height, width), bool),
                                                                                      20.0, 1.0)))
    points = pixel_grid(height, width)
    reverse = ReverseIntegrator(-flow, points, frames)
    kept = sum(t.nbytes for t in [*reverse._checkpoints.values(), *reverse._segment])
    every = (frames + 1) * points.nbytes
    print(f"backward integration, {width}x{height}, {frames} frames: keeps {kept / 2**20:.1f} MiB "
          f"(every displacement: {every / 2**20:.0f} MiB)")


def backward_cost(height: int, width: int, frames: int) -> None:
    """Seconds of the backward sweep with checkpoints against one plain integration kept whole."""
    mask = np.ones((height, width), bool)
    flow = torch.from_numpy(dense_flow(mask, region_hints(mask, 20.0, 1.0)))
    points = pixel_grid(height, width)
    started = time.perf_counter()
    list(euler_displacements(-flow, points, frames))
    plain = time.perf_counter() - started
    started = time.perf_counter()
    reverse = ReverseIntegrator(-flow, points, frames)
    for m in range(frames, 0, -1):
        reverse(m)
    checkpointed = time.perf_counter() - started
    print(f"backward integration, {width}x{height}, {frames} frames: all kept {plain:.2f} s, "
          f"√N checkpoints {checkpointed:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--cpus", type=int, default=2, help="the CPU share given to the renderers")
    parser.add_argument("--gframe-frames", type=int, default=48, help="frames of G_frame's loop (it is slower)")
    parser.add_argument("--no-authors", action="store_true", help="skip the authors' scheme (O(N²), slow)")
    parser.add_argument("--long-frames", type=int, default=100_000)
    args = parser.parse_args()
    size, frames = args.size, args.frames
    scene = make_scene(0, size, size, kind="lake")
    image, lake = scene.frame(0), scene.mask
    whole = np.ones_like(lake)
    flow = dense_flow(whole, region_hints(whole, 20.0, 1.0))
    torch.manual_seed(0)
    model = FrameNet(FrameNetConfig(**FRAME_PRESETS["small"])).eval()
    lake_flow = scene.flow()
    print(f"{size}x{size}; engine {frames} frames (whole picture moving), G_frame {args.gframe_frames} frames "
          f"(lake); CPU share {args.cpus} of {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")

    def engine():
        list(LoopRenderer(image, whole, flow, frames))

    def learned():
        list(LearnedRenderer(model, image, lake, lake_flow, args.gframe_frames))

    use_cpu_share(args.cpus)
    list(LoopRenderer(image, whole, flow, 4))  # warm-up: the compiled kernels load from their cache once
    list(LearnedRenderer(model, image, lake, lake_flow, 2))
    engine_quiet = quiet_and_busy(f"engine, one thread per op, {args.cpus} frames at once", engine, frames)
    quiet_and_busy(f"G_frame, one thread per op, {args.cpus} frames at once", learned, args.gframe_frames)
    with_default_threads(args.cpus)
    quiet_and_busy(f"engine, {args.cpus} torch threads (as before)", engine, frames)
    quiet_and_busy(f"G_frame, {args.cpus} torch threads (as before)", learned, args.gframe_frames)
    if not args.no_authors:  # with torch's threads: its few large operations use them well
        authors = rate(lambda: authors_scheme(image, flow, frames, "cpu"), frames)
        print(f"authors' scheme (whole picture)               {authors:7.1f} frames/s; "
              f"engine / authors {engine_quiet / authors:.1f}x")
    use_cpu_share(args.cpus)
    with tempfile.TemporaryDirectory() as folder:
        save_png(Path(folder) / "image.png", image)
        save_png(Path(folder) / "mask.png", (lake * 255).astype(np.uint8))
        for suffix in (".mp4", ".npz"):
            print(f"cinemagraph animate to {suffix} (lake, {frames} frames)     "
                  f"{cli_rate(Path(folder), suffix, frames, args.cpus):7.1f} frames/s")
    backward_memory(64, 96, args.long_frames)
    backward_cost(size, size, frames)


if __name__ == "__main__":
    main()
