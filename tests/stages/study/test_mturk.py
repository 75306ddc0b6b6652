"""Study planning (balance, catch trials, opaque names) and the analysis of synthetic results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stages.errors import InputError
from stages.study.mturk import (CATCH, OURS, StudySettings, analyze, answer_field, corrupt_video,
                          judgments_from_results, manifest_frame, plan_study)

SETTINGS = StudySettings(pairs_per_hit=4, catch_per_hit=1, seed=7)


def items(count: int, prefix: str = "clip") -> dict[str, str]:
    return {f"{prefix}{index:03d}": "" for index in range(count)}


def test_plan_balances_sides_and_adds_catch_trials_to_every_hit():
    hits = plan_study(items(21), {"alpha": items(21), "beta": items(19)}, SETTINGS)
    manifest = manifest_frame(hits, SETTINGS)
    real = manifest[~manifest.is_catch]
    assert len(real) == 40
    for name, count in (("alpha", 21), ("beta", 19)):
        sides = real[real.comparison == name].ours_side.value_counts()
        assert sides.sum() == count and abs(sides.get("left", 0) - sides.get("right", 0)) == 1
    per_hit = manifest.groupby("hit_id")
    assert per_hit.size().eq(5).all()
    assert per_hit.is_catch.sum().ge(1).all()
    assert manifest.slot.between(1, 5).all()
    catch = manifest[manifest.is_catch]
    assert set(catch.left_method).union(catch.right_method) >= {CATCH}
    assert set(catch.correct_side) == {"left", "right"}
    tokens = pd.concat([manifest.trial_id, manifest.left_token, manifest.right_token,
                        manifest.hit_id.drop_duplicates()])
    assert tokens.is_unique and tokens.str.fullmatch(r"[0-9a-f]{16}").all()


def test_plan_is_reproducible_from_its_seed():
    first = manifest_frame(plan_study(items(9), {"b": items(9)}, SETTINGS), SETTINGS)
    again = manifest_frame(plan_study(items(9), {"b": items(9)}, SETTINGS), SETTINGS)
    other = StudySettings(seed=8)
    different = manifest_frame(plan_study(items(9), {"b": items(9)}, other), other)
    pd.testing.assert_frame_equal(first, again)
    assert not first.trial_id.equals(different.trial_id)


def test_plan_needs_shared_items_and_refuses_reserved_names():
    with pytest.raises(InputError, match="paired by id"):
        plan_study(items(3, "a"), {"b": items(3, "b")}, SETTINGS)
    with pytest.raises(InputError, match="cannot be called"):
        plan_study(items(3), {OURS: items(3)}, SETTINGS)


def test_corrupted_video_is_obviously_different():
    rng = np.random.default_rng(0)
    frames = np.repeat(rng.integers(0, 256, (1, 32, 48, 3), dtype=np.uint8), 6, axis=0)
    broken = corrupt_video(frames, seed=1)
    assert broken.shape == frames.shape
    assert np.abs(broken.astype(int) - frames).mean() > 30
    assert np.abs(np.diff(broken.astype(int), axis=0)).mean() > 20  # it flickers from frame to frame


# Synthetic study: one comparison, 160 pairs in 40 HITs; 40 honest workers do 5 HITs each (5 per HIT).
# Half of them prefer ours in exactly 18 of their 20 pairs, half in exactly 10: 70 % pooled, and a
# worker-level spread whose bootstrap standard error is sd(rates) / √workers = 0.2 / √40.
HONEST_WORKERS, HITS_PER_WORKER = 40, 5


def synthetic_results() -> tuple[pd.DataFrame, pd.DataFrame]:
    settings = StudySettings(pairs_per_hit=4, catch_per_hit=1, seed=3)
    hits = plan_study(items(160), {"baseline": items(160)}, settings)
    manifest = manifest_frame(hits, settings)
    rng = np.random.default_rng(11)
    rows = []

    def assignment(hit, worker, answer, status="Submitted"):
        row = {"HITId": hit.hit_id, "AssignmentId": f"A{len(rows)}", "WorkerId": worker, "AssignmentStatus": status}
        for trial in hit.trials:
            row[f"Input.trial_{trial.slot}"] = trial.trial_id
            for criterion in ("motion", "looks"):
                row[f"Answer.{answer_field(trial.slot, criterion)}"] = answer(trial, criterion)
        rows.append(row)

    for worker in range(HONEST_WORKERS):
        favourable = 18 if worker % 2 == 0 else 10
        mine = [hits[(worker + 8 * j) % 40] for j in range(HITS_PER_WORKER)]
        verdicts = {criterion: iter(rng.permutation([True] * favourable + [False] * (20 - favourable)))
                    for criterion in ("motion", "looks")}

        def honest(trial, criterion, verdicts=verdicts):
            if trial.is_catch:
                return trial.correct_side
            other = "right" if trial.ours_side == "left" else "left"
            return trial.ours_side if next(verdicts[criterion]) else other

        for hit in mine:
            assignment(hit, f"W{worker:02d}", honest)

    def against_ours(trial, criterion):  # spam: always the baseline, and the corrupted video on catch trials
        if trial.is_catch:
            return "left" if trial.correct_side == "right" else "right"
        return "right" if trial.ours_side == "left" else "left"

    for spammer in range(6):
        assignment(hits[spammer], f"S{spammer}", against_ours)
    for rejected in range(4):  # honest-looking on catch trials, but the requester rejected the work
        def careless(trial, criterion):
            return trial.correct_side if trial.is_catch else against_ours(trial, criterion)
        assignment(hits[10 + rejected], f"R{rejected}", careless, status="Rejected")
    return pd.DataFrame(rows).astype(str), manifest


def test_analysis_recovers_a_known_preference_and_drops_bad_work():
    results, manifest = synthetic_results()
    analysis = analyze(results, manifest, resamples=1000, seed=0)
    table = analysis.table.set_index("criterion")
    assert set(table.index) == {"motion", "looks"}
    expected_se = 100 * 0.2 / np.sqrt(HONEST_WORKERS)
    for criterion in ("motion", "looks"):
        row = table.loc[criterion]
        assert row.percent_ours == pytest.approx(70.0)
        assert abs(row.bootstrap_mean - 70.0) <= row.standard_error
        assert row.standard_error == pytest.approx(expected_se, rel=0.1)
        assert row.ci_low < 70.0 < row.ci_high
        assert row.judgments == HONEST_WORKERS * 20 and row.workers == HONEST_WORKERS and row["items"] == 160
    assert analysis.workers_failing_catch == [f"S{i}" for i in range(6)]
    assert analysis.rejected_assignments == 4
    assert analysis.assignments == HONEST_WORKERS * HITS_PER_WORKER + 10


def test_analysis_without_exclusions_would_be_biased():
    results, manifest = synthetic_results()
    results.loc[results.AssignmentStatus == "Rejected", "AssignmentStatus"] = "Approved"
    lenient = analyze(results, manifest, resamples=200, seed=0, min_catch_accuracy=0.0)
    # 560 of the honest workers' 800 judgments prefer ours; the 10 bad assignments add 40 against.
    assert lenient.table.percent_ours.tolist() == pytest.approx([100 * 560 / 840] * 2)


def test_crowd_form_style_answers_are_read():
    results = pd.DataFrame([{"AssignmentId": "A", "WorkerId": "W", "Input.trial_1": "t",
                             "Answer.t1_motion.left": "false", "Answer.t1_motion.right": "true",
                             "Answer.t1_looks": "left"}])
    judgments = judgments_from_results(results)
    assert dict(zip(judgments.criterion, judgments.choice)) == {"motion": "right", "looks": "left"}


def test_results_from_another_batch_are_refused():
    results, manifest = synthetic_results()
    with pytest.raises(InputError, match="not in the manifest"):
        analyze(results, manifest.iloc[:10], resamples=10)
