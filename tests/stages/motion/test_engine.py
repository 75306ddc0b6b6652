import cv2
import numpy as np
import pytest
import torch

from tests.conftest import smooth_texture
from stages.text.directions import DIRECTIONS, angle_difference, vector_to_angle
from stages.motion.engine import (LoopRenderer, euler_displacements, fill_holes, splat_accumulator, splat_add,
                                  splat_bilinear, splat_image)
from stages.errors import InputError
from stages.motion.flowfield import dense_flow, region_hints


def test_euler_integration_is_exact_on_a_linear_field():
    # F(p) = A p is reproduced exactly by bilinear sampling, so p_n = (I + A)^n p_0 (independent truth).
    height, width = 64, 64
    a = np.array([[0.01, -0.02], [0.015, 0.005]])
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    field = np.stack([a[0, 0] * cols + a[0, 1] * rows, a[1, 0] * cols + a[1, 1] * rows]).astype(np.float32)
    start = torch.tensor([[20.0, 30.0], [40.5, 25.25]])
    displacements = list(euler_displacements(torch.from_numpy(field), start, 10))
    assert len(displacements) == 11
    for n, displacement in enumerate(displacements):
        expected = (np.linalg.matrix_power(np.eye(2) + a, n) @ start.numpy().T).T - start.numpy()
        np.testing.assert_allclose(displacement.numpy(), expected, atol=1e-3)


def test_bilinear_splat_spreads_weight_as_computed_by_hand():
    points = torch.tensor([[1.25, 2.5], [-7.0, 1.0], [2.0, 30.0]])  # x, y; the last two are off the image
    splat = splat_bilinear(points, torch.tensor([[2.0, 9.0, 9.0]]), torch.ones(3), 4, 4)
    assert splat.shape == (2, 4, 4)
    weights = splat[1]
    assert weights[2, 1] == pytest.approx(0.75 * 0.5)
    assert weights[2, 2] == pytest.approx(0.25 * 0.5)
    assert weights[3, 1] == pytest.approx(0.75 * 0.5)
    assert weights[3, 2] == pytest.approx(0.25 * 0.5)
    assert weights.sum() == pytest.approx(1.0)
    torch.testing.assert_close(splat[0], 2.0 * splat[1])


def test_fill_holes_keeps_known_pixels_and_fills_from_neighbours():
    values = torch.full((1, 8, 8), 5.0)
    weights = torch.ones(8, 8)
    weights[3:5, 3:5] = 0
    values[0, 3:5, 3:5] = -100  # garbage where unknown
    filled = fill_holes(values, weights)
    torch.testing.assert_close(filled, torch.full((1, 8, 8), 5.0))


def render(image, mask, angle, frames=24, speed=1.0):
    flow = dense_flow(mask, region_hints(mask, angle, speed))
    return LoopRenderer(image, mask, flow, frames), flow


def test_static_region_is_exact_and_the_loop_closes(texture):
    mask = np.zeros(texture.shape[:2], bool)
    mask[20:80, 10:110] = True
    renderer, _ = render(texture, mask, 30.0, frames=16, speed=1.5)
    frames = np.stack(list(renderer))
    assert frames.shape == (16, 96, 128, 3)
    np.testing.assert_array_equal(frames[0], texture)
    np.testing.assert_array_equal(renderer.frame(16), frames[0])
    assert np.abs(frames[:, ~mask].astype(int) - texture[~mask]).max() == 0
    assert np.abs(frames[8, mask].astype(int) - texture[mask]).mean() > 5  # it does move inside


def mean_measured_angle(frames: np.ndarray, mask: np.ndarray) -> float:
    """Mean Farnebäck optical flow inside the (eroded) mask over consecutive frames → viewer angle."""
    inner = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    total = np.zeros(2)
    for a, b in zip(frames[:-1], frames[1:]):
        flow = cv2.calcOpticalFlowFarneback(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY),
                                            None, 0.5, 3, 15, 3, 5, 1.2, 0)
        total += flow[inner].mean(axis=0)
    return vector_to_angle(*total)


@pytest.mark.parametrize("direction", DIRECTIONS, ids=lambda d: d.name)
def test_motion_follows_each_of_the_12_directions(direction):
    image = smooth_texture(96, 96, seed=3)
    mask = np.zeros((96, 96), bool)
    mask[16:80, 16:80] = True
    angle = direction.sample(seed=7)
    renderer, _ = render(image, mask, angle, frames=20)
    frames = np.stack([renderer.frame(n) for n in range(4, 12)])
    assert angle_difference(mean_measured_angle(frames, mask), direction.center) < 20


def test_two_regions_move_in_their_own_directions():
    image = smooth_texture(96, 192, seed=4)
    mask = np.zeros((96, 192), bool)
    mask[16:80, 8:88] = True
    mask[16:80, 104:184] = True
    from stages.motion.flowfield import Hint
    flow = dense_flow(mask, [Hint(48, 48, 1.0, 0.0), Hint(144, 48, 0.0, 1.0)])
    renderer = LoopRenderer(image, mask, flow, 20)
    frames = np.stack([renderer.frame(n) for n in range(4, 12)])
    left, right = mask.copy(), mask.copy()
    left[:, 96:], right[:, :96] = False, False
    assert angle_difference(mean_measured_angle(frames, left), 0) < 20
    assert angle_difference(mean_measured_angle(frames, right), 270) < 20


def test_renderer_rejects_bad_input(texture):
    mask = np.zeros(texture.shape[:2], bool)
    flow = np.zeros((2, *mask.shape), np.float32)
    with pytest.raises(InputError, match="empty"):
        LoopRenderer(texture, mask, flow, 10)
    mask[5:10, 5:10] = True
    with pytest.raises(InputError, match="at least 2 frames"):
        LoopRenderer(texture, mask, flow, 1)
    with pytest.raises(InputError, match="differ in size"):
        LoopRenderer(texture, mask[:-1], flow[:, :-1], 10)


def test_the_compiled_euler_step_samples_as_grid_sample_does():
    # Points inside, on the last row/column and off the image (zero padding), against torch's grid_sample.
    from stages.motion.engine import sample_bilinear
    from stages.motion.kernels import euler_step
    generator = torch.Generator().manual_seed(0)
    flow = torch.randn(2, 17, 23, generator=generator)
    points = torch.rand(500, 2, generator=generator) * torch.tensor([30.0, 24.0]) - 3.0
    displacement = torch.randn(500, 2, generator=generator)
    expected = displacement + sample_bilinear(flow, points + displacement)
    torch.testing.assert_close(euler_step(flow, points, displacement), expected, atol=1e-5, rtol=1e-5)


def test_the_compiled_splat_normalises_what_the_torch_splat_adds():
    from stages.motion.kernels import normalised_splat
    generator = torch.Generator().manual_seed(1)
    height, width = 19, 26
    points = torch.rand(800, 2, generator=generator) * torch.tensor([34.0, 27.0]) - 4.0
    payload = torch.rand(4, 800, generator=generator)
    forward, backward = torch.randn(800, 2, generator=generator), torch.randn(800, 2, generator=generator)
    accumulator = splat_accumulator(4, height, width, payload)
    for displacement, share in ((forward, 0.3), (backward, 0.7)):
        splat_add(accumulator, points + displacement, payload, height, width, share)
    splat = splat_image(accumulator, height, width)
    static, outside = torch.rand(3, height, width, generator=generator), torch.zeros(height, width, dtype=torch.bool)
    outside[:4] = True
    colour, known = normalised_splat(points, payload.T.contiguous(), height, width, [(forward, 0.3), (backward, 0.7)],
                                     static, outside)
    expected = torch.where(outside, static, splat[:3] / splat[3].clamp_min(1e-12))
    torch.testing.assert_close(colour, expected, atol=1e-5, rtol=1e-4)
    assert torch.equal(known, (splat[3] > 1e-6) | outside) and not known.all()
