"""The paper's orderings of G_flow and its ablations on the procedural world, for several training seeds.

``make repro`` trains the compared G_flows (``train_ablations``: ours, wo_text, wo_mask, wo_text_mask, equally
cut) with ``train_flow.seed`` (0) and scores them in ``data/metrics/compare.json`` (the real domain: held-out
clips) and ``data/metrics/compare_art.json`` (the artistic domain: the ``compare_art`` prompts). This script
trains the same four with other seeds, or other iterations (into ``.cache/compare_seeds/seed<N>-it<I>/models``;
training resumable in ``.cache/train``) and runs both comparisons on them exactly as the stages do (into
``.cache/compare_seeds/seed<N>-it<I>``), then prints per seed the flow errors (pixels per frame) — each G_flow's
held-out error with the true mask (``train_ablations.json``), the real and the artistic domain's — and whether
each of the paper's orderings holds:

- artistic domain: ``wo_twin`` (G_flow on the artistic image) has a larger flow error than ``ours`` on the parts
  the prompt determines;
- real domain: ``wo_mask`` and ``wo_text_mask`` have the largest flow errors; ``wo_text`` is close to ``ours``
  (within 10 %).

    python benchmarks/compare_seeds.py [--seeds 0 1 2] [--iterations N]   # after make repro; minutes per seed
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stages.cpu_paths import pin_cpu_paths  # noqa: E402

pin_cpu_paths()  # the kernels and threads of `cinemagraph pipeline`, before torch loads

OUT = Path(".cache/compare_seeds")


def trained_like(params: dict, seed: int, iterations: int) -> dict:
    """``params`` with G_flow's training seed set to ``seed`` (the ablations share train_flow's) and the compared
    G_flows' iterations to ``iterations``."""
    return {**params, "train_flow": {**params["train_flow"], "seed": seed},
            "train_ablations": {**params.get("train_ablations", {}), "iterations": iterations}}


def comparisons(params: dict, seed: int, iterations: int) -> tuple[dict, dict, dict]:
    """(train_ablations.json, compare.json, compare_art.json) of the G_flows trained with ``seed`` for
    ``iterations`` (make repro's own for its seed and iterations)."""
    from flows.compare import compare_flow
    from tasks.compare_art import compare_art
    from tasks.train import train_flow_ablations

    if seed == params["train_flow"]["seed"] and iterations == params["train_ablations"]["iterations"]:
        return tuple(json.loads(Path(f"data/metrics/{name}.json").read_text())
                     for name in ("train_ablations", "compare", "compare_art"))
    folder = OUT / f"seed{seed}-it{iterations}"
    models = folder / "models"
    train_flow_ablations(trained_like(params, seed, iterations), models, folder / "train_ablations.json")
    compare_flow(params, "data/synth_train", str(models), str(folder / "compare"), str(folder / "compare.json"),
                 str(folder / "compare.csv"))
    art = compare_art(params, Path("data/twins"), Path("data/mask"), models, folder / "compare_art")
    return (json.loads((folder / "train_ablations.json").read_text()),
            json.loads((folder / "compare.json").read_text()), art)


def orderings(held_out: dict, real: dict, art: dict) -> dict:
    """Per seed: the flow errors and whether each ordering of the paper holds."""
    epe = {name: values["epe"] for name, values in real["methods"].items()}
    art_epe = {name: values["epe"] for name, values in art["methods"].items()}
    worst_two = sorted(epe, key=epe.get)[-2:]
    return {**{f"held_out_epe_{name}": held_out[name]["epe"] for name in epe},
            "held_out_epe_zero": held_out["ours"]["epe_zero"],
            **{f"real_epe_{name}": value for name, value in epe.items()}, "real_epe_zero": real["epe_zero"],
            **{f"art_epe_{name}": value for name, value in art_epe.items()},
            "wo_twin > ours (art)": art_epe["wo_twin"] > art_epe["ours"],
            "wo_mask, wo_text_mask worst (real)": set(worst_two) == {"wo_mask", "wo_text_mask"},
            "wo_text within 10 % of ours (real)": abs(epe["wo_text"] - epe["ours"]) <= 0.1 * epe["ours"]}


def main() -> None:
    from flows.params import load_params

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=None,
                        help="the compared G_flows' training iterations (default: train_ablations.iterations)")
    args = parser.parse_args()
    params = load_params()
    params["run"] = {**params["run"], "executor": "local"}
    iterations = args.iterations or params["train_ablations"]["iterations"]
    rows = [{"seed": seed, **orderings(*comparisons(params, seed, iterations))} for seed in args.seeds]
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(pd.DataFrame(rows).set_index("seed").T.to_string())


if __name__ == "__main__":
    main()
