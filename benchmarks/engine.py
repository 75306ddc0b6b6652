"""Benchmark of the motion engine against the authors' scheme, in one process.

Renders a 120-frame loop of a 512×512 picture with (a) our engine — Euler integration advanced once per
frame with bilinear look-ups, only the moving pixels splatted — and (b) a re-implementation of the
authors' scheme: every frame re-integrated from scratch (O(N²) steps) with nearest-neighbour look-ups over
the whole image, then splatted with the same softmax splatting. Prints frames per second and the ratio.

    python benchmarks/engine.py [--size 512] [--frames 120] [--device cpu] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from stages.motion.engine import LoopRenderer, fill_holes, splat_bilinear
from stages.motion.flowfield import dense_flow, region_hints
from stages.scenes.landscapes import make_scene
from stages.threads import use_cpu_share


def authors_scheme(image: np.ndarray, flow: np.ndarray, frames: int, device: str) -> list[np.ndarray]:
    """Every frame re-integrated from zero with nearest-neighbour flow look-ups, whole image splatted."""
    height, width = image.shape[:2]
    field = torch.from_numpy(flow).to(device)
    rows, cols = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device),
                                indexing="ij")
    points = torch.stack([cols.flatten(), rows.flatten()], 1).float()
    values = torch.from_numpy(image.reshape(-1, 3)).to(device).float().T / 255
    ones = torch.ones(len(points), device=device)

    def integrate(sign: float, steps: int) -> torch.Tensor:
        displacement = torch.zeros_like(points)
        for _ in range(steps):
            at = (points + displacement).round().long()
            x, y = at[:, 0].clamp(0, width - 1), at[:, 1].clamp(0, height - 1)
            displacement = displacement + sign * field[:, y, x].T
        return displacement

    out = []
    for n in range(frames):
        alpha = 1 - n / frames
        moved = torch.cat([points + integrate(1.0, n), points + integrate(-1.0, frames - n)])
        splat = splat_bilinear(moved, torch.cat([values, values], 1),
                               torch.cat([ones * alpha, ones * (1 - alpha)]), height, width)
        filled = fill_holes(splat[:3] / splat[3].clamp_min(1e-12), (splat[3] > 1e-6).float())
        out.append(filled.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy())
    return out


def timed(label: str, function, frames: int) -> float:
    """Run ``function`` once, print its frames per second, return seconds."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    function()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    print(f"{label:<44} {seconds:7.2f} s  {frames / seconds:7.1f} frames/s")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    scene = make_scene(0, args.size, args.size, kind="lake")
    image = scene.frame(0)
    print(f"{args.size}x{args.size}, {args.frames} frames, device {args.device}, {args.threads} threads")
    for label, mask in (("lake mask", scene.mask), ("whole picture moving", np.ones_like(scene.mask))):
        flow = dense_flow(mask, region_hints(mask, 20.0, 1.0))
        print(f"-- {label} ({mask.mean():.0%} of the pixels move)")
        use_cpu_share(args.threads)  # ours: one thread per operation, frames rendered in parallel
        list(LoopRenderer(image, mask, flow, 4, device=args.device))  # warm-up: compiled kernels load once
        ours = timed("ours: incremental, bilinear, masked (whole render)",
                     lambda: list(LoopRenderer(image, mask, flow, args.frames, device=args.device)), args.frames)
        torch.set_num_threads(args.threads)  # theirs: few large operations, torch's intra-op threads
        theirs = timed("authors' scheme: from scratch, nearest",
                       lambda: authors_scheme(image, flow, args.frames, args.device), args.frames)
        print(f"speed-up: {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()
