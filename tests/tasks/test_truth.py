"""The scores of the text DAG against the procedural world's exact truth, computed by hand."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from flows.params import default_params
from stages.images import load_mask, save_png
from tasks.bulk.manifest import ItemSpec
from tasks.bulk.steps import run_item, step_item
from tasks.store import Store
from tasks.truth import flow_errors, mean_of


def test_flow_errors_split_determined_and_sign_free_regions_by_hand():
    truth = np.zeros((2, 1, 6), np.float32)
    truth[0, 0, :2] = 1.0                  # a waterfall-like region moving right: determined
    truth[1, 0, 2:4] = 1.0                 # a region of random sign moving up
    truth[0, 0, 4:] = -2.0                 # another one moving left at 2 px/frame
    flow = np.zeros_like(truth)
    flow[:, 0, 0] = (1.0, 1.0)             # error 1
    flow[:, 0, 1] = (4.0, 4.0)             # error 5 (3-4-5)
    flow[1, 0, 2:4] = -1.0                 # exactly the opposite: sign-free error 0, signed 2
    flow[0, 0, 4:] = 1.0                   # F: error 3, −F: error 1 → 1
    regions = [(np.arange(6)[None] < 2, True), ((np.arange(6)[None] >= 2) & (np.arange(6)[None] < 4), False),
               (np.arange(6)[None] >= 4, False)]
    errors = flow_errors(flow, truth, regions)
    assert errors == {"flow_epe": pytest.approx(3.0), "flow_epe_signfree": pytest.approx(0.5)}  # (1+5)/2, (0+0+1+1)/4


def test_a_prompt_without_such_regions_has_no_figure_and_means_skip_it():
    truth = np.ones((2, 2, 2), np.float32)
    assert flow_errors(truth, truth, [(np.ones((2, 2), bool), True)]) == {"flow_epe": 0.0, "flow_epe_signfree": None}
    assert mean_of([None, 1.0, 2.0]) == 1.5 and mean_of([None]) is None


def perturb_truth(twins: Path, copy: Path) -> None:
    """``twins`` copied to ``copy`` with every truth file and the ``procedural`` record changed."""
    shutil.copytree(twins, copy)
    meta = json.loads((copy / "meta.json").read_text())
    for path in [meta["truth"]["mask"], *meta["truth"]["classes"].values()]:
        save_png(copy / path, ~load_mask(copy / path))
    np.save(copy / meta["truth"]["flow"], -3 * np.load(copy / meta["truth"]["flow"]) + 0.5)
    meta["procedural"] = {key: "perturbed" for key in meta["procedural"]}
    (copy / "meta.json").write_text(json.dumps(meta))


def method_outputs(spec, params: dict, upstream: dict, out: Path) -> dict[str, bytes]:
    """The bytes of every file the mask, flow and video steps write from ``upstream``'s rewrite and twins."""
    upstream = dict(upstream)
    for stage in ("mask", "flow", "video"):
        step, item, section = step_item(stage, spec, params, upstream)
        (out / stage).mkdir(parents=True)
        step.run(item, section, out / stage)
        upstream[stage] = out / stage
    return {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}


def test_no_truth_reaches_a_method_step(tmp_path, quick_segmenter):
    from tests.learned_helpers import flow_checkpoint

    params = default_params()
    flow_checkpoint(tmp_path / "g_flow", seed=2)
    params["twins"].update(height=64, width=64)
    params["mask"].update(checkpoint=str(quick_segmenter))
    params["flow"].update(flow_model=str(tmp_path / "g_flow"))
    params["video"].update(frames=4, formats=["npz"])
    spec = ItemSpec("p", "a river flowing to the left under clouds, oil painting", seed=3)
    outcome = run_item(spec, params, str(tmp_path / "store"))
    assert outcome["status"] == "ok", outcome
    store = Store(tmp_path / "store")
    upstream = {stage: store.path(outcome["keys"][stage]) for stage in ("rewrite", "twins")}
    assert json.loads((upstream["twins"] / "meta.json").read_text())["procedural"]  # there is truth to perturb
    perturb_truth(upstream["twins"], tmp_path / "perturbed")
    honest = method_outputs(spec, params, upstream, tmp_path / "honest")
    perturbed = method_outputs(spec, params, {**upstream, "twins": tmp_path / "perturbed"}, tmp_path / "other")
    assert honest.keys() == perturbed.keys() and "video/cinemagraph.npz" in honest
    assert [name for name in honest if honest[name] != perturbed[name]] == []
