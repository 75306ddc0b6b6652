import numpy as np
import pytest

from stages.errors import InputError
from stages.video import read_video, write_video


def moving_bars(frames=10, height=301, width=513):
    video = np.zeros((frames, height, width, 3), np.uint8)
    for n in range(frames):
        video[n, :, (np.arange(width) + 7 * n) % 64 < 32] = (200, 120, 40)
    return video


def test_npz_is_lossless(tmp_path):
    video = moving_bars()
    write_video(tmp_path / "v.npz", video)
    np.testing.assert_array_equal(read_video(tmp_path / "v.npz"), video)


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".gif"])
def test_encoded_formats_with_odd_sizes_decode_to_the_same_frames(tmp_path, suffix):
    video = moving_bars()
    path = write_video(tmp_path / f"v{suffix}", video, fps=25)
    decoded = read_video(path)
    assert decoded.shape[0] == 10
    # H.264 and VP9 need even sides: one replicated row and column are added.
    height, width = (301, 513) if suffix == ".gif" else (302, 514)
    assert decoded.shape[1:] == (height, width, 3)
    assert np.abs(decoded[:, :301, :513].astype(int) - video).mean() < 6
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_mp4_is_web_ready(tmp_path):
    path = write_video(tmp_path / "v.mp4", moving_bars(4, 32, 32))
    data = path.read_bytes()
    index, media = data.find(b"moov"), data.find(b"mdat")
    assert 0 <= index < media  # faststart: the index before the media, so a browser plays while it loads


def test_bad_paths_are_reported(tmp_path):
    with pytest.raises(InputError, match="unsupported output"):
        write_video(tmp_path / "v.avi", moving_bars(2, 8, 8))
    with pytest.raises(InputError, match="not found"):
        read_video(tmp_path / "missing.mp4")
