"""Hostile and careless input across the commands: every case ends in a one-line error (or, where the input
is a normal state, a clean report), never a traceback; no input file changes; nothing wrong is written.

Most cases run ``flows.cli.main`` in this process. The memory and start-up cases run the real ``cinemagraph``
entry point in subprocesses and measure the peak memory of the whole process tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import smooth_texture
from flows.cli import main
from tests.hostile_files import blank_png, motion_file, npy_header_only, peak_tree_memory, torch_pickle
from tests.paths import ROOT
from stages.errors import InputError
from stages.images import save_png

HEIGHT, WIDTH = 48, 64
LONG = "x" * 5000


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A picture, its mask and a set of hostile files; every test checks that none of them changes."""
    root = tmp_path_factory.mktemp("hostile")
    save_png(root / "p.png", smooth_texture(HEIGHT, WIDTH))
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[10:40, 5:60] = True
    save_png(root / "m.png", mask)
    save_png(root / "small.png", np.ones((10, 10), bool))
    save_png(root / "empty.png", np.zeros((HEIGHT, WIDTH), bool))
    shutil.copyfile(root / "p.png", root / "river_flow.png")  # a picture named like a flow picture
    blank_png(root / "bomb.png", 40000, 40000)  # 1.6 MB on disk, 1.6 gigapixels decoded
    blank_png(root / "header.png", 100000, 100000, pixels=False)
    (root / "truncated.png").write_bytes((root / "p.png").read_bytes()[:120])
    (root / "notes.png").write_text("not an image")
    flow = np.zeros((2, HEIGHT, WIDTH), np.float32)
    flow[0] = 0.5
    np.save(root / "flow.npy", flow)
    np.save(root / "object.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.save(root / "shape.npy", np.zeros((3, HEIGHT, WIDTH), np.float32))
    np.save(root / "complex.npy", np.zeros((2, HEIGHT, WIDTH), np.complex64))
    nan = flow.copy()
    nan[0, 20, 20] = np.nan
    np.save(root / "nan.npy", nan)
    npy_header_only(root / "huge.npy", (2, 100000, 100000))
    np.save(root / "vast.npy", np.full((2, HEIGHT, WIDTH), 1e30, np.float32))
    (root / "pickled.npy").write_bytes(pickle.dumps(flow))
    np.savez(root / "two.npz", a=flow, b=flow)
    os.symlink(root / "flow.npy", root / "link.npy")
    (root / "afile").write_text("a file, not a folder")
    return root


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (symlinks by their target's bytes)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def inputs_kept(folder):
    """Fails the test if any file of the shared folder changed or disappeared."""
    before = digests(folder)
    yield
    after = digests(folder)
    assert {name: after.get(name) for name in before} == before


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run the command line in this process → (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refused(argv: list[str], capsys, *expected: str) -> str:
    """Assert the command fails with one line on stderr containing each of ``expected`` → that line."""
    code, out, err = run_cli(argv, capsys)
    assert code != 0, out
    assert "Traceback" not in err + out
    assert "weights_only" not in err and "allow_pickle" not in err  # never advice to load a file unsafely
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for text in expected:
        assert text in lines[0]
    return lines[0]


def animate(folder: Path, out: Path, *extra: str, image: str = "p.png", mask: str = "m.png") -> list[str]:
    """``cinemagraph animate`` arguments on the shared picture (3 frames, downwards unless ``extra`` says)."""
    motion = [] if any(a in extra for a in ("--flow", "--hint", "--direction")) else ["--direction", "downwards"]
    return ["animate", folder / image, "--mask", folder / mask, "--frames", "3", *motion, *extra, "-o", out]


ANIMATE_CASES = [
    # (case, image, mask, extra arguments, expected words in the error)
    ("decompression bomb", "bomb.png", "m.png", [], ["40000x40000", "CINEMAGRAPH_MAX_PIXELS"]),
    ("100000x100000 header", "header.png", "m.png", [], ["100000x100000", "CINEMAGRAPH_MAX_PIXELS"]),
    ("bomb as mask", "p.png", "bomb.png", [], ["mask", "CINEMAGRAPH_MAX_PIXELS"]),
    ("truncated PNG", "truncated.png", "m.png", [], ["truncated.png"]),
    ("text named .png", "notes.png", "m.png", [], ["cannot read"]),
    ("folder as image", ".", "m.png", [], ["image not found"]),
    ("mask of another size", "p.png", "small.png", [], ["same width and height"]),
    ("empty mask", "p.png", "empty.png", [], ["mask is empty"]),
    ("speed nan", "p.png", "m.png", ["--speed", "nan"], ["--speed", "finite"]),
    ("speed inf", "p.png", "m.png", ["--speed", "inf"], ["--speed"]),
    ("speed negative", "p.png", "m.png", ["--speed", "-1"], ["--speed", "above 0"]),
    ("fps nan", "p.png", "m.png", ["--fps", "nan"], ["--fps"]),
    ("fps zero", "p.png", "m.png", ["--fps", "0"], ["--fps"]),
    ("seed negative", "p.png", "m.png", ["--seed", "-1"], ["--seed", "at least 0"]),
    ("seed huge", "p.png", "m.png", ["--seed", str(2**70)], ["--seed"]),
    ("frames of 400 digits", "p.png", "m.png", ["--frames", "9" * 400], ["--frames", "…"]),
    ("speed of 400 digits", "p.png", "m.png", ["--speed", "9" * 400], ["--speed"]),
    ("frames zero", "p.png", "m.png", ["--frames", "0"], ["--frames", "at least 2"]),
    ("frames fractional", "p.png", "m.png", ["--frames", "2.5"], ["--frames", "integer"]),
    ("max-flow nan", "p.png", "m.png", ["--max-flow", "nan"], ["--max-flow"]),
    ("long direction", "p.png", "m.png", ["--direction", LONG], ["--direction", "5000"]),
    ("long hint", "p.png", "m.png", ["--hint", LONG], ["--hint"]),
    ("hint nan", "p.png", "m.png", ["--hint", "nan,1,2,3"], ["--hint", "X,Y,DX,DY"]),
    ("hint of 1e308", "p.png", "m.png", ["--hint", "1e308,1e308,1e308,1e308"], ["--hint", "within"]),
    ("unknown device", "p.png", "m.png", ["--device", "gpu0"], ["--device", "not a device"]),
    ("flow object array", "p.png", "m.png", ["--flow", "object.npy"], ["object.npy", "(2, 48, 64)"]),
    ("flow wrong shape", "p.png", "m.png", ["--flow", "shape.npy"], ["(3, 48, 64)"]),
    ("flow complex", "p.png", "m.png", ["--flow", "complex.npy"], ["complex64"]),
    ("flow NaN", "p.png", "m.png", ["--flow", "nan.npy"], ["NaN"]),
    ("flow of 1e30", "p.png", "m.png", ["--flow", "vast.npy"], ["10000 pixels per frame"]),
    ("flow is pickled", "p.png", "m.png", ["--flow", "pickled.npy"], ["never loaded"]),
    ("flow header of 20 G values", "p.png", "m.png", ["--flow", "huge.npy"], ["huge.npy"]),
    ("flow archive of two", "p.png", "m.png", ["--flow", "two.npz"], ["several arrays"]),
    ("flow is a picture", "p.png", "m.png", ["--flow", "p.png"], ["p.png"]),
    ("save-flow over the flow", "p.png", "m.png", ["--flow", "flow.npy", "--save-flow", "flow.npy"],
     ["--save-flow", "would overwrite --flow"]),
    ("save-flow over the flow by a symlink", "p.png", "m.png", ["--flow", "flow.npy", "--save-flow", "link.npy"],
     ["would overwrite --flow"]),
    ("save-flow not .npy", "p.png", "m.png", ["--save-flow", "flow.txt"], [".npy"]),
]


@pytest.mark.parametrize("case, image, mask, extra, expected", ANIMATE_CASES, ids=[c[0] for c in ANIMATE_CASES])
def test_animate_refuses_in_one_line(folder, tmp_path, capsys, inputs_kept, case, image, mask, extra, expected):
    extra = [str(folder / a) if a.endswith((".npy", ".npz", ".png", ".txt")) else a for a in extra]
    line = refused(animate(folder, tmp_path / "new" / "loop.npz", *extra, image=image, mask=mask), capsys, *expected)
    assert len(line) < 600  # long values are quoted shortened
    assert not (tmp_path / "new").exists()  # nothing written, not even the output folder


def test_the_flow_picture_beside_the_video_never_replaces_the_picture(folder, capsys, inputs_kept):
    """``animate river_flow.png ... -o river.mp4`` would write river_flow.png over the picture."""
    refused(animate(folder, folder / "river.mp4", image="river_flow.png"), capsys,
            "flow picture", "would overwrite IMAGE", "river_flow.png")
    assert not (folder / "river.mp4").exists()


def test_the_video_never_replaces_an_input_through_another_name(folder, tmp_path, capsys, inputs_kept):
    video = folder / "loop.npz"
    os.symlink(folder / "two.npz", tmp_path / "alias.npz")
    refused(animate(folder, tmp_path / "alias.npz", "--flow", folder / "two.npz"), capsys, "-o", "would overwrite")
    assert not video.exists()


def test_an_unwritable_output_folder_is_named_before_rendering(folder, capsys, inputs_kept):
    line = refused(animate(folder, folder / "afile" / "loop.mp4"), capsys, "-o", str(folder / "afile"))
    assert ".loop" not in line  # never a hidden temporary file


def test_missing_cuda_is_one_line(folder, tmp_path, capsys, inputs_kept):
    import torch

    if torch.cuda.is_available():
        refused(animate(folder, tmp_path / "l.npz", "--device", f"cuda:{torch.cuda.device_count()}"), capsys,
                "--device", "CUDA GPU")
    else:
        refused(animate(folder, tmp_path / "l.npz", "--device", "cuda"), capsys, "--device", "no CUDA GPU")


def test_frames_beyond_the_memory_budget_are_refused_with_the_estimate(folder, tmp_path, capsys, monkeypatch,
                                                                       inputs_kept):
    monkeypatch.setenv("CINEMAGRAPH_MAX_MEMORY_MB", "1024")
    argv = animate(folder, tmp_path / "l.gif")  # a GIF's palette pass holds every frame: 1.7 GiB here
    argv[argv.index("--frames") + 1] = "100000"
    refused(argv, capsys, "--frames 100000 at 64x48", "GiB", "CINEMAGRAPH_MAX_MEMORY_MB")


def test_bad_limit_settings_are_named(folder, tmp_path, capsys, monkeypatch, inputs_kept):
    monkeypatch.setenv("CINEMAGRAPH_MAX_PIXELS", "lots")
    refused(animate(folder, tmp_path / "l.npz"), capsys, "CINEMAGRAPH_MAX_PIXELS")
    monkeypatch.setenv("CINEMAGRAPH_MAX_PIXELS", "1000")
    refused(animate(folder, tmp_path / "l.npz"), capsys, "64x48 = 3072 pixels, more than the 1000 allowed")


def test_valid_input_next_to_the_checks_still_gives_the_right_loop(folder, tmp_path, capsys, inputs_kept):
    """The checks refuse only what they should: a flow file and its saved copy, fps 12.5, an exact loop."""
    code, out, err = run_cli(animate(folder, tmp_path / "loop.npz", "--flow", folder / "flow.npy", "--fps", "12.5",
                                     "--save-flow", tmp_path / "saved.npy"), capsys)
    assert code == 0, err
    from stages.video import read_video

    frames = read_video(tmp_path / "loop.npz")
    assert frames.shape == (3, HEIGHT, WIDTH, 3)
    from stages.images import load_mask

    expected = np.load(folder / "flow.npy") * load_mask(folder / "m.png")  # zero outside the mask, speed 1
    np.testing.assert_array_equal(np.load(tmp_path / "saved.npy"), expected)
    meta = json.loads((tmp_path / "loop_meta.json").read_text())
    assert meta["fps"] == 12.5 and meta["frames"] == 3


# --- the values layer for params sections --------------------------------------------------------------


@pytest.mark.parametrize("key, value, words", [
    ("speed", "nan", "animate.speed must be a finite number"),
    ("speed", float("inf"), "animate.speed"),
    ("frames", 1, "animate.frames must be an integer of at least 2"),
    ("frames", True, "animate.frames"),
    ("fps", -3, "animate.fps"),
    ("feather_px", [1, 2], "animate.feather_px"),
    ("speed", 10**400, "animate.speed"),
])
def test_params_values_are_refused_with_their_name(key, value, words):
    from flows.params import SECTIONS

    with pytest.raises(InputError, match=words.replace(".", r"\.")):
        SECTIONS["animate"].read({key: value}, "animate")


def test_params_values_in_range_are_converted():
    from flows.params import SECTIONS

    read = SECTIONS["animate"].read({"speed": "0.5", "frames": 60.0}, "animate")
    assert (read["speed"], read["frames"]) == (0.5, 60)
    with pytest.raises(InputError, match="unknown key.*other"):
        SECTIONS["animate"].read({"other": "kept"}, "animate")


def test_the_shipped_params_pass_every_rule_unchanged():
    """The defaults are in range, and checking keeps each value and its type (store keys digest them)."""
    import yaml

    from flows.params import SECTIONS

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for name, section in SECTIONS.items():
        checked = section.read(params[name], name)
        assert [(k, type(v), v) for k, v in checked.items()] == [(k, type(v), v) for k, v in params[name].items()]


def test_unknown_device_names_are_refused_with_the_setting():
    from stages.devices import resolve_device

    with pytest.raises(InputError, match="models.device 'tpu' is not a device"):
        resolve_device("tpu", "models.device")


# --- motion files --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, words", [
    (3.5, "holds a float"),
    (np.zeros((3, 4, 5), np.float32), "holds shape (3, 4, 5)"),
    (np.zeros((1, 2, 4, 5), np.complex64), "complex64"),
    (np.full((1, 2, 4, 5), np.inf, np.float32), "NaN or infinite"),
    ({"flow": 1}, "holds a dict"),
])
def test_motion_files_say_what_they_must_hold(tmp_path, value, words):
    from stages.scenes.eulerian import read_motion

    with pytest.raises(InputError) as error:
        read_motion(motion_file(tmp_path / "x_motion.pth", value))
    assert words in str(error.value) and "(1, 2, H, W)" in str(error.value)


def test_hostile_torch_pickles_are_refused_without_unsafe_advice(tmp_path):
    from stages.files import load_tensors

    with pytest.raises(InputError) as error:
        load_tensors(torch_pickle(tmp_path / "evil.pt"), "the detector")
    assert "posix.system" in str(error.value) or "os.system" in str(error.value)
    assert "weights_only" not in str(error.value)


# --- mturk -----------------------------------------------------------------------------------------------


@pytest.fixture
def batch(tmp_path) -> Path:
    """A manifest with the columns the analysis reads, and its results header."""
    pd.DataFrame({"trial_id": ["t0"], "comparison": ["b"], "item": ["a"], "is_catch": [False],
                  "ours_side": ["left"], "correct_side": [""]}).to_parquet(tmp_path / "manifest.parquet")
    return tmp_path


@pytest.mark.parametrize("results", ["", "HITId,AssignmentId,WorkerId,Input.trial_1,Answer.realistic_1\n"])
def test_results_before_any_answer_are_reported_cleanly(batch, capsys, results):
    (batch / "results.csv").write_text(results)
    code, out, err = run_cli(["mturk", "analyze", batch / "results.csv", "--manifest", batch / "manifest.parquet"],
                             capsys)
    assert code == 0 and "no answers yet" in out and err == ""
    assert not (batch / "analysis.json").exists()


def test_a_damaged_manifest_is_one_line(batch, capsys):
    (batch / "results.csv").write_text("AssignmentId,WorkerId\n")
    (batch / "bad.parquet").write_bytes(b"PAR1" + os.urandom(300))
    refused(["mturk", "analyze", batch / "results.csv", "--manifest", batch / "bad.parquet"], capsys, "bad.parquet")
    pd.DataFrame({"x": [1]}).to_parquet(batch / "other.parquet")
    refused(["mturk", "analyze", batch / "results.csv", "--manifest", batch / "other.parquet"], capsys,
            "not a batch manifest", "trial_id")


def test_binary_results_are_one_line(batch, capsys):
    (batch / "results.csv").write_bytes(b"\xff\xfe\x00" + os.urandom(200))
    refused(["mturk", "analyze", batch / "results.csv", "--manifest", batch / "manifest.parquet"], capsys,
            "results.csv")


def test_analysis_never_replaces_the_results_file(batch, capsys):
    results = batch / "preferences.csv"
    results.write_text("AssignmentId,WorkerId,Input.trial_1\nA,W,t0\n")
    before = results.read_bytes()
    refused(["mturk", "analyze", results, "--manifest", batch / "manifest.parquet"], capsys,
            "would overwrite RESULTS")
    assert results.read_bytes() == before


@pytest.mark.parametrize("argv, words", [
    (["analyze", "r.csv", "--manifest", "m.parquet", "--resamples", "0"], "--resamples"),
    (["analyze", "r.csv", "--manifest", "m.parquet", "--min-catch-accuracy", "nan"], "--min-catch-accuracy"),
    (["export", "--ours", "a", "--baseline", "b=c", "-o", "o", "--seed", "-1"], "--seed"),
    (["export", "--ours", "a", "--baseline", "b=c", "-o", "o", "--reward-per-pair", "inf"], "--reward-per-pair"),
])
def test_mturk_numbers_are_checked(capsys, argv, words):
    refused(["mturk", *argv], capsys, words)


def test_export_into_a_file_is_refused(folder, tmp_path, capsys, inputs_kept):
    videos = tmp_path / "ours"
    videos.mkdir()
    refused(["mturk", "export", "--ours", videos, "--baseline", f"b={videos}", "-o", folder / "afile"], capsys,
            "afile")


@pytest.mark.parametrize("name, text, words", [
    ("bad.json", "{bad", "cannot read the prompts file"),
    ("null.json", "null", "JSON object"),
    ("empty.csv", "", "header naming the column 'prompt'"),
    ("other.csv", "a,b\n1,2\n", "header naming the column 'prompt'"),
])
def test_export_with_a_damaged_prompts_file_is_one_line(tmp_path, capsys, name, text, words):
    from stages.video import write_video

    write_video(tmp_path / "ours" / "a.npz", np.zeros((4, 8, 8, 3), np.uint8))
    (tmp_path / name).write_text(text)
    refused(["mturk", "export", "--ours", tmp_path / "ours", "--baseline", f"b={tmp_path / 'ours'}", "-o",
             tmp_path / "batch", "--prompts", tmp_path / name], capsys, words)
    assert not (tmp_path / "batch").exists()


# --- evaluate, rewrite, twins, pipeline ------------------------------------------------------------------


def test_evaluate_on_missing_or_empty_folders_answers_before_prefect(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    refused(["evaluate", "--real", tmp_path / "missing", "--fake", tmp_path / "empty", "-o", tmp_path / "o"],
            capsys, "video folder not found")
    refused(["evaluate", "--real", tmp_path / "empty", "--fake", tmp_path / "empty", "-o", tmp_path / "o"],
            capsys, "no videos in")
    assert not (tmp_path / "o").exists()  # stopped before the flow (and -o) began


def test_evaluate_never_writes_into_its_inputs(tmp_path, capsys):
    from stages.video import write_video

    for name in ("real", "fake"):
        write_video(tmp_path / name / "a.npz", np.zeros((4, 8, 8, 3), np.uint8))
    before = digests(tmp_path)
    refused(["evaluate", "--real", tmp_path / "real", "--fake", tmp_path / "fake", "-o", tmp_path / "fake"],
            capsys, "would overwrite --fake")
    refused(["evaluate", "--real", tmp_path / "real", "--fake", tmp_path / "fake", "--margin", "-1"], capsys,
            "--margin")
    assert digests(tmp_path) == before


@pytest.mark.parametrize("argv, words", [
    (["rewrite", "a river", "--region", LONG], ["--region", "5000"]),
    (["rewrite", "a river", "--direction", LONG], ["--direction", "5000"]),
    (["rewrite", LONG], ["5000 characters"]),
    (["rewrite", "<b></b>"], ["no words"]),
    (["twins", "a river", "-o", "out", "--size", "100000x100000"], ["--size", "width 100000"]),
    (["twins", "a river", "-o", "out", "--size", "4096x4096"], ["--size", "outside 64..2048"]),
    (["twins", "a river", "-o", "out", "--size", "65x64"], ["--size", "multiple of 64"]),
    (["twins", "a river", "-o", "out", "--seed", "-1"], ["--seed"]),
    (["twins", "a river", "-o", "out", "--steps", "0"], ["--steps"]),
    (["pipeline", LONG], ["unknown stage", "5000 characters"]),
    (["pipeline", "animate", "--params", "missing.yaml"], ["missing.yaml not found"]),
])
def test_text_commands_refuse_in_one_line(tmp_path, capsys, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    line = refused(argv, capsys, *words)
    assert len(line) < 600
    assert not (tmp_path / "out").exists()


def test_twins_into_a_file_is_refused_before_loading_models(folder, capsys, inputs_kept):
    refused(["twins", "a river in the style of Monet", "-o", folder / "afile"], capsys, "afile")


# --- the real entry point: peak memory of the process tree and time to the refusal ------------------------


def test_hostile_inputs_stay_under_1_gb_and_are_refused_within_seconds(folder, tmp_path):
    command = shutil.which("cinemagraph", path=str(Path(sys.executable).parent)) or "cinemagraph"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "CINEMAGRAPH_MAX_MEMORY_MB": "1024"}
    base = [command, "animate", str(folder / "p.png"), "--mask", str(folder / "m.png"), "--direction", "downwards"]
    cases = {
        "bomb": [command, "animate", str(folder / "bomb.png"), "--mask", str(folder / "m.png"), "-o", "x.mp4"],
        "header": [command, "animate", str(folder / "header.png"), "--mask", str(folder / "m.png"), "-o", "x.mp4"],
        "frames 100000": [*base, "--frames", "100000", "-o", str(tmp_path / "x.gif")],
        "flow header": [*base[:5], "--flow", str(folder / "huge.npy"), "-o", str(tmp_path / "x.mp4")],
        "bomb as mask": [*base[:3], str(folder / "bomb.png"), "--hint", "1,1,1,1", "-o", str(tmp_path / "x.mp4")],
        "evaluate on a missing folder": [command, "evaluate", "--real", str(tmp_path / "none"), "--fake",
                                         str(folder), "-o", str(tmp_path / "e")],
    }
    report = {}
    for name, argv in cases.items():
        peak, seconds, err = peak_tree_memory(argv, env, tmp_path)
        report[name] = (round(peak / 2**20), round(seconds, 2))
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, (name, err)
        assert peak < 2**30, (name, peak)
        assert seconds < (5 if name in ("bomb", "header") else 30), (name, seconds)  # imports included
    print("peak MiB, seconds:", report)
