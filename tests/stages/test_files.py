"""Results written atomically are as readable as ordinary files (tempfile alone would make them private)."""

import stat

import numpy as np

from stages.video import write_video
from tasks.store import Store


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_videos_get_the_mode_of_ordinary_files(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    for name in ("loop.mp4", "loop.gif", "loop.npz"):
        assert mode(write_video(tmp_path / name, frames)) == mode(plain)  # 0644 under the usual umask 022


def test_store_entries_are_readable_by_other_users(tmp_path):
    store = Store(tmp_path / "store")
    store.put("ab" * 32, lambda folder: (write_video(folder / "v.mp4", np.zeros((2, 8, 8, 3), np.uint8)), {})[1])
    entry, plain = store.path("ab" * 32), tmp_path / "plain"
    plain.mkdir()
    (plain / "file").write_text("x")
    assert mode(entry) == mode(plain) and mode(entry / "v.mp4") == mode(plain / "file")
