"""Bulk runs: exactly once under SIGKILL, throughput on 1 and 2 workers, orchestration cost, planning at scale.

    python benchmarks/bulk.py                        # everything, the offline default (params.yaml), 200 prompts
    python benchmarks/bulk.py --items 30 --size 64 --frames 8 --phases kill,workers,ceiling,overhead,plan  # a quick look

1. kill: a manifest of ``--items`` prompts run by ``cinemagraph bulk`` in a subprocess, SIGKILLed twice at random
   moments (after a random number of finished items), completed by the third start; checked against an
   uninterrupted run with the same seeds into its own store: one row per id, no partial folder, every file of
   ``RUN/items`` byte-identical.
2. workers: items per minute with 1 and with 2 Ray actors (``--executor ray``), each rendering on one thread
   (CINEMAGRAPH_THREADS=1) on a local Ray cluster confined to as many cores as actors (its processes, the
   actors and their ffmpeg encoders inherit the cores), so both configurations give an item the same work and
   the same CPU: unconfined, one actor's encoder runs beside it on the idle core; a fresh store each, timed
   from the first item (the actors' start-up excluded: each loads its models by running one throwaway item).
3. ceiling: the same items through the pipeline alone (tasks.one_prompt.generate; no Ray, Prefect or store) in
   one process on one core, then in two processes on a core each (at most 40 items): the ratio two cores of
   this machine give this work at all, which the workers phase's ratio is to be read against.
4. overhead: the bulk flow (Prefect, shards, store, keys, links, journal) against calling the pipeline
   (tasks.one_prompt.generate) in a loop over the same items (prompts and seeds) with the same parallelism,
   both on 2 threads in this process, after one untimed item has loaded the models; the bulk run's flow (Prefect's
   flow and task runs, shards, the report) is timed, its start (lock, reconciliation, plan, code digests: what a
   command does while its Prefect server comes up) is printed beside it as start_s.
5. plan: a 100 000-row manifest read, validated, reconciled and planned without running any item: seconds and
   peak memory (tracemalloc).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SUBJECTS = ["a large river flowing in front of a mountain", "a waterfall between green hills",
            "a stormy sea under dark clouds", "a calm lake under the moon", "clouds drifting over a field",
            "a stream through a forest"]
STYLES = ["oil painting", "watercolor", "ukiyo-e", "pastel drawing", "impressionist painting"]


def prompts(count: int) -> list[dict]:
    """``count`` distinct prompts with ids (no seeds: derived from the content)."""
    return [{"id": f"p{n:05d}", "prompt": f"{SUBJECTS[n % 6]}, {STYLES[n // 6 % 5]}, number {n}"} for n in range(count)]


def write_manifest(path: Path, rows: list[dict]) -> Path:
    import pandas as pd

    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def project(work: Path, args) -> Path:
    """params.yaml in ``work``: the repository's, with a segmenter trained here, the repository's G_flow (else one
    trained once into the user model cache) and the size/frames asked."""
    import yaml

    from tasks.masks import train_segment
    from tasks.offline_models import flow_model_checkpoint

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    if not (work / "segmenter" / "config.json").is_file():
        train_segment(params["train_segment"], work / "segmenter", work / "segmenter.json")
    params["mask"]["checkpoint"] = str(work / "segmenter")
    params["flow"]["flow_model"] = flow_model_checkpoint(params["flow"]["flow_model"], params["synth_train"],
                                                         params["train_flow"], ROOT)
    if args.size:
        params["twins"].update(height=args.size, width=args.size)
    if args.frames:
        params["video"]["frames"] = args.frames
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    return work / "params.yaml"


def bulk_run(manifest: Path, run_dir: Path, params_file: Path, store: Path, workers: int = 1, executor: str = "local"):
    """A started BulkRun (no Prefect) over ``manifest``."""
    import yaml

    from tasks.bulk.manifest import read_manifest
    from tasks.bulk.runner import BulkRun
    from tasks.bulk.steps import check_settings

    params = yaml.safe_load(params_file.read_text())
    params["run"]["store"] = str(store)
    specs = read_manifest(manifest)
    run = BulkRun(specs, run_dir, check_settings(params, specs), workers, executor)
    run.start()
    return run


def phase_kill(work: Path, params_file: Path, args) -> dict:
    """Two SIGKILLs of the driver, a third start, compared with an uninterrupted run."""
    manifest = write_manifest(work / "kill.csv", prompts(args.items))
    begun = time.perf_counter()
    bulk_run(manifest, work / "reference", params_file, work / "store-reference").run_all()
    reference_s = time.perf_counter() - begun
    command = [sys.executable, "-c", "from flows.cli import program; program()", "bulk", str(manifest), "-o",
               str(work / "killed"), "--params", str(params_file), "--set", f"run.store={work / 'store-killed'}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    journal, rng, kills = work / "killed" / "journal.jsonl", random.Random(args.seed), []
    begun = time.perf_counter()
    for _ in range(2):
        before = len(journal.read_text().splitlines()) if journal.is_file() else 0
        target = before + rng.randint(1, max(1, args.items // 3))
        driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while driver.poll() is None and (not journal.is_file() or len(journal.read_text().splitlines()) < target):
            time.sleep(0.02)
        time.sleep(rng.random())  # a random moment inside the next item
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        kills.append(len(journal.read_text().splitlines()))
    third = subprocess.run(command, env=env, capture_output=True, text=True)
    killed_s = time.perf_counter() - begun
    import pandas as pd

    results, expected = (pd.read_parquet(work / name / "results.parquet") for name in ("killed", "reference"))
    files = lambda root: {p.relative_to(root): p.read_bytes() for p in (root / "items").rglob("*") if p.is_file()}
    return {"items": args.items, "journal_rows_at_kills": kills, "third_start_exit": third.returncode,
            "rows": len(results), "one_row_per_id": bool(results.id.is_unique and len(results) == args.items),
            "no_partial_folders": not list((work / "killed" / "items").glob(".partial-*")),
            "byte_identical": files(work / "killed") == files(work / "reference"),
            "ok": int((results.status == "ok").sum()), "failed": int((results.status == "failed").sum()),
            "uninterrupted_s": round(reference_s, 1), "three_starts_s": round(killed_s, 1)}


def phase_workers(work: Path, params_file: Path, args) -> dict:
    """Items/minute with 1 and 2 Ray actors, one render thread and one core each."""
    import ray

    os.environ["CINEMAGRAPH_THREADS"] = "1"
    manifest = write_manifest(work / "workers.csv", prompts(args.items))
    rates, cores = {}, sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("the workers phase needs two cores")
    for workers in (1, 2):
        ray.shutdown()  # a fresh local cluster on this configuration's cores: its processes inherit them
        os.sched_setaffinity(0, cores[:workers])
        run = bulk_run(manifest, work / f"workers{workers}", params_file, work / f"store-workers{workers}",
                       workers, "ray")
        run.open()
        ray.get([actor.ready.remote() for actor in run._pool.actors])  # started, warmed up: time the items only
        begun = time.perf_counter()
        with ThreadPoolExecutor(run.concurrency) as threads:
            list(threads.map(run.run_shard, run.shards()))
        rates[workers] = 60 * args.items / (time.perf_counter() - begun)
        run.finish()
    ray.shutdown()
    os.sched_setaffinity(0, cores)
    del os.environ["CINEMAGRAPH_THREADS"]
    return {"items": args.items, "items_per_min_1": round(rates[1], 1), "items_per_min_2": round(rates[2], 1),
            "ratio": round(rates[2] / rates[1], 2)}


def pipeline_share(params_file: str, specs: list, out: str, core: int, start, results) -> None:
    """Run tasks.one_prompt.generate over ``specs`` in this process, pinned to ``core`` with one render thread,
    after an untimed warm-up item and ``start`` (a barrier) → its wall seconds onto ``results``."""
    import yaml

    os.sched_setaffinity(0, {core})
    os.environ["CINEMAGRAPH_THREADS"] = "1"
    from tasks.one_prompt import generate

    params = yaml.safe_load(Path(params_file).read_text())
    generate(SUBJECTS[0], Path(out) / f"warm-up-{core}", params)
    start.wait()
    begun = time.perf_counter()
    for spec in specs:
        generate(spec.prompt, Path(out) / spec.id, params, seed=spec.seed)
    results.put(time.perf_counter() - begun)


def pipeline_rate(params_file: Path, specs: list, out: Path, processes: int) -> float:
    """Items per minute of the pipeline alone (no Ray, Prefect or store) in ``processes`` processes, one core
    each, the items dealt out evenly."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=pipeline_share, args=(str(params_file), specs[core::processes], str(out),
                                                            core, start, results)) for core in range(processes)]
    for worker in workers:
        worker.start()
    seconds = max(results.get() for _ in workers)
    for worker in workers:
        worker.join()
    return 60 * len(specs) / seconds


def phase_ceiling(work: Path, params_file: Path, args) -> dict:
    """What two cores of this machine give the same per-item work without any orchestration: the pipeline in
    one process on one core against two processes on a core each (the ratio the workers phase can reach)."""
    from tasks.bulk.manifest import read_manifest

    specs = read_manifest(write_manifest(work / "ceiling.csv", prompts(min(args.items, 40))))
    rates = {processes: pipeline_rate(params_file, specs, work / f"ceiling{processes}", processes)
             for processes in (1, 2)}
    return {"items": len(specs), "items_per_min_1": round(rates[1], 1), "items_per_min_2": round(rates[2], 1),
            "ratio": round(rates[2] / rates[1], 2)}


def phase_overhead(work: Path, params_file: Path, args) -> dict:
    """The bulk flow against tasks.one_prompt.generate in a loop, both on 2 threads."""
    import yaml

    from flows.bulk import run_bulk_flow
    from tasks.bulk.manifest import read_manifest
    from tasks.one_prompt import generate
    from tasks.prefect_server import prefect_api

    manifest = write_manifest(work / "overhead.csv", prompts(args.items))
    specs = read_manifest(manifest)  # the loop renders the same items: each with the seed the bulk run derives
    params = yaml.safe_load(params_file.read_text())
    generate(SUBJECTS[0], work / "warm-up", params)  # models loaded and libraries imported before either is timed
    begun = time.perf_counter()
    with ThreadPoolExecutor(2) as threads:
        list(threads.map(lambda spec: generate(spec.prompt, work / "loop" / spec.id, params, seed=spec.seed), specs))
    loop_s = time.perf_counter() - begun
    with prefect_api() as server:
        server.wait()
        begun = time.perf_counter()
        run = bulk_run(manifest, work / "overhead", params_file, work / "store-overhead", 2)
        start_s = time.perf_counter() - begun  # a command spends it while its Prefect server comes up
        begun = time.perf_counter()
        run_bulk_flow(run)
        bulk_s = time.perf_counter() - begun
    return {"items": args.items, "loop_s": round(loop_s, 2), "bulk_s": round(bulk_s, 2), "start_s": round(start_s, 2),
            "overhead_per_item_ms": round(1000 * (bulk_s - loop_s) / args.items, 1),
            "overhead_percent": round(100 * (bulk_s / loop_s - 1), 1)}


def phase_plan(work: Path, params_file: Path, args) -> dict:
    """Plan a 100 000-row manifest (no item run): seconds and peak traced memory."""
    import yaml

    from tasks.bulk.journal import reconcile
    from tasks.bulk.manifest import read_manifest
    from tasks.bulk.plan import make_plan, shards
    from tasks.store import Store

    manifest = write_manifest(work / "plan.csv", prompts(args.plan_rows))
    params = yaml.safe_load(params_file.read_text())
    tracemalloc.start()
    begun = time.perf_counter()
    specs = read_manifest(manifest)
    rows, _ = reconcile(work / "plan-run", specs, Store(work / "store-plan"))
    plan = make_plan(specs, rows, False, work / "plan-run", params)
    cut = shards(plan.todo, 2)
    seconds = time.perf_counter() - begun
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"rows": args.plan_rows, "seconds": round(seconds, 2), "peak_mib": round(peak / 2**20, 1),
            "shards": len(cut), "largest_shard": max(map(len, cut))}


PHASES = {"kill": phase_kill, "workers": phase_workers, "ceiling": phase_ceiling, "overhead": phase_overhead,
          "plan": phase_plan}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--plan-rows", type=int, default=100_000)
    parser.add_argument("--size", type=int, help="twins height and width (default: params.yaml's)")
    parser.add_argument("--frames", type=int, help="frames per loop (default: params.yaml's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--phases", default=",".join(PHASES))
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    with tempfile.TemporaryDirectory(prefix="bulk-bench-") as folder:
        work = Path(folder)
        os.chdir(work)
        params_file = project(work, args)
        for name in args.phases.split(","):
            print(json.dumps({name: PHASES[name](work, params_file, args)}), flush=True)


if __name__ == "__main__":
    main()
