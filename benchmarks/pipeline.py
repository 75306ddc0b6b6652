"""What the batch machinery costs, from one run: actor throughput, the Prefect + Ray flow against calling the
step directly, and the fixed cost of one ``cinemagraph pipeline STAGE`` process.

    python benchmarks/pipeline.py                          # tiny profile, 64², 4 DDIM steps, 2 CPUs
    python benchmarks/pipeline.py --profile sd-random --size 512 --steps 50 --batch 16   # on a GPU machine

1. Items per minute of the twins step (a model-holding step) on 1 and on 2 Ray actors, submitted from 16
   threads as Prefect's task runner does: "cold" counts from the pool's creation (each actor loads its
   models), "warm" is a second batch on the same actors.
2. A batch of ``--batch`` twins items, each way in a fresh process, start-up included: calling the step
   function in a loop, and the Prefect flow of ``run_stage`` on Ray (its default settings: ``run.actors``
   auto). The run's phases (imports, Ray start, the flow with Prefect's server start) show where the
   difference goes.
3. The fixed cost one ``cinemagraph pipeline STAGE`` process adds, with a trivial stage (``synth``, 1 scene
   of 16×16): the whole command against the step alone, and the pieces measured one per fresh process
   (interpreter start, imports, Prefect's temporary server, Ray's local cluster).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS = ["a river flowing past a mountain in the style of starry nights",
           "a waterfall in a forest, watercolor painting",
           "clouds drifting over a lake at dawn, oil painting",
           "a stormy sea under a dark sky, by ivan aivazovsky"]


# --- what runs inside the fresh processes ----------------------------------------------------------------


def twin_items(workdir: Path, count: int, first_seed: int = 0) -> list:
    """``count`` twins items (prompts cycled, seeds from ``first_seed``), their rewrite.json written under
    ``workdir/rewrite``."""
    from tasks.batch import Item
    from tasks.twins import rewrite_item

    items = []
    for number in range(count):
        folder = workdir / "rewrite" / f"p{number:02d}"
        if not (folder / "rewrite.json").is_file():
            folder.mkdir(parents=True, exist_ok=True)
            rewrite_item(Item(folder.name, values={"prompt": PROMPTS[number % len(PROMPTS)]}), {}, folder)
        items.append(Item(folder.name, inputs={"rewrite": folder / "rewrite.json"},
                          values={"seed": first_seed + number}))
    return items


def twin_params(settings: dict) -> dict:
    """The twins step's params section for the benchmark's profile, size and steps."""
    return {"models": {"profile": settings["profile"], "device": "auto", "dtype": "auto"},
            "twins": {"height": settings["size"], "width": settings["size"], "steps": settings["steps"]},
            "attention": {}}


def phase_actors(settings: dict, workdir: Path) -> dict:
    """Items/minute of TWINS on ``settings["actors"]`` actors: a cold batch (pool start and model loads
    included), then a warm one on the same actors."""
    from concurrent.futures import ThreadPoolExecutor

    from tasks.batch import item_key
    from tasks.executor import RayExecutor
    from tasks.prefect_task import resolved_settings  # Prefect is imported here, in the driver only
    from tasks.twins import TWINS

    executor = RayExecutor(num_cpus=settings["cpus"], object_store_mb=256, actors=settings["actors"])
    params = resolved_settings(twin_params(settings), executor.device_for(TWINS))
    store = str(workdir / f"store-actors{settings['actors']}")

    def batch(first_seed: int) -> float:
        items = twin_items(workdir, settings["batch"], first_seed)
        keys = [item_key(TWINS, item, params) for item in items]  # in one thread, as run_stage does
        started = time.perf_counter()
        with ThreadPoolExecutor(16) as threads:
            records = list(threads.map(lambda item, key: executor.run(TWINS, item, params, key, store),
                                       items, keys))
        assert all(record["status"] == "ok" for record in records), records
        return 60 * len(items) / (time.perf_counter() - started)

    cold, warm = batch(0), batch(1000)
    executor.close()
    return {"cold_items_per_minute": round(cold, 1), "warm_items_per_minute": round(warm, 1)}


def phase_direct(settings: dict, workdir: Path) -> dict:
    """The batch through the step function in this process, one item after another, on one torch thread as
    the flow's actor (one CPU of the cluster) has: a team of torch threads on a busy machine is many times
    slower, which would flatter the flow."""
    import torch

    from tasks.twins import twins_item

    torch.set_num_threads(1)
    items = twin_items(workdir, settings["batch"])
    started = time.perf_counter()
    for item in items:
        folder = workdir / "direct" / item.id
        folder.mkdir(parents=True, exist_ok=True)
        twins_item(item, twin_params(settings), folder)
    return {"items_s": round(time.perf_counter() - started, 2)}


def phase_flow(settings: dict, workdir: Path) -> dict:
    """The batch through a Prefect flow of ``run_stage`` on Ray (a fresh store), its phases timed."""
    started = time.perf_counter()
    from prefect import flow

    from tasks.gallery import RUNNER
    from tasks.prefect_task import executor_for, run_stage
    from tasks.twins import TWINS

    imported = time.perf_counter()
    run = {"executor": "ray", "num_cpus": settings["cpus"], "object_store_mb": 256,
           "store": str(workdir / "store-flow")}
    executor_for(run)
    ray_started = time.perf_counter()
    flow(name="empty")(lambda: None)()  # the first flow run of a process starts Prefect's temporary server
    prefect_started = time.perf_counter()
    items = twin_items(workdir, settings["batch"])
    manifest = flow(name="twins", task_runner=RUNNER)(run_stage)(TWINS, items, twin_params(settings),
                                                                 workdir / "flow", run)
    assert list(manifest.status) == ["ok"] * len(items), manifest
    done = time.perf_counter()
    return {"imports_s": round(imported - started, 2), "ray_start_s": round(ray_started - imported, 2),
            "prefect_start_s": round(prefect_started - ray_started, 2), "flow_s": round(done - prefect_started, 2),
            "items_s": round(sum(fact["seconds"] for fact in run_log(workdir / "runs" / "twins.jsonl")), 2)}


def run_log(path: Path) -> list[dict]:
    """The lines of a stage's run log (one JSON object per item per run)."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def phase_imports(settings: dict, workdir: Path) -> dict:
    """What ``cinemagraph pipeline`` imports before running a stage: the command and every stage's flow."""
    started = time.perf_counter()
    import flows.cli  # noqa: F401
    from flows.pipeline import stage_flows

    stage_flows()
    return {"seconds": round(time.perf_counter() - started, 2)}


def phase_prefect(settings: dict, workdir: Path) -> dict:
    """Prefect's temporary server: the first flow run of a process (an empty flow) starts it."""
    import tasks.prefect_env  # noqa: F401
    from prefect import flow

    started = time.perf_counter()
    flow(name="empty")(lambda: None)()
    first = time.perf_counter()
    flow(name="empty")(lambda: None)()
    return {"first_flow_s": round(first - started, 2), "next_flow_s": round(time.perf_counter() - first, 2)}


def phase_ray(settings: dict, workdir: Path) -> dict:
    """Ray's local cluster start and a first task."""
    import ray

    from tasks.executor import RayExecutor

    started = time.perf_counter()
    RayExecutor(num_cpus=settings["cpus"], object_store_mb=128)
    ray.get(ray.remote(lambda: None).remote())
    return {"seconds": round(time.perf_counter() - started, 2)}


def phase_synth_item(settings: dict, workdir: Path) -> dict:
    """The trivial stage's one item through its step function (no Prefect, no Ray)."""
    from tasks.synth import SYNTH, synth_items

    started = time.perf_counter()
    for item in synth_items(synth_section()):
        folder = workdir / "synth-direct" / item.id
        folder.mkdir(parents=True, exist_ok=True)
        SYNTH.run(item, synth_section(), folder)
    return {"seconds": round(time.perf_counter() - started, 2)}


PHASES = {"actors": phase_actors, "direct": phase_direct, "flow": phase_flow, "imports": phase_imports,
          "prefect": phase_prefect, "ray": phase_ray, "synth_item": phase_synth_item}


# --- the driver ----------------------------------------------------------------------------------------


def synth_section() -> dict:
    """The trivial stage: one synthetic scene of 16×16 pixels, 8 frames."""
    return {"count": 1, "seed": 0, "height": 16, "width": 16, "frames": 8, "fps": 30, "crf": 16,
            "validation_every": 4}


def fresh_env(workdir: Path) -> dict:
    """Environment of a fresh process: this project importable, Prefect's state in ``workdir``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env["PREFECT_HOME"] = str(workdir / "prefect")
    return env


def in_fresh_process(phase: str, settings: dict, workdir: Path) -> dict:
    """Run ``phase`` in a new interpreter → its figures, plus ``wall_s`` from spawn to exit."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--phase", phase, "--settings", json.dumps(settings),
                           "--workdir", str(workdir)], cwd=workdir, env=fresh_env(workdir),
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"phase {phase} failed:\n{done.stderr[-3000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "wall_s": round(wall, 2)}


def pipeline_stage_wall(workdir: Path) -> float:
    """Seconds of ``cinemagraph pipeline synth`` (one 16×16 scene) in a fresh project folder."""
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["synth"] = synth_section()
    params["run"].update(store=str(workdir / "store-synth"))
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    started = time.perf_counter()
    command = Path(sys.executable).with_name("cinemagraph")  # the installed command, as dvc.yaml runs it
    done = subprocess.run([str(command), "pipeline", "synth"], cwd=workdir,
                          env=fresh_env(workdir), capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"cinemagraph pipeline synth failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def report(settings: dict) -> None:
    """Run every measurement (each in fresh processes) and print the figures."""
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as name:
        workdir = Path(name)
        print(f"twins step: profile {settings['profile']}, {settings['size']}², {settings['steps']} DDIM steps; "
              f"Ray cluster of {settings['cpus']} CPUs; batches of {settings['batch']}")
        for actors in (1, 2):
            figures = in_fresh_process("actors", {**settings, "actors": actors}, workdir)
            print(f"  {actors} actor(s): {figures['cold_items_per_minute']} items/min cold (pool start and "
                  f"model loads included), {figures['warm_items_per_minute']} items/min warm")
        direct = in_fresh_process("direct", settings, workdir)
        flowed = in_fresh_process("flow", settings, workdir)
        extra = 100 * (flowed["wall_s"] / direct["wall_s"] - 1)
        print(f"batch of {settings['batch']}, fresh process each, start-up included:")
        print(f"  step function in one process: {direct['wall_s']} s ({direct['items_s']} s in the items)")
        rest = flowed["wall_s"] - sum(flowed[name] for name in ("imports_s", "ray_start_s", "prefect_start_s",
                                                                 "flow_s"))
        print(f"  Prefect flow + Ray (run_stage): {flowed['wall_s']} s ({extra:+.0f} %): imports "
              f"{flowed['imports_s']} s, Ray start {flowed['ray_start_s']} s, Prefect server start "
              f"{flowed['prefect_start_s']} s, the stage's flow {flowed['flow_s']} s ({flowed['items_s']} s in "
              f"the items, model load included), interpreter start and shutdown {rest:.2f} s")
        stage = pipeline_stage_wall(workdir)
        item = in_fresh_process("synth_item", settings, workdir)
        pieces = {"interpreter": in_fresh_process("nothing", settings, workdir)["wall_s"],
                  "imports": in_fresh_process("imports", settings, workdir)["seconds"],
                  "prefect": in_fresh_process("prefect", settings, workdir),
                  "ray": in_fresh_process("ray", settings, workdir)["seconds"]}
        print(f"fixed cost of one `cinemagraph pipeline STAGE` (synth, one 16×16 scene): {stage:.2f} s for the "
              f"command, {item['seconds']} s of it the item → {stage - item['seconds']:.2f} s per stage")
        print(f"  pieces, one fresh process each: interpreter start {pieces['interpreter']} s, imports "
              f"{pieces['imports']} s, Prefect server start {pieces['prefect']['first_flow_s']} s (next flow "
              f"{pieces['prefect']['next_flow_s']} s), Ray start + first task {pieces['ray']} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="tiny", help="model profile of the twins step (default: tiny)")
    parser.add_argument("--size", type=int, default=64, help="image side, pixels (default: 64)")
    parser.add_argument("--steps", type=int, default=4, help="DDIM steps (default: 4)")
    parser.add_argument("--batch", type=int, default=16, help="items per batch (default: 16)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster (default: 2)")
    parser.add_argument("--phase", choices=[*PHASES, "nothing"], help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "nothing":
        print("{}")
    elif args.phase:
        print(json.dumps(PHASES[args.phase](json.loads(args.settings), Path(args.workdir))))
    else:
        report({"profile": args.profile, "size": args.size, "steps": args.steps, "batch": args.batch,
                "cpus": args.cpus})


if __name__ == "__main__":
    main()
