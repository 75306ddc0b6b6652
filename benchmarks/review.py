"""Benchmark of a review re-render from a changed mask: 512×512, 120 frames, the motion engine.

Makes a 512² item with `generate` (a picture, its mask), then times what the page's Re-render runs after a
brush stroke: the mask step, the flow step and the video step (render + mp4), into a new version.

    python benchmarks/review.py [--size 512] [--frames 120]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import write_picture  # noqa: E402

from stages.threads import use_cpu_share  # noqa: E402
from tasks.one_prompt import generate  # noqa: E402
from tasks.review.edits import Edit  # noqa: E402
from tasks.review.folders import open_folder  # noqa: E402
from tasks.review.rerender import rerender  # noqa: E402
from tasks.review.versions import ItemVersions  # noqa: E402


def main() -> None:
    """Print the re-render's seconds per step and in all."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=120)
    args = parser.parse_args()
    use_cpu_share()
    size = args.size
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        _, _, mask = write_picture(root, size, size, (slice(size // 8, size // 2), slice(size // 8, size // 2)))
        params = {"models": {"profile": "procedural"}, "flow": {"source": "direction"}, "video": {"frames": args.frames}}
        generate("a watercolor painting of a waterfall", root / "out", params, image=root / "painting.png",
                 mask=root / "water.png")
        folder = open_folder(root / "out")
        versions = ItemVersions(folder, next(iter(folder.items.values())))
        painted = mask.copy()
        painted[size // 4: size // 3, size // 2: 3 * size // 4] = True  # the brush stroke
        started = time.perf_counter()
        rerender(versions, Edit(0, painted, (), 1.0, "direction", None), params)
        total = time.perf_counter() - started
        seconds = json.loads((versions.folder(1) / "settings.json").read_text())["seconds"]
    print(f"review re-render from a changed mask, {size}x{size}, {args.frames} frames: {total:.2f} s "
          f"(mask {seconds['mask']:.3f} s, flow {seconds['flow']:.3f} s, video {seconds['video']:.2f} s)")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
