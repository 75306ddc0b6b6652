"""Long loops in bounded memory: checkpointed backward integration, streamed writing, frames in flight."""

import tracemalloc

import numpy as np
import pytest
import torch

from stages.motion.engine import LoopRenderer, ReverseIntegrator, euler_displacements
from stages.motion.flowfield import dense_flow, region_hints
from stages.motion.render import stream_frames, write_cinemagraph
from stages.threads import map_in_order
from stages.video import read_video, write_video

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def swirl(height: int = 24, width: int = 32) -> torch.Tensor:
    """A rotating field (pixels per frame), so every Euler step depends on the last."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    return torch.from_numpy(np.stack([-(rows - height / 2), cols - width / 2]) * 0.05)


@pytest.mark.parametrize("steps", [1, 2, 7, 16, 50])
def test_reverse_integrator_is_bit_identical_to_one_integration(steps):
    flow = swirl()
    points = torch.tensor([[3.0, 4.0], [10.5, 7.25], [20.0, 12.0]])
    every = list(euler_displacements(flow, points, steps))
    reverse = ReverseIntegrator(flow, points, steps)
    for m in list(range(steps, -1, -1)) + [steps // 2, 0, steps]:  # the reverse sweep, then random access
        assert torch.equal(reverse(m), every[m])


def test_reverse_integrator_keeps_about_two_square_roots_of_the_steps():
    reverse = ReverseIntegrator(swirl(), torch.zeros(5, 2) + 8, 10_000)
    for m in range(10_000, 9_000, -1):
        reverse(m)
    kept = len(reverse._checkpoints) + len(reverse._segment)
    assert reverse.segment == 100 and kept <= 2 * 100 + 1


def peak_bytes(function) -> int:
    """Peak Python-tracked allocation (numpy buffers included) while ``function`` runs."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_long_loop_renders_and_writes_in_memory_independent_of_its_length(tmp_path):
    image = (np.random.default_rng(0).random((24, 32, 3)) * 255).astype(np.uint8)
    mask = np.ones((24, 32), bool)
    flow = dense_flow(mask, region_hints(mask, 30.0, 0.7))

    def render(frames: int) -> int:
        renderer = LoopRenderer(image, mask, flow, frames)
        return peak_bytes(lambda: write_cinemagraph(tmp_path / f"{frames}.npz", stream_frames(renderer), flow,
                                                    30.0, {}))

    short, long = render(100), render(2000)
    # stacking 2000 frames alone would take 4.6 MB; the torch tensors are outside tracemalloc, the numpy
    # frames and the writer's buffers inside it
    assert long < short + 300_000, (short, long)
    video = read_video(tmp_path / "2000.npz")
    assert video.shape == (2000, 24, 32, 3)
    np.testing.assert_array_equal(video[0], image)
    np.testing.assert_array_equal(video[-1], LoopRenderer(image, mask, flow, 2000).frame(1999))


def test_the_backward_integration_of_a_long_loop_holds_square_root_many_displacements():
    image = np.zeros((8, 8, 3), np.uint8)
    mask = np.ones((8, 8), bool)
    flow = dense_flow(mask, region_hints(mask, 0.0, 1.0))
    backward = LoopRenderer(image, mask, flow, 20_000)._backward
    # 20001 displacements (for 96×64 pixels: 1 GB; at 100000 frames 4.9 GB) against 141 checkpoints and
    # one segment of 141 (for 100000 frames of 96×64: 317 and 317, 31 MB)
    assert len(backward._checkpoints) + len(backward._segment) <= 2 * 141 + 2


@pytest.mark.parametrize("compress", [False, True])
def test_npz_is_a_plain_numpy_archive_streamed_from_an_iterable(tmp_path, compress):
    frames = [np.full((5, 7, 3), n, np.uint8) for n in range(6)]
    write_video(tmp_path / "v.npz", iter(frames), compress=compress)  # no len(): collected first
    write_video(tmp_path / "w.npz", np.stack(frames), compress=compress)
    for name in ("v.npz", "w.npz"):
        with np.load(tmp_path / name) as data:
            assert data.files == ["frames"]
            np.testing.assert_array_equal(data["frames"], np.stack(frames))


def test_a_renderer_error_leaves_no_file(tmp_path):
    def frames():
        yield np.zeros((8, 8, 3), np.uint8)
        raise ValueError("renderer failed")

    for suffix in (".mp4", ".npz"):
        with pytest.raises(ValueError, match="renderer failed"):
            write_video(tmp_path / f"v{suffix}", frames() if suffix == ".mp4" else _Sized(frames(), 2))
    assert not list(tmp_path.iterdir())


class _Sized:
    """An iterable with a length, as a renderer is."""

    def __init__(self, iterable, length):
        self.iterable, self.length = iterable, length

    def __len__(self):
        return self.length

    def __iter__(self):
        return iter(self.iterable)


def test_map_in_order_keeps_order_and_bounds_what_is_in_flight():
    taken = []

    def arguments():
        for n in range(20):
            taken.append(n)
            yield (n,)

    out = []
    for value in map_in_order(lambda n: n * n, arguments(), workers=3):
        assert len(taken) - len(out) <= 4  # never more than workers + 1 ahead
        out.append(value)
    assert out == [n * n for n in range(20)]
