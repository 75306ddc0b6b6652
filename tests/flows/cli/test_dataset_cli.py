"""``cinemagraph dataset``: plain videos of scenes whose flow is known exactly become a training set; hostile
folders get one line each."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from tests.conftest import smooth_texture
from flows.cli import main
from stages.images import load_mask, load_rgb
from stages.learned.data import ClipOptions, EulerianClips
from stages.learned.video_dataset import caption_from_name, read_caption_csv
from stages.scenes.eulerian import read_motion
from stages.scenes.landscapes import make_scene
from stages.video import read_video, write_video
from tests.hostile_files import peak_tree_memory

from tests.paths import ROOT
HEIGHT, WIDTH, FRAMES = 64, 96, 16
SCENES = {"waterfall_01": (1000, "waterfall"), "lake": (1001, "lake"), "river": (1002, "river")}


def scene_videos(folder: Path) -> dict[str, np.ndarray]:
    """Write the SCENES as plain MP4s into ``folder`` → {id: true flow (2, H, W)}."""
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for name, (seed, kind) in SCENES.items():
        scene = make_scene(seed, HEIGHT, WIDTH, kind=kind)
        write_video(folder / f"{name}.mp4", scene.video(FRAMES), quality=10)
        truth[name] = scene.flow()
    return truth


def static_video(path: Path, frames: int = FRAMES) -> Path:
    """A video of one textured picture that never moves."""
    return write_video(path, np.repeat(smooth_texture(HEIGHT, WIDTH)[None], frames, axis=0), quality=10)


def declared_size_video(path: Path, width: int, height: int) -> Path:
    """A three-frame 16×16 raw-video MOV whose header is patched to declare ``width`` × ``height`` pixels."""
    small = path.with_suffix(".small.mov")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:s=16x16",
                    "-frames:v", "3", "-c:v", "rawvideo", "-pix_fmt", "rgb24", str(small)], check=True)
    data = bytearray(small.read_bytes())
    small.unlink()
    entry = data.find(b"stsd") + 12  # the first sample entry: size, format, reserved, ..., width, height
    assert struct.unpack(">HH", data[entry + 32:entry + 36]) == (16, 16)
    struct.pack_into(">HH", data, entry + 32, width, height)
    path.write_bytes(bytes(data))
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["dataset", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_plain_videos_become_a_training_set_with_the_true_flows(tmp_path, capsys):
    videos, out = tmp_path / "videos", tmp_path / "set"
    truth = scene_videos(videos)
    static_video(videos / "still.mp4")
    (videos / "notes.mp4").write_text("not a video")
    (tmp_path / "captions.csv").write_text('id,caption\nlake.mp4,"a lake rippling, calm"\nriver,a river flowing\n')
    code, stdout, _ = run(capsys, videos, "-o", out, "--captions", tmp_path / "captions.csv", "--frames", FRAMES,
                          "--size", HEIGHT, "--validation", 0.3)
    assert code == 0
    assert "skipped notes.mp4: unreadable" in stdout and "skipped still.mp4: static" in stdout
    summary = json.loads((out / "dataset.json").read_text())
    assert summary["clips"]["train"] + summary["clips"]["validation"] == 3 and summary["clips"]["validation"] >= 1
    assert set(summary["refused"]) == {"notes.mp4", "still.mp4"}
    captions = json.loads((out / "captions.json").read_text())
    assert captions == {"lake-0": "a lake rippling, calm", "river-0": "a river flowing", "waterfall_01-0": "waterfall"}
    for name, flow in truth.items():
        clip = out / f"{name}-0"
        measured, mask = read_motion(clip / f"{name}-0_motion.pth"), load_mask(clip / f"{name}-0_mask.png")
        moving = np.hypot(*flow) > 0
        assert measured.shape == flow.shape
        assert read_video(clip / f"{name}-0_gt.mp4").shape == (FRAMES, HEIGHT, WIDTH, 3)
        assert np.hypot(*(measured - flow))[moving].mean() < 0.4 * np.hypot(*flow)[moving].mean()
        for velocity in {tuple(v) for v in flow[:, moving].T}:  # each region: its own speed and direction
            region = (flow[0] == velocity[0]) & (flow[1] == velocity[1])
            if region.sum() >= 100:  # a cloud may show only a few pixels
                assert np.hypot(*(np.median(measured[:, region], axis=1) - velocity)) < 0.2
        assert (mask & moving).sum() / (mask | moving).sum() > 0.75
        assert not measured[:, ~mask].any()
    sheet = load_rgb(out / "contact_sheet.png")
    assert sheet.shape == (128 + 4, 3 * (2 * 128 * WIDTH // HEIGHT + 4), 3)  # three clips, each frame and flow
    for split in ("train", "validation"):  # what G_flow and G_frame read
        samples = EulerianClips(out, split, ClipOptions(frames=True), augment=False)
        assert all(sample["caption"] and sample["flow"].shape == (2, HEIGHT, WIDTH) for sample in samples)


def test_a_rerun_resumes_and_redoes_only_what_changed(tmp_path, capsys):
    videos, out = tmp_path / "videos", tmp_path / "set"
    scene_videos(videos)
    assert run(capsys, videos, "-o", out, "--frames", FRAMES, "--size", HEIGHT)[0] == 0
    stamps = {path: path.stat().st_mtime_ns for path in out.rglob("*_motion.pth")}
    (out / "videos" / "lake.json").unlink()  # as if the run had stopped before the lake was recorded
    assert run(capsys, videos, "-o", out, "--frames", FRAMES, "--size", HEIGHT)[0] == 0
    redone = {path.parent.name for path, stamp in stamps.items() if path.stat().st_mtime_ns != stamp}
    assert redone == {"lake-0"}
    assert json.loads((out / "captions.json").read_text())["lake-0"] == "lake"
    assert run(capsys, videos, "-o", out, "--frames", FRAMES // 2, "--size", HEIGHT, "--clips", 2)[0] == 0
    assert json.loads((out / "splits.json").read_text()) and len(json.loads((out / "captions.json").read_text())) == 6
    assert read_video(out / "lake-1" / "lake-1_gt.mp4").shape[0] == FRAMES // 2
    assert not list(out.glob(".*")), "no half-written clip is left behind"


def test_clips_are_consecutive_pieces_of_the_video(tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    scene = make_scene(1002, HEIGHT, WIDTH, kind="river")
    source = scene.video(25)
    write_video(videos / "river.mp4", source, quality=0)
    assert run(capsys, videos, "-o", tmp_path / "set", "--frames", 10, "--clips", 4, "--size", HEIGHT // 2)[0] == 0
    clips = sorted(path.name for path in (tmp_path / "set").glob("river-*"))
    assert clips == ["river-0", "river-1"]  # 25 frames: two clips of 10
    second = read_video(tmp_path / "set" / "river-1" / "river-1_gt.mp4")
    assert second.shape == (10, HEIGHT // 2, WIDTH // 2, 3)
    small = np.stack([cv2.resize(frame, (WIDTH // 2, HEIGHT // 2), interpolation=cv2.INTER_AREA) for frame in source])
    assert np.abs(small.astype(int) - second[0]).mean(axis=(1, 2, 3)).argmin() == 10
    flow = read_motion(tmp_path / "set" / "river-1" / "river-1_motion.pth")
    mask = flow.any(axis=0)
    assert np.allclose(np.median(flow[:, mask], axis=1), np.array(scene.regions[0].velocity) / 2, atol=0.1)


def hostile(folder: Path, case: str) -> Path:
    """A folder holding one hostile input."""
    folder.mkdir(parents=True, exist_ok=True)
    if case == "text":
        (folder / "clip.mp4").write_text("this is a text file\n")
    elif case == "one_frame":
        write_video(folder / "clip.mp4", smooth_texture(HEIGHT, WIDTH)[None])
    elif case == "huge":
        declared_size_video(folder / "clip.mov", 20000, 20000)
    elif case == "large":
        declared_size_video(folder / "clip.mov", 8192, 8192)
    elif case == "static":
        static_video(folder / "clip.mp4")
    return folder


@pytest.mark.parametrize("case, words", [
    ("empty", "no videos in"),
    ("text", "clip.mp4: unreadable: no video stream"),
    ("one_frame", "clip.mp4: too short: about 1 frame, a clip needs 16"),
    ("huge", "clip.mov: unreadable: no frame size ffmpeg can decode"),
    ("large", "clip.mov: too large: the video is 8192x8192"),
    ("static", "clip.mp4: static: less than 1% of the picture moves"),
])
def test_hostile_folders_get_one_line(tmp_path, capsys, case, words):
    code, out, err = run(capsys, hostile(tmp_path / "videos", case), "-o", tmp_path / "set", "--frames", FRAMES)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("cinemagraph dataset: error: ") and words in err


def test_a_clip_over_the_memory_budget_is_refused_before_decoding(tmp_path, capsys, monkeypatch):
    videos = tmp_path / "videos"
    scene_videos(videos)
    monkeypatch.setenv("CINEMAGRAPH_MAX_MEMORY_MB", "1")  # a 16-frame 64×96 clip needs 1.4 MiB while measured
    code, _, err = run(capsys, videos, "-o", tmp_path / "set", "--frames", FRAMES, "--size", HEIGHT)
    assert code == 2 and "lake.mp4: too large: a clip of 16 frames at --size 64 needs about" in err
    monkeypatch.setenv("CINEMAGRAPH_MAX_MEMORY_MB", "2")
    assert run(capsys, videos, "-o", tmp_path / "set", "--frames", FRAMES, "--size", HEIGHT)[0] == 0


def test_hostile_videos_take_bounded_memory(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    for case in ("text", "one_frame", "huge", "large", "static"):
        for path in hostile(tmp_path / case, case).iterdir():
            path.rename(folder / f"{case}{path.suffix}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-c", "import sys; from flows.cli import main; sys.exit(main(sys.argv[1:]))",
            "dataset", str(folder), "-o", str(tmp_path / "set"), "--frames", str(FRAMES)]
    peak, _, err = peak_tree_memory(argv, env, tmp_path)
    assert "no usable clip in 5 video(s)" in err and len(err.strip().splitlines()) == 1
    assert peak < 150e6  # the imports take ~55 MB; one decoded 8192² frame would take 200 MB, a 20000² one 1.2 GB


def test_captions_csv_and_names():
    assert caption_from_name("river-flowing_left_03") == "river flowing left"
    assert caption_from_name("Clouds.over.hills") == "Clouds over hills"


def test_a_malformed_caption_row_is_named(tmp_path):
    path = tmp_path / "captions.csv"
    path.write_text("a.mp4,a river\nb.mp4\n")
    with pytest.raises(Exception, match="line 2: expected two columns id,caption"):
        read_caption_csv(path)


def test_out_of_range_options_are_one_line(tmp_path, capsys):
    (tmp_path / "videos").mkdir()
    code, _, err = run(capsys, tmp_path / "videos", "-o", tmp_path / "set", "--frames", 1)
    assert code == 2 and "--frames: must be an integer of at least 3" in err and len(err.strip().splitlines()) == 1
