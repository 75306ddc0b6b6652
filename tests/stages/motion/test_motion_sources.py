"""Per-part motion of a prompt's mask: the direction phrase for the named part, class defaults elsewhere."""

import numpy as np
import pytest

from stages.errors import InputError
from stages.motion.sources import long_axis_angle, part_flow
from stages.text.directions import parse_direction, vector_to_angle


def two_parts() -> np.ndarray:
    ids = np.zeros((60, 80), np.int32)
    ids[5:15, 10:70] = 1      # a wide band: a river running left-right
    ids[25:58, 35:45] = 2     # a tall strip: a waterfall
    return ids


def mean_angle(flow: np.ndarray, part: np.ndarray) -> float:
    return vector_to_angle(float(flow[0][part].mean()), float(flow[1][part].mean()))


def test_class_defaults_waterfalls_fall_and_rivers_follow_their_long_axis():
    ids = two_parts()
    regions = [{"id": 1, "class": "river"}, {"id": 2, "class": "waterfall"}]
    flow, records = part_flow(ids, regions, region="river", direction=None, speed=2.0)
    assert mean_angle(flow, ids == 2) == pytest.approx(270.0)
    assert mean_angle(flow, ids == 1) == pytest.approx(0.0, abs=1e-6)
    assert np.allclose(np.hypot(*flow)[ids > 0], 2.0) and not flow[:, ids == 0].any()
    assert [r["source"].split(":")[0] for r in records] == ["default", "default"]


def test_the_direction_moves_the_named_part_only_inside_its_range():
    ids = two_parts()
    regions = [{"id": 1, "class": "river"}, {"id": 2, "class": "waterfall"}]
    flow, records = part_flow(ids, regions, region="river", direction="from right to left", seed=3)
    direction = parse_direction("from right to left")
    low, high = direction.low, direction.high
    angle = mean_angle(flow, ids == 1)
    assert (angle - low) % 360 <= (high - low) % 360
    assert mean_angle(flow, ids == 2) == pytest.approx(270.0)
    assert records[0]["source"].startswith("direction phrase")


def test_a_direction_without_a_matching_part_moves_every_part():
    ids = two_parts()
    flow, _ = part_flow(ids, [{"id": 1, "class": "lake"}, {"id": 2, "class": "lake"}], "sea", "downwards")
    for part in (1, 2):
        assert abs(mean_angle(flow, ids == part) - 270) <= 10


def test_long_axis_of_a_diagonal_band_and_unknown_classes():
    rows, cols = np.mgrid[0:100, 0:100]
    band = np.abs(rows - (99 - cols)) < 4  # from bottom left to top right: 45° in viewer space
    assert long_axis_angle(band) == pytest.approx(45.0, abs=1.0)
    with pytest.raises(InputError, match="no default motion"):
        part_flow(two_parts(), [{"id": 1, "class": "fountain"}], "fountain", None)
