"""Training clips: layouts, captions, masks, crops, flips, hints and safe motion files."""

import json
import pickle

import lz4.frame
import numpy as np
import pytest

from tests.learned_helpers import write_scenes
from stages.errors import InputError
from stages.scenes.eulerian import read_captions, read_motion
from stages.learned.data import ClipOptions, EulerianClips, direction_hint, flip_horizontal, mirror_caption, motion_mask
from stages.video import read_video


def test_flip_mirrors_images_and_negates_the_x_flow():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    flow = np.array([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [[7.0, 8.0, 9.0], [0.5, 0.25, 0.0]]], np.float32)
    flipped = flip_horizontal({"image": image, "flow": flow})
    np.testing.assert_array_equal(flipped["image"][0, 0], image[0, 2])
    np.testing.assert_array_equal(flipped["flow"][0], [[-3, -2, -1], [-6, -5, -4]])
    np.testing.assert_array_equal(flipped["flow"][1], [[9, 8, 7], [0.0, 0.25, 0.5]])
    np.testing.assert_array_equal(flip_horizontal(flipped)["flow"], flow)  # an involution


def test_mirrored_captions_swap_left_and_right_only_as_words():
    assert mirror_caption("a river flowing left to right") == "a river flowing right to left"
    assert mirror_caption("Right to left, upwards") == "Left to right, upwards"
    assert mirror_caption("drifting leftwards under bright skies") == "drifting rightwards under bright skies"
    assert mirror_caption("leftover light") == "leftover light"


def test_motion_mask_thresholds_the_speed():
    flow = np.zeros((2, 2, 2), np.float32)
    flow[:, 0, 0] = (0.06, 0.08)  # speed 0.1: not above the threshold
    flow[:, 1, 1] = (0.0, -0.3)
    np.testing.assert_array_equal(motion_mask(flow, 0.1), [[False, False], [False, True]])


def test_direction_hint_is_the_unit_direction_of_each_region():
    flow = np.zeros((2, 20, 30), np.float32)
    flow[:, 2:8, 2:10] = np.array([3.0, -4.0])[:, None, None]   # up and right, speed 5
    flow[:, 12:18, 15:28] = np.array([0.0, 0.7])[:, None, None]  # down
    mask = motion_mask(flow, 0.1)
    hint = direction_hint(flow, mask, 0.25)
    np.testing.assert_allclose(hint[:, 4, 5], [0.6, -0.8], atol=1e-6)
    np.testing.assert_allclose(hint[:, 15, 20], [0.0, 1.0], atol=1e-6)
    assert np.all(hint[:, ~mask] == 0)


def test_captions_come_from_json_and_from_text_lines_with_colons(tmp_path):
    (tmp_path / "captions.json").write_text(json.dumps({"a": "from json", "b": "replaced"}))
    (tmp_path / "captions.txt").write_text("b: a sea: calm and blue\nno colon here\n c :  spaced \n")
    assert read_captions(tmp_path) == {"a": "from json", "b": "a sea: calm and blue", "c": "spaced"}


@pytest.mark.parametrize("layout", ["splits", "folders"])
def test_both_layouts_give_the_same_samples(tmp_path, layout):
    root = write_scenes(tmp_path / layout, count=4, layout=layout)
    train = EulerianClips(root, "train", ClipOptions(frames=True), augment=False)
    held_out = EulerianClips(root, "validation", ClipOptions(frames=True), augment=False)
    assert [c.id for c in train.clips] == ["clip0", "clip1", "clip2"] and len(held_out) == 1
    sample = held_out[0]
    clip = held_out.clips[0]
    assert sample["caption"] == json.loads((root / "captions.json").read_text())["clip3"]
    np.testing.assert_array_equal(sample["flow"].numpy(), read_motion(clip.motion))  # whole image, unflipped
    np.testing.assert_array_equal(sample["mask"][0].numpy() > 0, motion_mask(read_motion(clip.motion), 0.1))
    video = read_video(clip.video)
    assert sample["span"] == len(video) - 1 and 0 < sample["step"] < sample["span"]
    np.testing.assert_allclose(sample["target"].numpy(), video[sample["step"]].transpose(2, 0, 1) / 255.0)
    np.testing.assert_allclose(sample["last"].numpy(), video[-1].transpose(2, 0, 1) / 255.0)


def test_augmented_samples_are_crops_of_the_clip_flipped_consistently(tmp_path):
    root = write_scenes(tmp_path, count=4)
    dataset = EulerianClips(root, "train", ClipOptions(crop=16, hint=True), augment=True, seed=3)
    flow = read_motion(dataset.clips[0].motion)
    flipped_seen = False
    for _ in range(12):
        sample = dataset[0]
        crop = sample["flow"].numpy()
        assert crop.shape == (2, 16, 16) and sample["image"].shape == (3, 16, 16)
        mirrored = sample["caption"] != dataset.clips[0].caption
        flipped_seen |= mirrored
        reference = flip_horizontal({"flow": flow})["flow"] if mirrored else flow
        # the crop is somewhere in the (possibly mirrored) flow
        found = any(np.array_equal(reference[:, top:top + 16, left:left + 16], crop)
                    for top in range(flow.shape[1] - 15) for left in range(flow.shape[2] - 15))
        assert found
        np.testing.assert_allclose(sample["hint"].numpy(), direction_hint(crop, motion_mask(crop, 0.1), 0.25))
    assert flipped_seen


def test_resizing_scales_flow_vectors(tmp_path):
    root = write_scenes(tmp_path, count=4, height=32, width=48)
    dataset = EulerianClips(root, "train", ClipOptions(resize_short=16), augment=False)
    full = read_motion(dataset.clips[0].motion)
    sample = dataset[0]
    assert sample["image"].shape == (3, 16, 24)
    assert float(np.abs(sample["flow"].numpy()).max()) == pytest.approx(float(np.abs(full).max()) / 2, rel=1e-5)


def test_missing_split_and_oversized_crops_are_clear_errors(tmp_path):
    root = write_scenes(tmp_path, count=4)
    with pytest.raises(InputError, match="neither a train/ folder nor a splits.json"):
        EulerianClips(tmp_path / "clip0", "train")
    with pytest.raises(InputError, match="crop 64 is larger than the clip"):
        EulerianClips(root, "train", ClipOptions(crop=64))[0]


class _Shell:
    def __reduce__(self):
        import os
        return (os.system, ("echo pwned",))


def test_motion_files_holding_code_are_refused(tmp_path):
    root = write_scenes(tmp_path, count=4)
    dataset = EulerianClips(root, "train", augment=False)
    dataset.clips[0].motion.write_bytes(lz4.frame.compress(pickle.dumps(_Shell())))
    with pytest.raises(InputError, match="refusing to unpickle"):
        dataset[0]
