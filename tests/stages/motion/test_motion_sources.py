"""Per-part motion of a prompt's mask: the motion sources (G_flow, the direction phrase, class defaults, zero)."""

import numpy as np
import pytest

from stages.errors import InputError
from stages.motion.sources import (FlowOptions, MotionRequest, MotionStep, caption_of, long_axis_angle, mirror_average,
                                   part_flow)
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


def river_and_waterfall() -> tuple[np.ndarray, np.ndarray, list[dict]]:
    ids = two_parts()
    picture = np.random.default_rng(0).integers(0, 255, (*ids.shape, 3), dtype=np.uint8)
    return picture, ids, [{"id": 1, "class": "river"}, {"id": 2, "class": "waterfall"}]


@pytest.mark.parametrize("source, river_angle", [("direction", 180.0), ("class_default", 0.0)])
def test_the_rule_sources_follow_or_ignore_the_phrase_and_the_loop_moves_by_scale(source, river_angle):
    picture, ids, regions = river_and_waterfall()
    request = MotionRequest("a river and a waterfall", "river", "from right to left", seed=0)
    flow, record = MotionStep(FlowOptions(source=source, speed=2.0, scale=0.25))(picture, ids, regions, request)
    assert abs(mean_angle(flow, ids == 1) - river_angle) <= 10
    assert mean_angle(flow, ids == 2) == pytest.approx(270.0)
    assert np.allclose(np.hypot(*flow)[ids > 0], 0.5)  # speed 2 × scale 0.25
    assert record["source"] == source and record["scale"] == 0.25 and len(record["parts"]) == 2


def test_zero_motion_is_still():
    picture, ids, regions = river_and_waterfall()
    flow, record = MotionStep(FlowOptions(source="zero"))(picture, ids, regions, MotionRequest("a river", "river",
                                                                                             None, 0))
    assert flow.shape == (2, *ids.shape) and not flow.any()
    assert [part["source"] for part in record["parts"]] == ["zero", "zero"]


def test_g_flow_is_clamped_zero_outside_the_mask_and_recorded_per_part(tmp_path):
    from tests.learned_helpers import flow_checkpoint

    flow_checkpoint(tmp_path / "g_flow", seed=1)
    picture, ids, regions = river_and_waterfall()
    options = FlowOptions(flow_model=str(tmp_path / "g_flow"), max_flow=0.05, scale=0.5)
    flow, record = MotionStep(options)(picture, ids, regions, MotionRequest("a river", "river", None, 0))
    assert not flow[:, ids == 0].any() and flow[:, ids > 0].any()
    assert np.abs(flow).max() <= 0.05 * 0.5 + 1e-7
    assert record["source"] == "g_flow" and record["parts"][0]["source"].startswith("G_flow (text-conditioned)")
    river = record["parts"][0]
    assert river["speed"] == pytest.approx(float(np.hypot(*(flow[:, ids == 1] / 0.5).mean(axis=1))), abs=1e-4)


def test_g_flow_reads_a_direction_given_apart_from_the_prompt():
    assert caption_of(MotionRequest("a calm lake", "lake", "to the left", 0)) == "a calm lake, to the left"
    assert caption_of(MotionRequest("a lake flowing to the left", "lake", "to the left", 0)) == \
        "a lake flowing to the left"


def test_a_missing_g_flow_names_what_to_run(tmp_path):
    with pytest.raises(InputError, match="g_flow"):
        MotionStep(FlowOptions(flow_model=str(tmp_path / "g_flow")))


def test_mirror_average_keeps_the_sign_the_direct_prediction_chose():
    ids = two_parts()
    regions = [{"id": 1, "class": "river"}, {"id": 2, "class": "waterfall"}]
    direct, mirrored = np.zeros((2, *ids.shape), np.float32), np.zeros((2, *ids.shape), np.float32)
    direct[:, ids == 1] = np.array([[0.8], [0.2]])      # the river: the mirrored one picked the other sign
    mirrored[:, ids == 1] = np.array([[-0.6], [0.0]])
    direct[:, ids == 2] = np.array([[0.2], [-1.0]])     # the waterfall: both fall, tilted either way
    mirrored[:, ids == 2] = np.array([[-0.2], [-0.8]])
    averaged = mirror_average(direct, mirrored, ids, regions)
    np.testing.assert_allclose(averaged[:, ids == 1].mean(axis=1), [0.7, 0.1], atol=1e-5)
    np.testing.assert_allclose(averaged[:, ids == 2].mean(axis=1), [0.0, -0.9], atol=1e-5)
    assert not averaged[:, ids == 0].any()


def test_mirrored_g_flow_mirrors_its_flow_with_the_picture_and_caption(tmp_path):
    from stages.learned.data import mirror_flow
    from tests.learned_helpers import flow_checkpoint

    flow_checkpoint(tmp_path / "g_flow", seed=1)
    picture, ids, regions = river_and_waterfall()
    step = MotionStep(FlowOptions(flow_model=str(tmp_path / "g_flow"), scale=1.0))
    flow, _ = step(picture, ids, regions, MotionRequest("a river flowing to the left", "river", None, 0))
    mirrored, _ = step(np.ascontiguousarray(picture[:, ::-1]), np.ascontiguousarray(ids[:, ::-1]), regions,
                       MotionRequest("a river flowing to the right", "river", None, 0))
    unmirrored = mirror_flow(mirrored)
    for part in regions:   # equal up to the sign each part's average chose
        pixels = ids == part["id"]
        sign = np.sign(float(flow[:, pixels].mean(axis=1) @ unmirrored[:, pixels].mean(axis=1)))
        np.testing.assert_allclose(sign * unmirrored[:, pixels], flow[:, pixels], atol=1e-6)
    assert flow[:, ids > 0].any()
    single, _ = MotionStep(FlowOptions(flow_model=str(tmp_path / "g_flow"), scale=1.0, mirror=False))(
        picture, ids, regions, MotionRequest("a river flowing to the left", "river", None, 0))
    assert not np.allclose(single, flow)   # one prediction alone is not mirror-symmetric
