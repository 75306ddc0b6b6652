"""G_flow against the exact truth for several training seeds, every motion source beside it.

``make repro`` trains G_flow with ``train_flow.seed`` (0) and scores it in ``data/metrics/generate.json``. This
script trains the same G_flow with other seeds on the same scenes (``data/synth_train``; each run resumable in
``.cache/train``, its checkpoint in ``.cache/flow_seeds/seed<N>``) and scores each exactly as the ``score`` stage
does, on the prompt list's twins and masks (``data/twins``, ``data/mask``): flow_epe on the parts the prompt
determines, flow_epe_signfree elsewhere, pixels per frame before the artistic ×0.5.

    python benchmarks/flow_seeds.py [--seeds 0 1 2]      # after make repro; about 4 minutes per new seed on 2 cores
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from flows.params import load_params
from stages.motion.sources import SOURCE_NAMES, flow_options
from tasks.prompt_list import prompt_items
from tasks.train import train_flow_network
from tasks.truth import direction_within_range, source_flow, text_path_metrics

OUT = Path(".cache/flow_seeds")


def checkpoint(params: dict, seed: int) -> str:
    """G_flow trained with ``seed`` (make repro's own for the params' seed)."""
    if seed == params["train_flow"]["seed"]:
        return params["flow"]["flow_model"]
    folder = OUT / f"seed{seed}"
    train_flow_network({**params, "train_flow": {**params["train_flow"], "seed": seed}}, folder,
                       folder / "metrics.json", (folder / "losses.csv", folder / "validation.csv"))
    return str(folder)


def scores(params: dict, flow_model: str) -> dict:
    """The score stage's metrics with ``flow_model`` as G_flow, ``direction_within_range`` of its own flow."""
    ids = [item.id for item in prompt_items(params)]
    folders = {stage: Path("data", stage) for stage in ("twins", "mask", "flow")}
    options = flow_options({**params["flow"], "flow_model": flow_model})
    metrics, _ = text_path_metrics(ids, folders, pd.read_parquet("data/video/manifest.parquet"), options)
    inside = [direction_within_range(meta, folders["mask"] / item_id,
                                     source_flow(folders["twins"] / item_id, folders["mask"] / item_id, options, "g_flow"))
              for item_id in ids if (meta := json.loads((folders["twins"] / item_id / "meta.json").read_text()))
              .get("direction")]
    return {**metrics, "direction_within_range": f"{sum(inside)}/{len(inside)}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    params = load_params()
    rows = []
    for seed in args.seeds:
        metrics = scores(params, checkpoint(params, seed))
        epe, free = metrics["flow_epe"], metrics["flow_epe_signfree"]
        rows.append({"seed": seed, **{f"epe_{name}": epe[name] for name in SOURCE_NAMES},
                     "g_flow/zero": round(epe["g_flow"] / epe["zero"], 3),
                     "g_flow/direction": round(epe["g_flow"] / epe["direction"], 3),
                     **{f"signfree_{name}": free[name] for name in SOURCE_NAMES},
                     "determined_prompts": metrics["prompts_determined"],
                     "g_flow_directions_in_range": metrics["direction_within_range"]})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    passed = bool(((table["g_flow/zero"] <= 0.5) & (table["g_flow/direction"] <= 1.25)).all())
    print(json.dumps({"acceptance (g_flow ≤ 0.5× zero and ≤ 1.25× direction, every seed)": passed}))


if __name__ == "__main__":
    main()
