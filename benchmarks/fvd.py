"""The FVD detector's speed on a CPU: the I3D's max pools as they run now against torch's own, in one run.

The pipeline runs every torch operation on one thread at AVX2 (``stages.cpu_paths``), so this does too. For
FVD16 (16 frames) and FVD60 (60 frames) of a 256² video resized to 224², it prints the seconds per video of
the seeded random I3D (the offline detector: the real one has the same layers) as it is
(``stages.evaluation.i3d``: max pools one axis at a time) and as it was (``F.max_pool3d``), both on a quiet
machine and with one other core busy, their ratio, and whether the two give bit-identical features.

    python benchmarks/fvd.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.cpu_paths import pin_cpu_paths  # noqa: E402

pin_cpu_paths()  # before torch loads, as `cinemagraph pipeline` does

import numpy as np  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchmarks.speed import busy_core  # noqa: E402
from stages.evaluation import i3d  # noqa: E402
from stages.evaluation.fvd import PROTOCOLS, video_features  # noqa: E402


def torch_pool(self: i3d.MaxPoolSame, x):
    """The earlier pooling: torch's 3-D max pool of the zero-padded input."""
    return F.max_pool3d(i3d.pad_same(x, self.kernel, self.stride), self.kernel, self.stride)


@contextmanager
def torch_pools():
    """I3D's max pools as they were, for the block."""
    pool = i3d.MaxPoolSame.forward
    i3d.MaxPoolSame.forward = torch_pool
    try:
        yield
    finally:
        i3d.MaxPoolSame.forward = pool


def seconds_per_video(video: np.ndarray, protocol: str, repeats: int) -> tuple[float, np.ndarray]:
    """Best of ``repeats`` seconds for one video's features under ``protocol``, and the features (400,)."""
    detector = i3d.random_detector()
    best, features = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        features = video_features(detector, [video], PROTOCOLS[protocol])[0]
        best = min(best, time.perf_counter() - started)
    return best, features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timings per case; the best is kept")
    args = parser.parse_args()
    video = np.random.default_rng(0).integers(0, 256, (60, 256, 256, 3), dtype=np.uint8)
    seconds_per_video(video, "fvd16", 1)  # the detector's weights are drawn once per process
    for protocol in PROTOCOLS:
        for load, busy in (("quiet", False), ("one core busy", True)):
            with busy_core() if busy else nullcontext():
                now, features_now = seconds_per_video(video, protocol, args.repeats)
                with torch_pools():
                    before, features_before = seconds_per_video(video, protocol, args.repeats)
            identical = features_now.tobytes() == features_before.tobytes()
            print(f"{protocol} {load:<14} before {before:6.2f} s/video   now {now:6.2f} s/video   "
                  f"speed-up {before / now:4.2f}×   features bit-identical: {identical}")


if __name__ == "__main__":
    main()
