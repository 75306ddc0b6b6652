"""The ``study`` stage's batch from compare_art's folders: its layout, and a study run in headless Chromium whose
workers answer by a known rule, recovered by ``mturk analyze``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from flows.params import default_params
from flows.study import study_flow
from stages.video import write_video
from tasks.study import analyze_batch
from tests.browser import FPS, FRAMES, NEEDS_CHROMIUM, browser, wait_for  # noqa: F401
from tests.flows.cli.test_mturk_cli import check_nothing_names

METHODS = ("ours", "wo_twin", "animatediff")
IDS = [f"item{index}" for index in range(8)]
# Honest workers prefer ours over wo_twin in 7 or 5 of their 8 pairs (alternating: 75 % pooled) and over
# animatediff in 3 or 1 (25 %), on every question; the last worker prefers ours always but fails the catch trials.
HONEST = {"wo_twin": (7, 5), "animatediff": (3, 1)}
WORKERS = ["W0", "W1", "W2", "W3", "W4"]
FAILING = "W4"


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """compare_art's layout (``<method>/<id>.mp4``, the prompt beside ours) → the study stage's batch folder."""
    root = tmp_path_factory.mktemp("study_stage")
    rng = np.random.default_rng(0)
    for item_id in IDS:
        texture = rng.integers(0, 256, (36, 48, 3), dtype=np.uint8)
        for shift, method in enumerate(METHODS, start=1):
            write_video(root / "compare_art" / method / f"{item_id}.mp4",
                        np.stack([np.roll(texture, shift * t, axis=1) for t in range(FRAMES)]), fps=FPS)
        (root / "compare_art" / "ours" / f"{item_id}_meta.json").write_text(
            json.dumps({"prompt": f"a waterfall in a painting, number {item_id[-1]}"}))
    (root / "compare_art" / "svd").mkdir()  # a method without videos (skipped) is left out
    params = default_params()
    params["study"].update(seed=3)
    study_flow.fn(params, str(root / "compare_art"), str(root / "study"))
    return root / "study"


def test_every_hit_has_a_catch_trial_sides_are_balanced_and_nothing_names_a_method(batch):
    assert {path.name for path in batch.iterdir()} == {"input.csv", "template.html", "settings.json",
                                                      "manifest.parquet", "study.html", "videos"}
    manifest = pd.read_parquet(batch / "manifest.parquet")
    assert manifest.groupby("hit_id").is_catch.sum().ge(1).all()
    real = manifest[~manifest.is_catch]
    assert sorted(real.comparison.unique()) == ["animatediff", "wo_twin"] and len(real) == 16
    for _, trials in real.groupby("comparison"):
        sides = trials.ours_side.value_counts()
        assert abs(sides.get("left", 0) - sides.get("right", 0)) <= 1
    catch_sides = manifest[manifest.is_catch].correct_side.value_counts()
    assert abs(catch_sides.get("left", 0) - catch_sides.get("right", 0)) <= 1
    check_nothing_names(batch, (*METHODS, "svd", *IDS))
    create_hit = json.loads((batch / "settings.json").read_text())["create_hit"]
    assert create_hit["MaxAssignments"] == 5
    assert {(q["QualificationTypeId"], q["IntegerValues"][0]) for q in create_hit["QualificationRequirements"]} == {
        ("00000000000000000040", 10000), ("000000000000000000L0", 95)}


def choices(worker: str, manifest: pd.DataFrame) -> dict[str, str]:
    """Worker ``worker``'s side per trial id (the same on every question), by the module's rule, seeded."""
    index = WORKERS.index(worker)
    picked = {}
    for trial in manifest[manifest.is_catch].itertuples():
        wrong = "left" if trial.correct_side == "right" else "right"
        picked[trial.trial_id] = wrong if worker == FAILING else trial.correct_side
    for comparison, trials in manifest[~manifest.is_catch].groupby("comparison"):
        prefers = len(trials) if worker == FAILING else HONEST[comparison][index % 2]
        ours = set(np.random.default_rng(index).permutation(sorted(trials.trial_id))[:prefers])
        for trial in trials.itertuples():
            other = "left" if trial.ours_side == "right" else "right"
            picked[trial.trial_id] = trial.ours_side if trial.trial_id in ours else other
    return picked


ANSWER_PAGE = """
const picked = arguments[0];
let answered = 0;
document.querySelectorAll('#hit section.trial').forEach(section => {
  const side = picked[section.getAttribute('data-trial')];
  section.querySelectorAll('fieldset').forEach(fieldset => {
    if (fieldset.hidden) { return; }
    fieldset.querySelector(`input[value="${side}"]`).click();
    answered += 1;
  });
});
return answered;
"""


@NEEDS_CHROMIUM
def test_a_study_run_answered_by_rule_is_recovered_by_mturk_analyze(batch, browser, tmp_path):
    manifest = pd.read_parquet(batch / "manifest.parquet")
    pages = manifest.hit_id.nunique()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    for worker in WORKERS:
        browser.get((batch / "study.html").as_uri())  # answers so far stay in the page's local storage
        browser.find_element("id", "worker").send_keys(worker)
        browser.find_element("id", "begin").click()
        picked = choices(worker, manifest)
        for _ in range(pages):
            # every trial asks the three questions of the artistic domain: motion, looks and the text
            assert browser.execute_script(ANSWER_PAGE, picked) == 3 * len(manifest) // pages
            browser.find_element("id", "submitButton").click()
        assert wait_for(lambda: browser.find_element("id", "done").is_displayed())
    browser.find_element("id", "download").click()
    saved = wait_for(lambda: next(tmp_path.glob("*.csv"), None))

    analysis = analyze_batch(saved, batch / "manifest.parquet", tmp_path / "analysis", resamples=1000, seed=0)
    assert analysis.workers == len(WORKERS) and analysis.workers_failing_catch == [FAILING]
    table = analysis.table.set_index(["comparison", "criterion"])
    assert len(table) == 6
    for (comparison, criterion), row in table.iterrows():
        rate = 100 * sum(HONEST[comparison]) / 16
        assert row.percent_ours == pytest.approx(rate) and row.workers == 4 and row.judgments == 32
        assert 0 < row.standard_error and abs(row.bootstrap_mean - rate) <= row.standard_error
    assert (tmp_path / "analysis" / "preferences.csv").is_file()
