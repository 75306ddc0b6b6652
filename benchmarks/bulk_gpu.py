"""Items per minute per GPU of a bulk run on the full-size random-weights profile (``models.profile:
sd-random``: SD 1.x's architecture at 512², 50 DDIM steps, 120-frame loops), with 1 and with 2 workers (Ray
actors; two share the GPU, half each). Run by benchmarks/bulk_gpu.sh on a GPU machine.

    python benchmarks/bulk_gpu.py --items 16           # prints one JSON line per worker count

Every row brings its mask (a band across the picture): random weights draw no scene a segmenter could read,
so the mask step takes the given mask; twins (the GPU work), flow and video run as in any bulk run. Each actor
first runs one warm-up item of its own (models loaded, kernels chosen), then the items are timed; a fresh
store per configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bulk import ROOT, bulk_run, prompts, write_manifest  # noqa: E402  (benchmarks/bulk.py)


def gpu_manifest(work: Path, items: int, size: int, name: str = "gpu", first: int = 0) -> Path:
    """``items`` prompts (numbered from ``first``), each with a mask PNG (white in a horizontal band) beside the
    manifest ``name``.csv."""
    from stages.images import save_png

    rows = prompts(first + items)[first:]
    for number, row in enumerate(rows):
        mask = np.zeros((size, size), bool)
        mask[size // 2 + number % 8 * size // 32:, :] = True
        save_png(work / f"mask{number}.png", mask)
        row["mask"] = f"mask{number}.png"
    return write_manifest(work / f"{name}.csv", rows)


def measure(work: Path, manifest: Path, warm_up: Path, params_file: Path, workers: int) -> dict:
    """One configuration: items per minute (all GPUs together and per GPU), ok and failed items, after each
    actor ran one item of ``warm_up``."""
    import ray

    from tasks.bulk.manifest import read_manifest

    run = bulk_run(manifest, work / f"run{workers}", params_file, work / f"store{workers}", workers, "ray")
    run.open()
    warm = zip(run._pool.actors, read_manifest(warm_up))
    ray.get([actor.run.remote(spec, run.params, str(work / f"warm{workers}")) for actor, spec in warm])
    gpus = ray.cluster_resources().get("GPU", 0.0)
    begun = time.perf_counter()
    with ThreadPoolExecutor(run.concurrency) as threads:
        list(threads.map(run.run_shard, run.shards()))
    seconds = time.perf_counter() - begun
    summary = run.finish()
    rate = 60 * len(run.plan.todo) / seconds
    return {"workers": workers, "gpus": gpus, "items": len(run.plan.todo), "ok": summary["done"],
            "failed": summary["failed"], "seconds": round(seconds, 1), "items_per_min": round(rate, 2),
            "items_per_min_per_gpu": round(rate / max(gpus, 1.0), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=16, help="items per configuration")
    parser.add_argument("--profile", default="sd-random", help="models.profile")
    parser.add_argument("--size", type=int, default=512, help="twin size, pixels")
    args = parser.parse_args()
    import yaml

    from tasks.offline_models import flow_model_checkpoint

    work = Path(tempfile.mkdtemp(prefix="bulk-gpu-"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["models"].update(profile=args.profile, device="auto")
    params["twins"].update(height=args.size, width=args.size)
    params["flow"]["flow_model"] = flow_model_checkpoint(params["flow"]["flow_model"], params["synth_train"],
                                                         params["train_flow"], ROOT)  # the repository's, else trained
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    manifest = gpu_manifest(work, args.items, args.size)
    warm_up = gpu_manifest(work, 2, args.size, "warm-up", first=args.items)
    for workers in (1, 2):
        print(json.dumps(measure(work, manifest, warm_up, work / "params.yaml", workers)), flush=True)


if __name__ == "__main__":
    main()
