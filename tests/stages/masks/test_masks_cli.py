"""``cinemagraph mask`` and the ``mask`` pipeline stage on twins folders whose truth is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from flows.cli import main
from stages.images import load_mask, save_png
from stages.masks.selection import upsample_nearest
from stages.images import iou
from tests.stages.masks.test_masks import RIVER, attention_from, noisy_segmentation, truth_grid

from tests.paths import ROOT
SIZE = (256, 384)  # a 16 × 24 attention grid


def twins_folder(folder: Path, region: str = "river") -> np.ndarray:
    """A twins folder whose Ā and pictures come from a known label map; returns the true region, bool (H, W)."""
    labels = truth_grid(SIZE[0] // 16, SIZE[1] // 16)
    truth = upsample_nearest(labels, SIZE) == RIVER
    picture = np.array([[90, 140, 60], [40, 90, 170], [150, 190, 235]], np.uint8)[upsample_nearest(labels, SIZE)]
    folder.mkdir(parents=True, exist_ok=True)
    save_png(folder / "artistic.png", picture[:, :, ::-1])
    save_png(folder / "realistic.png", picture)
    save_png(folder / "seg.png", noisy_segmentation(truth))
    np.save(folder / "attention.npy", attention_from(labels))
    (folder / "meta.json").write_text(json.dumps({"region": region, "attention_grid": list(labels.shape)}))
    return truth


def test_mask_of_a_twins_folder_writes_every_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    truth = twins_folder(tmp_path / "twin")
    assert main(["mask", "twin", "--segmentation", "twin/seg.png", "-o", "out/mask.png"]) == 0
    assert "river: kept" in capsys.readouterr().out
    for name in ("mask.png", "mask_overlay.png", "mask_regions.png", "clusters.png", "segmentation.png", "mask.json"):
        assert (tmp_path / "out" / name).is_file(), name
    mask = load_mask(tmp_path / "out/mask.png")
    assert mask.shape == SIZE and iou(mask, truth) >= 0.9
    record = json.loads((tmp_path / "out/mask.json").read_text())
    assert record["grid"] == [16, 24] and record["segmenter"] == "png" and record["n_clusters"] == 10
    assert [region["class"] for region in record["regions"]] == ["river"]
    assert all(part["overlap"] >= 0.7 for part in record["kept_parts"])


def test_mask_from_parts_with_spectral_clusters(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    truth = twins_folder(tmp_path / "twin")
    assert main(["mask", "--attention", "twin/attention.npy", "--image", "twin/realistic.png", "--region", "river",
                 "--segmentation", "twin/seg.png", "--method", "spectral", "--clusters", "5", "--erode", "0",
                 "-o", "river.png"]) == 0
    assert iou(load_mask(tmp_path / "river.png"), truth) >= 0.9
    assert json.loads((tmp_path / "river.json").read_text())["method"] == "spectral"


@pytest.mark.parametrize("change, arguments, message", [
    ("small-attention", [], "expected 384x384 for its 16x24 grid"),
    ("flat-attention", [], "must be square"),
    ("nan-attention", [], "non-finite"),
    ("small-segmentation", [], "the mask must have the same width and height as the image"),
    (None, ["--region", "lava"], "families: water: water, waterfall"),
    (None, ["--segmenter", "odise"], "segmenters: ade20k, clipseg, synthetic, png"),
    (None, ["--segmenter", "ade20k"], "ADE20K segmentation weights not found"),
    (None, ["--segmenter", "synthetic"], "no trained segmenter in data/models/segmenter"),
    (None, ["-o", "twin/realistic.png"], "would overwrite an input"),
    (None, ["-o", "mask.jpg"], "must be a .png file"),
])
def test_bad_input_is_one_line(change, arguments, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    twins_folder(tmp_path / "twin")
    if change == "small-attention":
        np.save(tmp_path / "twin/attention.npy", np.eye(100, dtype=np.float32))
    elif change == "flat-attention":
        np.save(tmp_path / "twin/attention.npy", np.ones((384, 380), np.float32))
    elif change == "nan-attention":
        np.save(tmp_path / "twin/attention.npy", np.full((384, 384), np.nan, np.float32))
    elif change == "small-segmentation":
        save_png(tmp_path / "twin/seg.png", np.zeros((100, 100), bool))
    segmentation = [] if "--segmenter" in arguments else ["--segmentation", "twin/seg.png"]
    output = [] if "-o" in arguments else ["-o", "out/mask.png"]
    assert main(["mask", "--attention", "twin/attention.npy", "--image", "twin/realistic.png", "--region", "river",
                 *segmentation, *output, *arguments]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error and "Traceback" not in error


def test_mask_stage_caches_items_records_failures_and_rekeys_on_params(prefect_server, tmp_path):
    from tasks.dag import declared
    from flows.pipeline import run_declared

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["run"].update(executor="local", store=str(tmp_path / "store"))
    (tmp_path / "prompts.csv").write_text("id,prompt\nriver,a river\nlava,a lava flow\n")
    params["rewrite"]["prompts"] = str(tmp_path / "prompts.csv")
    truth = twins_folder(tmp_path / "data/twins/river")
    twins_folder(tmp_path / "data/twins/lava", region="lava")
    params["mask"].update(segmenter="png", segmentation=str(tmp_path / "data/twins/river/seg.png"))
    run = lambda: run_declared(declared("mask"), params, root=tmp_path).set_index("id")
    first = run()
    assert first.loc["river", "status"] == "ok" and first.loc["river", "region"] == "river"
    assert first.loc["lava", "status"] == "failed" and "no segmentation vocabulary" in first.loc["lava", "error"]
    assert iou(load_mask(tmp_path / "data/mask/river/mask.png"), truth) >= 0.9
    assert "river" in (tmp_path / "data/mask/index.html").read_text()
    assert run().attrs["run"] == {"ok": 0, "cached": 1, "failed": 1}
    params["mask"]["n_clusters"] = 12
    again = run()
    assert again.attrs["run"]["ok"] == 1 and again.loc["river", "status"] == "ok"
    assert json.loads((tmp_path / "data/mask/river/mask.json").read_text())["n_clusters"] == 12
    assert pd.read_parquet(tmp_path / "data/mask/manifest.parquet").set_index("id").loc["river", "status"] == "ok"


def test_dvc_mask_stage_follows_twins_and_the_trained_segmenter():
    """(Its code deps are checked with every stage's by test_pipeline.)"""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    mask = stages["mask"]
    assert "data/twins" in mask["deps"] and "data/models/segmenter" in mask["deps"] and mask["params"] == ["mask"]
    assert "data/models/segmenter" in stages["train_segment"]["outs"]
