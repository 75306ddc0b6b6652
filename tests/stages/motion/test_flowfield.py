import numpy as np
import pytest

from stages.errors import InputError
from stages.motion.flowfield import Hint, check_flow, dense_flow, flow_to_rgb, region_hints


def two_regions():
    mask = np.zeros((40, 80), bool)
    mask[5:35, 2:35] = True
    mask[5:35, 45:78] = True
    return mask


def test_flow_is_zero_outside_and_each_region_keeps_its_own_hint():
    mask = two_regions()
    flow = dense_flow(mask, [Hint(10, 20, 2.0, 0.0), Hint(60, 20, 0.0, -1.0)])
    assert np.all(flow[:, ~mask] == 0)
    np.testing.assert_allclose(flow[:, mask[:, :40].nonzero()[0], mask[:, :40].nonzero()[1]].T, [[2.0, 0.0]] * mask[:, :40].sum(), atol=1e-6)
    right = np.zeros_like(mask)
    right[:, 40:] = mask[:, 40:]
    np.testing.assert_allclose(flow[:, right].T, [[0.0, -1.0]] * right.sum(), atol=1e-6)


def test_hints_in_one_region_are_interpolated_smoothly():
    mask = np.ones((20, 100), bool)
    flow = dense_flow(mask, [Hint(0, 10, 1.0, 0.0), Hint(99, 10, -1.0, 0.0)], smoothness=0.2)
    row = flow[0, 10]
    assert row[0] > 0.9 and row[-1] < -0.9 and abs(row[49:51].mean()) < 0.05
    assert np.all(np.diff(row) <= 1e-6)  # monotone: no kinks


def test_region_hints_point_at_the_angle_with_the_speed():
    hints = region_hints(two_regions(), 90.0, speed=2.0)
    assert len(hints) == 2
    for hint in hints:
        assert (hint.dx, hint.dy) == pytest.approx((0.0, -2.0), abs=1e-9)


def test_bad_hints_masks_and_flows_are_refused():
    with pytest.raises(InputError, match="X,Y,DX,DY"):
        Hint.parse("1,2,3")
    with pytest.raises(InputError, match="finite"):
        Hint.parse("1,2,nan,0")
    assert Hint.parse("1, 2, 0.5, -1") == Hint(1, 2, 0.5, -1)
    with pytest.raises(InputError, match="empty"):
        dense_flow(np.zeros((5, 5), bool), [Hint(1, 1, 1, 1)])
    bad = np.zeros((2, 5, 5), np.float32)
    bad[0, 2, 2] = np.inf
    with pytest.raises(InputError, match="NaN or infinite"):
        check_flow(bad, (5, 5))
    with pytest.raises(InputError, match="shape"):
        check_flow(np.zeros((3, 5, 5)), (5, 5))


def test_flow_picture_encodes_direction_as_hue():
    flow = np.zeros((2, 2, 2), np.float32)
    flow[0, 0, 0] = 1.0   # left to right: red
    flow[1, 0, 1] = 1.0   # downwards (270°): violet/blue
    picture = flow_to_rgb(flow)
    assert picture.dtype == np.uint8 and picture.shape == (2, 2, 3)
    assert tuple(picture[0, 0]) == (255, 0, 0)
    assert tuple(picture[1, 1]) == (255, 255, 255)  # no motion: white
    assert picture[0, 1, 2] == 255 and picture[0, 1, 1] == 0
