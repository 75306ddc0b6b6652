"""The artistic-domain comparison on a hand-made prompt whose truth is known: each method's components, its
scores against that truth, the gallery, the skipped baselines, and no truth reaching a method."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flows.params import default_params
from stages.errors import InputError
from stages.images import load_rgb, save_png
from stages.learned.inference import FlowPredictor
from stages.video import read_video
from tasks.compare_art import compare_art
from tasks.truth import method_scores
from tests.conftest import smooth_texture
from tests.learned_helpers import flow_checkpoint
from tests.tasks.test_truth import perturb_truth

PROMPT = "a waterfall over a lake, oil painting"
HEIGHT, WIDTH = 32, 48
WATERFALL = np.zeros((HEIGHT, WIDTH), bool)
WATERFALL[2:20, 8:20] = True      # determined: a waterfall falls
LAKE = np.zeros((HEIGHT, WIDTH), bool)
LAKE[22:30, 4:44] = True          # sign-free: a lake drifts either way
SEGMENTATION = np.zeros((HEIGHT, WIDTH), bool)
SEGMENTATION[0:24, 6:30] = True   # what the segmentation alone says moves


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One prompt ``p``: its twins with truth (the waterfall falls at 1 px/frame, the lake drifts at 0.5), its
    mask folder, ours (flow.flow_model) and two ablated G_flows."""
    root = tmp_path_factory.mktemp("compare_art")
    twins, masks = root / "twins" / "p", root / "mask" / "p"
    twins.mkdir(parents=True)
    masks.mkdir(parents=True)
    save_png(twins / "artistic.png", smooth_texture(HEIGHT, WIDTH, seed=1))
    save_png(twins / "realistic.png", smooth_texture(HEIGHT, WIDTH, seed=2))
    truth = np.zeros((2, HEIGHT, WIDTH), np.float32)
    truth[1][WATERFALL] = 1.0
    truth[0][LAKE] = -0.5
    np.save(twins / "truth_flow.npy", truth)
    for name, pixels in (("truth_mask", WATERFALL | LAKE), ("truth_waterfall", WATERFALL), ("truth_lake", LAKE)):
        save_png(twins / f"{name}.png", pixels)
    (twins / "meta.json").write_text(json.dumps({
        "prompt": PROMPT, "region": "waterfall", "direction": None, "seed": 0,
        "truth": {"flow": "truth_flow.npy", "mask": "truth_mask.png",
                  "classes": {"waterfall": "truth_waterfall.png", "lake": "truth_lake.png"}},
        "procedural": {"kinds": ["waterfall", "lake"], "direction_angle": None}}))
    save_png(masks / "mask_regions.png", (WATERFALL * 1 + LAKE * 2).astype(np.uint8))
    save_png(masks / "segmentation_mask.png", SEGMENTATION)
    (masks / "mask.json").write_text(json.dumps({"regions": [{"id": 1, "class": "waterfall"},
                                                             {"id": 2, "class": "lake"}]}))
    flow_checkpoint(root / "g_flow", seed=0)
    for seed, name in enumerate(("wo_text", "wo_mask"), start=1):
        flow_checkpoint(root / "ablations" / name, seed=seed)
    return root


def params_for(world, methods) -> dict:
    params = default_params()
    params["flow"].update(flow_model=str(world / "g_flow"), max_flow=64.0,  # no clamp: the pictures show
                          mirror=False)  # one G_flow call per method, as the test predicts by hand
    params["compare_art"].update(methods=list(methods), prompts=["p"], frames=4)
    return params


def by_hand(flow: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(EPE on the waterfall, sign-free EPE on the lake) of ``flow`` against ``truth``."""
    epe = lambda f, pixels: float(np.hypot(*(f - truth)[:, pixels]).mean())  # noqa: E731
    return epe(flow, WATERFALL), min(epe(flow, LAKE), epe(-flow, LAKE))


def test_the_true_flow_scores_zero_and_others_their_error(world):
    truth = np.load(world / "twins" / "p" / "truth_flow.npy")
    shifted = truth + np.array([0.3, 0.4], np.float32)[:, None, None]
    scores = method_scores(world / "twins" / "p", {"truth": truth, "reversed": -truth, "shifted": shifted})
    assert scores["truth"] == {"flow_epe": 0.0, "flow_epe_signfree": 0.0}
    assert scores["reversed"] == {"flow_epe": 2.0, "flow_epe_signfree": 0.0}  # the lake's sign is free
    assert scores["shifted"] == {"flow_epe": pytest.approx(0.5), "flow_epe_signfree": pytest.approx(0.5)}


def test_each_method_reads_its_own_picture_mask_and_g_flow(world, tmp_path):
    methods = ["ours", "wo_text", "wo_twin", "segmentation_mask", "svd"]
    metrics = compare_art(params_for(world, methods), world / "twins", world / "mask", world / "ablations",
                          tmp_path / "out")
    twins = world / "twins" / "p"
    truth = np.load(twins / "truth_flow.npy")
    pictures = {"artistic": load_rgb(twins / "artistic.png"), "realistic": load_rgb(twins / "realistic.png")}
    final = WATERFALL | LAKE
    expected = {"ours": (world / "g_flow", "realistic", final),
                "wo_text": (world / "ablations" / "wo_text", "realistic", final),
                "wo_twin": (world / "g_flow", "artistic", final),
                "segmentation_mask": (world / "g_flow", "realistic", SEGMENTATION)}
    errors = {}
    for name, (folder, picture, mask) in expected.items():
        flow = FlowPredictor(folder).predict(pictures[picture], mask, caption=PROMPT, max_flow=64.0)
        errors[name] = by_hand(flow, truth)
        scored = metrics["methods"][name]
        assert (scored["epe"], scored["epe_signfree"]) == pytest.approx(errors[name], abs=1e-4), name
        frames = read_video(tmp_path / "out" / name / "p.mp4")
        meta = json.loads((tmp_path / "out" / name / "p_meta.json").read_text())
        assert len(frames) == 4 and meta["prompt"] == PROMPT
    assert len({errors[name] for name in expected}) == 4  # four different flows
    first = read_video(tmp_path / "out" / "ours" / "p.mp4")[0].astype(int)  # the loop moves the artistic image
    assert np.abs(first - pictures["artistic"]).mean() < np.abs(first - pictures["realistic"]).mean() / 2
    assert set(metrics["skipped"]) == {"svd"} and "procedural" in metrics["skipped"]["svd"]
    assert not (tmp_path / "out" / "svd").exists() and "svd" not in metrics["methods"]

    page = (tmp_path / "out" / "index.html").read_text()
    assert page.count("<tr>") == 2 and PROMPT in page and "svd: diffusion baselines skipped" in page
    assert all(f'<video src="{name}/p.mp4" autoplay loop muted playsinline>' in page for name in expected)


def test_no_truth_reaches_a_method(world, tmp_path):
    methods = ["ours", "wo_twin", "segmentation_mask"]
    perturb_truth(world / "twins" / "p", tmp_path / "perturbed" / "p")
    outputs = {}
    for name, twins in (("honest", world / "twins"), ("perturbed", tmp_path / "perturbed")):
        out = tmp_path / f"out_{name}"
        compare_art(params_for(world, methods), twins, world / "mask", world / "ablations", out)
        outputs[name] = {path.relative_to(out): path.read_bytes()
                         for path in out.glob("*/p*") if path.suffix in (".mp4", ".png")}
    assert len(outputs["honest"]) == 6 and outputs["honest"] == outputs["perturbed"]


def test_a_missing_ablated_g_flow_is_named_with_the_stage_that_trains_it(world, tmp_path):
    with pytest.raises(InputError, match="no G_flow wo_text_mask .*train_ablations"):
        compare_art(params_for(world, ["ours", "wo_text_mask"]), world / "twins", world / "mask",
                    world / "ablations", tmp_path / "out")
