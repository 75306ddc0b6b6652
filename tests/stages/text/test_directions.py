import numpy as np
import pytest

from stages.text.directions import (DIRECTIONS, angle_difference, angle_to_vector, parse_direction,
                               vector_to_angle)
from stages.errors import InputError


@pytest.mark.parametrize("direction", DIRECTIONS, ids=lambda d: d.name)
def test_every_canonical_phrase_parses_to_itself(direction):
    assert parse_direction(direction.name) == direction
    assert parse_direction(f"flowing in {direction.name} direction") == direction


@pytest.mark.parametrize("phrase, expected", [
    ("flowing from left to right", "left to right"), ("to the left", "right to left"),
    ("flowing right", "left to right"), ("downwards", "downwards"), ("down", "downwards"),
    ("Flowing LEFT!", "right to left"), ("from the right", "right to left"),
    ("rising up and to the right", "upwards, left to right"), ("from top to bottom", "downwards"),
    ("to the right and slightly down", "left to right, downwards"),
])
def test_natural_variants(phrase, expected):
    assert parse_direction(phrase).name == expected


@pytest.mark.parametrize("phrase", ["sideways", "", "left and right", "up down"])
def test_unknown_phrases_list_the_accepted_ones(phrase):
    with pytest.raises(InputError, match="accepted: .*left to right, upwards"):
        parse_direction(phrase)


def test_sampling_is_seeded_and_inside_the_range():
    for direction in DIRECTIONS:
        angles = [direction.sample(seed) for seed in range(50)]
        assert angles == [direction.sample(seed) for seed in range(50)]
        half_range = (direction.high - direction.low) / 2
        assert max(angle_difference(a, direction.center) for a in angles) <= half_range / 2 + 1e-9
        assert len(set(angles)) > 40


def test_angle_vector_conventions():
    # 90° is "upwards": in image coordinates rows grow downwards, so dy is negative.
    np.testing.assert_allclose(angle_to_vector(90), (0, -1), atol=1e-12)
    np.testing.assert_allclose(angle_to_vector(0), (1, 0), atol=1e-12)
    assert vector_to_angle(0, 1) == pytest.approx(270)
    assert angle_difference(355, 5) == pytest.approx(10)
