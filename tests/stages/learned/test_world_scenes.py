"""The training scenes G_flow learns the text DAG's world from: captions like prompts, truth they agree with."""

import numpy as np

from stages.learned.text import caption_direction
from stages.learned.world_scenes import NOUNS, SIGN_KNOWN_KINDS, sign_free_mask, world_scene
from stages.text.directions import angle_difference, parse_direction, vector_to_angle


def test_captions_name_the_region_and_parse_back_to_the_direction_its_truth_moves_in():
    named = 0
    for seed in range(40):
        drawn = world_scene(seed, 48, 64, period=8)
        regions = {region.name: region for region in drawn.scene.regions}
        assert list(regions) == list(drawn.kinds) and any(noun in drawn.caption for noun in NOUNS[drawn.kinds[0]])
        masks = [region.mask for region in drawn.scene.regions]
        assert sum(mask.astype(int) for mask in masks).max() <= 1  # disjoint
        read = caption_direction(drawn.caption)  # as G_flow's direction map reads it
        if drawn.direction is None and read == (0.0, 0.0):
            continue
        named += drawn.direction is not None
        direction = parse_direction(drawn.caption)  # the named one, or a verb's ("a waterfall falling")
        if drawn.direction is not None:
            assert direction.name == parse_direction(drawn.direction).name, drawn.caption
        truth = vector_to_angle(*regions[drawn.kinds[0]].velocity)
        assert angle_difference(truth, direction.center) <= (direction.high - direction.low) % 360 / 2 + 1e-6
    assert 20 <= named <= 38  # most captions name a direction, not all


def test_the_sign_free_pixels_are_the_regions_nothing_determines():
    for seed in range(40):
        drawn = world_scene(seed, 48, 64, period=8)
        free = sign_free_mask(drawn)
        for index, region in enumerate(drawn.scene.regions):
            determined = region.name in SIGN_KNOWN_KINDS or (index == 0 and drawn.direction is not None)
            assert (free[region.mask] == (not determined)).all()
        assert not free[~drawn.scene.mask].any()
