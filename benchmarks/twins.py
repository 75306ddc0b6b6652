"""Lockstep vs two-pass twin generation, from one run: wall time, peak memory, bytes written to disk.

    python benchmarks/twins.py                     # tiny profile on the CPU (128², 10 steps)
    python benchmarks/twins.py --profile sd-random --size 512 --steps 50 --device cuda
                                                   # SD 1.x's full-size architecture, random weights, GPU

Each mode runs in a fresh process of its own, so its peak memory is its own: the models load, one short
warm-up generation runs, then ``--repeats`` timed generations of the same prompt and seed. Peak memory is
the process's peak resident set (reset after the warm-up through /proc/self/clear_refs) on the CPU, and
torch's peak allocation on a GPU. Bytes written are what the process handed to write(2) (``wchar`` of
/proc/self/io) during the timed generations, per generation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPT = "a large river flowing in front of a mountain in the style of starry nights painting"
TWIN_PROMPT = "river, mountain, nature, bright, realistic, photography, 4k, 8k"


def proc_value(path: str, key: str) -> int | None:
    """An integer field of a /proc file ("wchar: 123", "VmHWM:  456 kB"), or None where /proc is absent."""
    try:
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(":")
            if name == key:
                return int(value.split()[0])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset this process's peak resident set (Linux ≥ 4.0); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure(mode: str, settings: dict) -> dict:
    """Run in a fresh process: time ``repeats`` generations in ``mode``; return the measurements."""
    import torch

    from stages.diffusion.models import ModelOptions, load_models
    from stages.diffusion.twins import TwinOptions, generate_twins

    if settings["threads"]:
        torch.set_num_threads(settings["threads"])
    models = load_models(ModelOptions(profile=settings["profile"], device=settings["device"]))
    options = TwinOptions(height=settings["size"][0], width=settings["size"][1], steps=settings["steps"], mode=mode)
    warm_up = TwinOptions(height=options.height, width=options.width, steps=2, mode=mode)
    generate_twins(models, PROMPT, TWIN_PROMPT, 0, warm_up)
    cuda = models.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss_before = proc_value("/proc/self/status", "VmRSS")
    peak_reset = reset_peak_rss()
    written_before = proc_value("/proc/self/io", "wchar")
    seconds = []
    for _ in range(settings["repeats"]):
        started = time.perf_counter()
        result = generate_twins(models, PROMPT, TWIN_PROMPT, 0, options)
        if cuda:
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    written_after = proc_value("/proc/self/io", "wchar")
    peak_rss = proc_value("/proc/self/status", "VmHWM")
    return {
        "mode": mode, "device": str(models.device), "dtype": str(models.dtype).split(".")[-1],
        "seconds_median": statistics.median(seconds), "seconds_min": min(seconds),
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "peak_rss_mib": peak_rss / 1024 if peak_rss and peak_reset else None,
        "peak_rss_growth_mib": (peak_rss - rss_before) / 1024 if peak_rss and rss_before and peak_reset else None,
        "bytes_written": (written_after - written_before) / settings["repeats"]
        if written_before is not None and written_after is not None else None,
        "feature_bytes": result.feature_bytes,
        "latents": {"artistic": result.artistic_latents.float().numpy(),
                    "realistic": result.realistic_latents.float().numpy()},
    }


def megabytes(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1e6:.2f} MB"


def mebibytes(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="tiny", help="tiny (default) or sd-random (full size, random)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--size", type=int, nargs="+", default=None, help="HEIGHT [WIDTH] (default: profile's)")
    parser.add_argument("--steps", type=int, help="DDIM steps (default: the profile's)")
    parser.add_argument("--repeats", type=int, default=3, help="timed generations per mode (default 3)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args()

    from stages.diffusion.models import default_geometry

    geometry = default_geometry(args.profile)
    size = args.size or [geometry["height"], geometry["width"]]
    settings = {"profile": args.profile, "device": args.device, "size": (size[0], size[-1]),
                "steps": args.steps or geometry["steps"], "repeats": args.repeats, "threads": args.threads}
    results = {}
    for mode in ("lockstep", "two-pass"):
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            results[mode] = pool.submit(measure, mode, settings).result()
    lockstep, two_pass = results["lockstep"], results["two-pass"]
    latents = lockstep.pop("latents"), two_pass.pop("latents")
    difference = {name: float(abs(latents[0][name] - latents[1][name]).max()) for name in ("artistic", "realistic")}
    print(f"twins: profile {args.profile} on {lockstep['device']} ({lockstep['dtype']}), "
          f"{settings['size'][1]}x{settings['size'][0]}, {settings['steps']} DDIM steps, "
          f"median of {args.repeats} generations per mode")
    memory = "peak GPU memory" if lockstep["peak_gpu_mib"] is not None else "peak RSS (growth)"
    print(f"{'mode':10} {'wall s':>8} {memory:>22} {'written per pair':>18} {'features':>12}")
    for row in (lockstep, two_pass):
        peak = (mebibytes(row["peak_gpu_mib"]) if row["peak_gpu_mib"] is not None else
                f"{mebibytes(row['peak_rss_mib'])} ({mebibytes(row['peak_rss_growth_mib'])})")
        print(f"{row['mode']:10} {row['seconds_median']:8.3f} {peak:>22} {megabytes(row['bytes_written']):>18} "
              f"{megabytes(row['feature_bytes']):>12}")
    print(f"lockstep / two-pass wall time: {lockstep['seconds_median'] / two_pass['seconds_median']:.2f}")
    print(f"max |latent difference| lockstep vs two-pass: realistic {difference['realistic']:.2e}, artistic "
          f"{difference['artistic']:.2e} (no injection involved: batch 4 vs 2 rounding, amplified by the steps)")
    if args.json:
        args.json.write_text(json.dumps({"settings": settings, "results": results,
                                         "max_latent_difference": difference}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
