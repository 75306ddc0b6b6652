import pickle

import lz4.frame
import numpy as np
import pytest

from stages.errors import InputError
from stages.scenes.eulerian import list_clips, read_motion, write_motion
from stages.scenes.landscapes import KINDS, make_scene


@pytest.mark.parametrize("kind", KINDS)
def test_ground_truth_loops_and_translates_along_the_flow(kind):
    scene = make_scene(5, 64, 96, period=24, kind=kind)
    np.testing.assert_array_equal(scene.frame(24), scene.frame(0))
    flow = scene.flow()
    assert np.all(flow[:, ~scene.mask] == 0)
    for region in scene.regions:
        np.testing.assert_allclose(flow[:, region.mask].mean(axis=1), region.velocity, atol=1e-4)
    assert not np.array_equal(scene.frame(0), scene.frame(6))


def test_frames_translate_exactly_by_the_velocity():
    scene = make_scene(1, 64, 96, period=20, kind="waterfall")  # waterfall: v = (0, speed)
    region = scene.regions[0]
    speed = region.velocity[1]
    period_shift = 20 * speed  # after one period the texture has moved by period·v and looks the same
    assert period_shift > 10
    rows, cols = np.nonzero(region.mask)
    # Pixels of row r at time t show the texture that was at row r - t·v at time 0 (same column).
    t = 1.0 / speed  # exactly one pixel down
    inside = region.mask[rows - 1, cols]
    later = scene.frame(t)[rows[inside], cols[inside]].astype(int)
    earlier = scene.frame(0)[rows[inside] - 1, cols[inside]].astype(int)
    assert np.abs(later - earlier).max() <= 1


def test_scenes_are_reproducible_and_varied():
    assert np.array_equal(make_scene(3).frame(5), make_scene(3).frame(5))
    assert make_scene(3).caption == make_scene(3).caption
    assert len({make_scene(seed).regions[0].name for seed in range(6)}) == 3


def test_motion_files_round_trip_and_refuse_foreign_objects(tmp_path):
    flow = np.random.default_rng(0).normal(size=(2, 8, 12)).astype(np.float32)
    write_motion(tmp_path / "a_motion.pth", flow)
    np.testing.assert_array_equal(read_motion(tmp_path / "a_motion.pth"), flow)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "b_motion.pth").write_bytes(lz4.frame.compress(pickle.dumps(Evil())))
    with pytest.raises(InputError, match="refusing to unpickle builtins.print"):
        read_motion(tmp_path / "b_motion.pth")


def test_torch_tensor_motion_files_are_read(tmp_path):
    import torch

    flow = torch.arange(2 * 3 * 4, dtype=torch.float32).view(1, 2, 3, 4)
    (tmp_path / "t_motion.pth").write_bytes(lz4.frame.compress(pickle.dumps(flow)))
    np.testing.assert_array_equal(read_motion(tmp_path / "t_motion.pth"), flow[0].numpy())


def test_list_clips_reads_the_layout(tmp_path):
    from stages.images import save_png

    for split, name in (("train", "c1"), ("validation", "c2")):
        folder = tmp_path / split
        folder.mkdir()
        save_png(folder / f"{name}_input.png", np.zeros((4, 4, 3), np.uint8))
        (folder / f"{name}_gt.mp4").write_bytes(b"")
        write_motion(folder / f"{name}_motion.pth", np.zeros((2, 4, 4)))
    (tmp_path / "captions.json").write_text('{"c1": "a river: calm"}')
    clips = list_clips(tmp_path)
    assert [c.id for c in clips] == ["c1", "c2"]
    assert clips[0].caption == "a river: calm" and clips[0].mask is None
    assert [c.id for c in list_clips(tmp_path, "validation")] == ["c2"]
    (tmp_path / "splits.json").write_text('{"train": ["c2"]}')  # the synthetic layout: one folder, a split file
    assert [c.id for c in list_clips(tmp_path, "train")] == ["c1"]  # a split folder wins over splits.json
    with pytest.raises(InputError, match="not found"):
        list_clips(tmp_path / "missing")


def test_split_file_selects_clips(tmp_path):
    from stages.images import save_png

    for name in ("a", "b"):
        save_png(tmp_path / name / f"{name}_input.png", np.zeros((4, 4, 3), np.uint8))
        (tmp_path / name / f"{name}_gt.mp4").write_bytes(b"")
        write_motion(tmp_path / name / f"{name}_motion.pth", np.zeros((2, 4, 4)))
    (tmp_path / "splits.json").write_text('{"train": ["a"], "validation": ["b"]}')
    assert [c.id for c in list_clips(tmp_path, "validation")] == ["b"]
    assert [c.id for c in list_clips(tmp_path)] == ["a", "b"]
