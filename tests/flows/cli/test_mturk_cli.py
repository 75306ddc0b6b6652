"""``cinemagraph mturk export`` and ``analyze`` end to end on tiny videos."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.cli import main
from stages.study.mturk import answer_field
from stages.video import read_video, write_video


def check_nothing_names(batch: Path, names) -> None:
    """Nothing a worker can see (video file names and URLs, the pages, the HIT inputs) holds any of ``names``."""
    visible = "\n".join([(batch / "input.csv").read_text(), (batch / "template.html").read_text(),
                         (batch / "study.html").read_text(), *(p.name for p in (batch / "videos").iterdir())])
    for name in names:
        assert not re.search(rf"\b{re.escape(name)}\b", visible, re.IGNORECASE), name


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("methods")
    rng = np.random.default_rng(1)
    for method in ("ours", "holynski", "slr_sfs"):
        for index in range(3):
            write_video(root / method / f"clip{index}" / f"clip{index}.mp4",
                        rng.integers(0, 256, (6, 24, 32, 3), dtype=np.uint8), fps=12)
    (root / "ours" / "clip0" / "clip0_meta.json").write_text(json.dumps({"prompt": "waves <i>at</i> night"}))
    return root


def test_export_then_analyze(folders, tmp_path, capsys):
    batch = tmp_path / "batch"
    broken = folders / "slr_sfs" / "clip9.mp4"
    broken.write_bytes(b"not a video")  # a bad video is left out and recorded; the batch goes on
    code = main(["mturk", "export", "--ours", str(folders / "ours"), "--baseline", f"holynski={folders / 'holynski'}",
                 "--baseline", f"slr_sfs={folders / 'slr_sfs'}", "-o", str(batch), "--pairs-per-hit", "2",
                 "--base-url", "https://example.org/study/", "--seed", "4"])
    broken.unlink()
    assert code == 0
    assert {p.name for p in batch.iterdir()} == {"input.csv", "template.html", "study.html", "manifest.parquet",
                                                 "settings.json", "videos", "excluded.csv"}
    excluded = pd.read_csv(batch / "excluded.csv")
    assert excluded[["method", "item"]].values.tolist() == [["slr_sfs", "clip9"]]
    assert "left out" in capsys.readouterr().out
    manifest = pd.read_parquet(batch / "manifest.parquet")
    assert (~manifest.is_catch).sum() == 6 and manifest.hit_id.nunique() == 3
    assert set(manifest.comparison) == {"holynski", "slr_sfs", "catch"}
    inputs = pd.read_csv(batch / "input.csv", dtype=str, keep_default_na=False)
    assert inputs.left_1.str.startswith("https://example.org/study/videos/").all()
    assert "waves%20%3Ci%3Eat%3C%2Fi%3E%20night" in set(inputs.filter(like="prompt_").stack())

    check_nothing_names(batch, ("holynski", "slr_sfs", "ours", "clip0"))
    assert "catch" not in (batch / "input.csv").read_text() + (batch / "study.html").read_text().split("<script>")[0]
    assert len(list((batch / "videos").iterdir())) == 2 * len(manifest)
    template_fields = set(re.findall(r"\$\{(\w+)\}", (batch / "template.html").read_text()))
    assert template_fields == set(inputs.columns)

    settings = json.loads((batch / "settings.json").read_text())["create_hit"]
    assert settings["MaxAssignments"] == 5 and settings["Reward"] == "0.09"
    assert {(q["QualificationTypeId"], q["IntegerValues"][0]) for q in settings["QualificationRequirements"]} == {
        ("00000000000000000040", 10000), ("000000000000000000L0", 95)}

    # Catch trials pit a clean copy against a visibly broken one.
    catch = manifest[manifest.is_catch].iloc[0]
    clean = catch.left_token if catch.correct_side == "left" else catch.right_token
    broken = catch.right_token if catch.correct_side == "left" else catch.left_token
    clean_frames, broken_frames = (read_video(batch / "videos" / f"{t}.mp4") for t in (clean, broken))
    assert np.abs(clean_frames.astype(int) - broken_frames).mean() > 30

    # Five workers who always prefer ours and answer catch trials right.
    rows = []
    for hit_id, trials in manifest.groupby("hit_id"):
        for worker in range(5):
            row = {"HITId": hit_id, "AssignmentId": f"{hit_id}-{worker}", "WorkerId": f"W{worker}",
                   "AssignmentStatus": "Approved"}
            for trial in trials.itertuples():
                row[f"Input.trial_{trial.slot}"] = trial.trial_id
                side = trial.correct_side if trial.is_catch else trial.ours_side
                for criterion in ("motion", "looks"):
                    row[f"Answer.{answer_field(trial.slot, criterion)}"] = side
            rows.append(row)
    pd.DataFrame(rows).to_csv(tmp_path / "results.csv", index=False)
    assert main(["mturk", "analyze", str(tmp_path / "results.csv"), "--manifest", str(batch / "manifest.parquet"),
                 "-o", str(tmp_path / "analysis")]) == 0
    table = pd.read_csv(tmp_path / "analysis" / "preferences.csv")
    assert len(table) == 4 and (table.percent_ours == 100.0).all() and (table.judgments == 15).all()
    assert (tmp_path / "analysis" / "preferences.png").stat().st_size > 1000
    assert "0 of 5 workers failed" in capsys.readouterr().out


def test_bad_arguments_are_explained(folders, tmp_path, capsys):
    assert main(["mturk", "export", "--ours", str(tmp_path / "missing"), "--baseline", f"b={folders / 'holynski'}",
                 "-o", str(tmp_path / "b")]) == 2
    assert "video folder not found" in capsys.readouterr().err
    assert main(["mturk", "analyze", str(tmp_path / "none.csv"), "--manifest", str(tmp_path / "m.parquet")]) == 2
    assert "results file not found" in capsys.readouterr().err
