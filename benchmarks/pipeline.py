"""What the batch machinery costs, from one run: actor throughput, the generate DAG's Prefect flows against
calling its steps directly, and the fixed cost one ``cinemagraph pipeline STAGE`` process adds per stage.

    python benchmarks/pipeline.py              # the offline default profile of params.yaml, batches of 16
    python benchmarks/pipeline.py --repeats 5  # the DAG five times each way (its median is the figure)

1. Items per minute of the twins step (a model-holding step) on 1 and on 2 Ray actors, submitted from 16
   threads as Prefect's task runner does: "cold" counts from the pool's creation (each actor starts and
   loads its models), "warm" is a second batch on the same actors.
2. The stages of the generate DAG (rewrite → twins → mask → flow → video) on the offline default profile
   (params.yaml: procedural twins, its image size, 120 frames) for ``--batch`` prompts, each way in a fresh
   process, start-up included: the step functions called one item after another, and the stages' Prefect
   flows with their default settings (one Prefect server, Ray where a step needs it, a light step's items
   one per CPU in the stage's process); then the flows with one item at a time, for the machinery's cost
   alone. The three alternate ``--repeats`` times; the median ratio is the figure (one run varies by
   ±10 % on a shared machine). The mask step's
   segmenter is trained once beforehand (``train_segment`` of params.yaml), outside both timings.
3. The fixed cost one ``cinemagraph pipeline STAGE`` process adds (what ``dvc repro`` pays per stage): a
   Ray stage (``synth``, one scene of 16×16) and a light one (``rewrite``, one prompt), each with a Prefect
   server of its own and with the shared one ``python -m tasks.prefect_server dvc repro`` starts; the
   pieces measured one per fresh process (interpreter start, imports, Prefect server, Ray).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAG = ("rewrite", "twins", "mask", "flow", "video")
"""The text DAG's stages this benchmark times (their items come from their declarations in tasks.dag)."""
TARGET = 0.20
"""The most extra wall time the flows may take over the direct calls."""


# --- what runs inside the fresh processes (cwd: the work folder) -------------------------------------------


def dag_params() -> dict:
    """The work folder's params.yaml (:func:`write_project`)."""
    from flows.params import load_params

    return load_params("params.yaml")


def phase_direct(settings: dict) -> dict:
    """The generate DAG's steps called directly in this process, one item after another; an item that fails
    (as in the flows: a message in the manifest) is left out of the later steps."""
    started = time.perf_counter()
    from tasks.dag import declared, load
    from flows.pipeline import output_folder, stage_items
    from stages.errors import InputError

    params = dag_params()
    root, seconds, done = Path("direct"), {}, 0
    for name in DAG:
        stage = declared(name)
        step, section = load(stage.run), stage.step_params(params)
        begun = time.perf_counter()
        for item in stage_items(stage, params, root):
            if not all(Path(path).is_file() for path in item.inputs.values()):
                continue
            folder = output_folder(stage, root) / item.id
            folder.mkdir(parents=True, exist_ok=True)
            try:
                step.run(item, section, folder)
                done += name == DAG[-1]
            except InputError:
                pass
        seconds[name] = round(time.perf_counter() - begun, 2)
    return {"stages_s": seconds, "videos": done, "in_process_s": round(time.perf_counter() - started, 2)}


def phase_flows(settings: dict) -> dict:
    """The generate DAG's Prefect flows in this process, as ``cinemagraph pipeline`` runs a stage: the
    Prefect server starts first and comes up while the code is imported."""
    started = time.perf_counter()
    from tasks.prefect_env import without_heartbeats
    from tasks.prefect_server import prefect_api

    with prefect_api() as server:
        params = dag_params()
        from tasks.dag import declared, load
        from flows.pipeline import prepare, run_declared

        for stage in DAG:  # as `cinemagraph pipeline STAGE` prepares one
            prepare(declared(stage))
            load(declared(stage).run)
        imported = time.perf_counter()
        server.wait()
        ready = time.perf_counter()
        seconds = {}
        for stage in DAG:
            begun = time.perf_counter()
            with without_heartbeats():  # as `cinemagraph pipeline STAGE` runs them
                manifest = run_declared(declared(stage), params)
            seconds[stage] = round(time.perf_counter() - begun, 2)
    ray_started = "ray" in sys.modules and sys.modules["ray"].is_initialized()
    return {"imports_s": round(imported - started, 2), "server_wait_s": round(ready - imported, 2),
            "stages_s": seconds, "videos": int((manifest.status == "ok").sum()), "ray_started": ray_started,
            "in_process_s": round(time.perf_counter() - started, 2)}


def phase_actors(settings: dict) -> dict:
    """Items/minute of the twins step on ``settings["actors"]`` actors: a cold batch (pool start and model
    loads included), then a warm one on the same actors."""
    from concurrent.futures import ThreadPoolExecutor

    from tasks.batch import Item, item_key
    from tasks.ray_executor import RayExecutor
    from tasks.prefect_task import resolved_settings  # Prefect is imported here, in the driver only
    from tasks.twins import TWINS

    params = dag_params()
    section = {name: params[name] for name in ("models", "twins", "attention")}
    executor = RayExecutor(num_cpus=params["run"]["num_cpus"], object_store_mb=256, actors=settings["actors"])
    section = resolved_settings(section, executor.device_for(TWINS))
    store = f"store-actors{settings['actors']}"
    rewrites = sorted(Path("data/rewrite").glob("*/rewrite.json"))  # written by the flows phase

    def batch(first_seed: int) -> float:
        items = [Item(path.parent.name, {"rewrite": path}, {"seed": first_seed + number})
                 for number, path in enumerate(rewrites)]
        code = TWINS.code()
        keys = [item_key(TWINS, item, section, code) for item in items]  # in one thread, as run_stage does
        begun = time.perf_counter()
        with ThreadPoolExecutor(16) as threads:
            records = list(threads.map(lambda item, key: executor.run(TWINS, item, section, key, store),
                                       items, keys))
        assert all(record["status"] == "ok" for record in records), records
        return 60 * len(items) / (time.perf_counter() - begun)

    cold, warm = batch(0), batch(1000)
    executor.close()
    return {"cold_items_per_minute": round(cold, 1), "warm_items_per_minute": round(warm, 1)}


def phase_imports(settings: dict) -> dict:
    """What ``cinemagraph pipeline rewrite`` imports before running its stage: the command and the stage's flow."""
    started = time.perf_counter()
    import flows.cli  # noqa: F401
    from tasks.dag import declared, load
    from flows.pipeline import prepare

    prepare(declared("rewrite"))
    load(declared("rewrite").run)
    return {"seconds": round(time.perf_counter() - started, 2)}


def phase_prefect(settings: dict) -> dict:
    """A Prefect server of a stage's own: from its start to its first answer, then a first, empty flow."""
    from tasks.prefect_server import prefect_api

    started = time.perf_counter()
    with prefect_api() as server:
        server.wait()
        healthy = time.perf_counter()
        from prefect import flow

        flow(name="empty")(lambda: None)()
    return {"server_s": round(healthy - started, 2), "first_flow_s": round(time.perf_counter() - healthy, 2)}


def phase_ray(settings: dict) -> dict:
    """Ray's local cluster start and a first task."""
    import ray

    from tasks.ray_executor import RayExecutor

    started = time.perf_counter()
    RayExecutor(num_cpus=2, object_store_mb=128)
    ray.get(ray.remote(lambda: None).remote())
    return {"seconds": round(time.perf_counter() - started, 2)}


PHASES = {"direct": phase_direct, "flows": phase_flows, "actors": phase_actors, "imports": phase_imports,
          "prefect": phase_prefect, "ray": phase_ray}


# --- the driver ----------------------------------------------------------------------------------------


def fresh_env(workdir: Path, api_url: str | None = None) -> dict:
    """Environment of a fresh process: this project importable, Prefect's state in ``workdir``, the Prefect
    server at ``api_url`` (None: the process starts its own)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "RAY_ADDRESS"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PREFECT_HOME"] = str(workdir / "prefect")
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def timed(command: list[str], cwd: Path, env: dict) -> tuple[float, str]:
    """Run ``command`` → (seconds from spawn to exit, its stdout); a failure ends the benchmark."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, done.stdout


def in_fresh_process(phase: str, settings: dict, cwd: Path, workdir: Path, env: dict | None = None) -> dict:
    """Run ``phase`` in a new interpreter in ``cwd`` (``env``: variables to add) → its figures, plus ``wall_s``
    from spawn to exit."""
    wall, out = timed([sys.executable, __file__, "--phase", phase, "--settings", json.dumps(settings)], cwd,
                      {**fresh_env(workdir), **(env or {})})
    return {**json.loads(out.strip().splitlines()[-1]), "wall_s": round(wall, 2)}


def write_project(folder: Path, workdir: Path, batch: int, updates: dict) -> None:
    """``folder/params.yaml``: the project's params with the first ``batch`` prompts of data/prompts.csv, the
    segmenter trained in ``workdir``, the repository's G_flow (else one trained once into the user model cache),
    a store of its own and the sections in ``updates`` changed."""
    import yaml

    from tasks.offline_models import flow_model_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    lines = [line for line in (ROOT / "data/prompts.csv").read_text().splitlines() if not line.startswith("#")]
    (folder / "prompts.csv").write_text("\n".join(lines[:batch + 1]) + "\n")
    params["rewrite"]["prompts"] = "prompts.csv"
    params["mask"]["checkpoint"] = "segmenter"
    params["flow"]["flow_model"] = flow_model_checkpoint(params["flow"]["flow_model"], params["synth_train"],
                                                         params["train_flow"], ROOT)
    params["run"]["store"] = "store"
    for section, values in updates.items():
        params[section].update(values)
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    if (workdir / "segmenter").is_dir() and not (folder / "segmenter").exists():
        (folder / "segmenter").symlink_to(workdir / "segmenter")


def prepare(workdir: Path) -> None:
    """Untimed: the segmenter (params.yaml ``train_segment``) and a Prefect database in ``workdir``, as a
    project has them after its first run."""
    env = fresh_env(workdir)
    code = ("import sys; from tasks.masks import train_segment; from flows.params import load_params; "
            "train_segment(load_params(sys.argv[1])['train_segment'], 'segmenter', 'segmenter.json')")
    timed([sys.executable, "-c", code, str(ROOT / "params.yaml")], workdir, env)
    timed([sys.executable, __file__, "--phase", "prefect", "--settings", "{}"], workdir, env)


def stage_cost(workdir: Path, stage: str, updates: dict, api_url: str | None) -> float:
    """Seconds ``cinemagraph pipeline STAGE`` adds to its items' own: the command's wall time, in a project
    folder of its own, less the seconds its run log gives the items."""
    folder = workdir / f"stage-{stage}-{'shared' if api_url else 'own'}"
    write_project(folder, workdir, 1, updates)
    wall, _ = timed(["cinemagraph", "pipeline", stage], folder, fresh_env(workdir, api_url))
    log = [json.loads(line) for line in (folder / "runs" / f"{stage}.jsonl").read_text().splitlines()]
    return wall - sum(fact["seconds"] or 0 for fact in log)


def report(settings: dict) -> None:
    """Run every measurement (each in fresh processes) and print the figures."""
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as name:
        workdir = Path(name)
        prepare(workdir)
        batch, repeats = settings["batch"], settings["repeats"]
        print(f"generate DAG ({' → '.join(DAG)}), offline default profile of params.yaml, {batch} prompts, "
              "a fresh process each way, start-up included:")
        extras = []
        for repeat in range(repeats):  # each way in a fresh project folder: nothing is found in a store
            for way in ("direct", "flows", "flows-one-at-a-time"):
                write_project(workdir / f"{way}-{repeat}", workdir, batch, {})
            direct = in_fresh_process("direct", settings, workdir / f"direct-{repeat}", workdir)
            flows = in_fresh_process("flows", settings, workdir / f"flows-{repeat}", workdir)
            alone = in_fresh_process("flows", settings, workdir / f"flows-one-at-a-time-{repeat}", workdir,
                                     {"CINEMAGRAPH_THREADS": "1"})
            extras.append((flows["wall_s"] / direct["wall_s"] - 1, alone["wall_s"] / direct["wall_s"] - 1))
            print(f" run {repeat + 1} of {repeats}:")
            print(f"  steps called directly: {direct['wall_s']} s (per step: {direct['stages_s']}; "
                  f"{direct['videos']} videos)")
            print(f"  Prefect flows: {flows['wall_s']} s: imports {flows['imports_s']} s, then waiting for the "
                  f"Prefect server {flows['server_wait_s']} s, the flows {flows['stages_s']} "
                  f"({flows['videos']} videos; Ray {'started' if flows['ray_started'] else 'not started'}): "
                  f"{100 * extras[-1][0]:+.0f} %")
            print(f"  the machinery alone: the flows with one item at a time (CINEMAGRAPH_THREADS=1; a light step's "
                  f"items otherwise run one per CPU): {alone['wall_s']} s (the flows {alone['stages_s']}): "
                  f"{100 * extras[-1][1]:+.0f} %")
        median = statistics.median(flows for flows, _ in extras)
        print(f"  flows / direct, median of {repeats}: {100 * median:+.0f} % wall time (each: "
              f"{', '.join(f'{100 * flows:+.0f} %' for flows, _ in extras)}): target ≤ +{100 * TARGET:.0f} % "
              f"{'met' if median <= TARGET else 'NOT met'}; one item at a time, median "
              f"{100 * statistics.median(alone for _, alone in extras):+.0f} %")

        print("twins step on Ray actors (offline profile; 16 threads submit, as Prefect's task runner does):")
        for actors in (1, 2):
            figures = in_fresh_process("actors", {"actors": actors}, workdir / "flows-0", workdir)
            print(f"  {actors} actor(s): {figures['cold_items_per_minute']} items/min cold (pool start and "
                  f"model loads included), {figures['warm_items_per_minute']} items/min warm")

        print("fixed cost per `cinemagraph pipeline STAGE` process (what `dvc repro` adds per stage), "
              "command wall time less its items' seconds:")
        stages = {"synth (Ray)": ("synth", {"synth": {"count": 1, "height": 16, "width": 16, "frames": 8}}),
                  "rewrite (light, no Ray)": ("rewrite", {})}
        own = {label: stage_cost(workdir, stage, updates, None) for label, (stage, updates) in stages.items()}
        os.environ["PREFECT_HOME"] = str(workdir / "prefect")
        from tasks.prefect_server import prefect_api  # starts the server as python -m tasks.prefect_server does

        started = time.perf_counter()
        with prefect_api() as server:
            server.wait()
            up = time.perf_counter() - started
            shared = {label: stage_cost(workdir, stage, updates, server.api_url)
                      for label, (stage, updates) in stages.items()}
        for label in stages:
            print(f"  {label}: {own[label]:.2f} s with a Prefect server of its own, {shared[label]:.2f} s with "
                  f"the shared one ({own[label] - shared[label]:+.2f} s per stage)")
        print(f"  the shared server (python -m tasks.prefect_server dvc repro) came up in {up:.2f} s, once")
        pieces = {"interpreter": in_fresh_process("nothing", {}, workdir, workdir)["wall_s"],
                  "imports": in_fresh_process("imports", {}, workdir, workdir)["seconds"],
                  "prefect": in_fresh_process("prefect", {}, workdir, workdir),
                  "ray": in_fresh_process("ray", {}, workdir, workdir)["seconds"]}
        print(f"  pieces, one fresh process each: interpreter start {pieces['interpreter']} s, imports "
              f"{pieces['imports']} s, a Prefect server of its own {pieces['prefect']['server_s']} s (first flow "
              f"{pieces['prefect']['first_flow_s']} s), Ray start + first task {pieces['ray']} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16, help="prompts per batch (default: 16)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of the DAG each way, alternating, for the median (default: 3)")
    parser.add_argument("--phase", choices=[*PHASES, "nothing"], help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "nothing":
        print("{}")
    elif args.phase:
        print(json.dumps(PHASES[args.phase](json.loads(args.settings))))
    else:
        report({"batch": args.batch, "repeats": args.repeats})


if __name__ == "__main__":
    main()
