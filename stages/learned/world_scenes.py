"""Training scenes for the learned networks, drawn from the text DAG's own world.

Each scene is :func:`stages.scenes.landscapes.scene_for` of one to three of the world's kinds (river, waterfall,
lake, sea, sky, clouds), the first being the caption's region (drawn with odds that even out their areas,
:data:`KIND_AREA`); the caption names a direction for that region in
most scenes (:data:`NAMED_SHARE`; a waterfall is only ever named falling downwards), drawn inside the direction's range
as the procedural twins draw it. The caption is phrased the way the prompt list's prompts are — the region and
its motion, the other moving things, a setting and an artistic style ("a stream running from right to left
under drifting clouds, through a valley, watercolor painting") — so G_flow reads at training what the text DAG
gives it. Scenes are seeded; ``synth_train.seed`` keeps their seeds disjoint from the prompt list's.

The world draws the sign of a region's motion at random when nothing determines it, so a scene also says where
that is (:func:`sign_free_mask`): G_flow's loss there takes whichever sign of the truth is closer
(``stages.learned.losses.sign_free_endpoint_error``) instead of learning to predict zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stages.scenes.landscapes import WORLD_KINDS, Scene, scene_for
from stages.text.directions import DIRECTIONS, parse_direction

NOUNS = {"river": ("a river", "a stream", "a wide river"), "waterfall": ("a waterfall", "a tall waterfall", "waterfalls"),
         "lake": ("a lake", "a pond", "a calm lake"), "sea": ("the sea", "the ocean", "a stormy sea"),
         "sky": ("the sky", "an evening sky"), "clouds": ("clouds", "fluffy clouds", "white clouds")}
"""Per world kind, the nouns a caption may call it by."""
VERBS = {"river": ("flowing", "running", "winding"), "waterfall": ("falling", "cascading", "pouring"),
         "lake": ("rippling", "shimmering"), "sea": ("rolling", "with waves"), "sky": ("drifting", "moving"),
         "clouds": ("drifting", "moving", "floating")}
"""Per world kind, how a caption says it moves (or it does not say: "a waterfall in a canyon")."""
DIRECTION_FORMS = ("{}", "in the {} direction", "heading {}")
"""How a caption names a direction (each form parses back to it, ``stages.text.directions``); a horizontal one
may also read "from left to right"."""
COMPANIONS = {"river": "along a river", "waterfall": "beside a waterfall", "lake": "by a lake", "sea": "by the sea",
              "sky": "under a wide sky", "clouds": "under drifting clouds"}
"""How a caption mentions a kind that moves but is not its region."""
SETTINGS = ("between green hills", "in front of a mountain", "through a valley", "past a castle", "in a forest",
            "near a village")
STYLES = ("oil painting", "watercolor painting", "in the style of van gogh", "ukiyo-e woodblock print",
          "pixel art", "charcoal sketch", "impressionist painting", "digital art", "pastel drawing")
KIND_AREA = {"sky": 0.43, "clouds": 0.15, "sea": 0.52, "lake": 0.36, "river": 0.19, "waterfall": 0.125}
"""Mean share of the picture each kind covers when drawn alone (60 seeds). The region is drawn with odds
inversely proportional to it, so every kind gives G_flow about the same number of moving pixels to learn from
(drawn uniformly, a waterfall would give an eighth of what the sea does, and G_flow would not learn that it
falls)."""
EXTRA_KINDS = (0.5, 0.35, 0.15)
"""Probability of 0, 1 and 2 moving kinds besides the region."""
NAMED_SHARE = {"waterfall": 0.2}
"""Share of the scenes whose caption names a direction for the region, by kind (others: 0.8): a waterfall falls
whether its caption says so or not, and G_flow should learn that from the picture."""
DIRECTION_JITTER = 0.5
"""A named direction's angle is drawn within this fraction of its range (as the procedural twins' default)."""
SIGN_KNOWN_KINDS = ("waterfall",)
"""Kinds whose direction of motion never depends on chance: a waterfall always falls. Every other kind moves
either way along its axis unless a named direction moves it."""


@dataclass(frozen=True)
class WorldScene:
    """One training scene of the world and its prompt-like caption."""

    scene: Scene
    """the scene (regions and velocities: the exact truth)."""
    caption: str
    """the prompt-like caption."""
    kinds: tuple[str, ...]
    """the world kinds drawn, the region first."""
    direction: str | None
    """the direction the caption names for the region (None: the kind's default motion)."""


def world_scene(seed: int, height: int, width: int, period: int = 60) -> WorldScene:
    """The training scene of ``seed`` at height × width pixels, its texture looping every ``period`` frames."""
    rng = np.random.default_rng([seed, 2024])
    odds = np.array([1 / KIND_AREA[kind] for kind in WORLD_KINDS])
    region = str(rng.choice(WORLD_KINDS, p=odds / odds.sum()))
    others = [kind for kind in WORLD_KINDS if kind != region]
    extra = rng.choice(len(EXTRA_KINDS), p=EXTRA_KINDS)
    kinds = (region, *(str(kind) for kind in rng.choice(others, size=extra, replace=False)))
    direction = None
    if rng.random() < NAMED_SHARE.get(region, 0.8):
        direction = "downwards" if region == "waterfall" else DIRECTIONS[rng.integers(len(DIRECTIONS))].name
    angle = parse_direction(direction).sample(seed, DIRECTION_JITTER) if direction else None
    scene = scene_for(kinds, angle, seed, height, width, period)
    return WorldScene(scene, caption(rng, kinds, direction), kinds, direction)


def caption(rng: np.random.Generator, kinds: tuple[str, ...], direction: str | None) -> str:
    """A prompt-like caption of ``kinds`` (the region first) moving in ``direction`` (None: unnamed)."""
    region = kinds[0]
    words = [f"{rng.choice(NOUNS[region])} {rng.choice(VERBS[region] + ('',))}".strip()]
    if direction:
        forms = DIRECTION_FORMS + (("from {}",) if direction.startswith(("left to", "right to")) else ())
        words.append(str(rng.choice(forms)).format(direction))
    words += [COMPANIONS[kind] for kind in kinds[1:]]
    return " ".join(words) + f", {rng.choice(SETTINGS)}, {rng.choice(STYLES)}"


def sign_free_mask(drawn: WorldScene) -> np.ndarray:
    """Pixels bool (H, W) of the regions whose direction along their axis the caption leaves to chance: all but
    waterfalls and the region a named direction moves."""
    named = drawn.kinds[0] if drawn.direction else None
    free = [region.mask for region in drawn.scene.regions
            if region.name not in SIGN_KNOWN_KINDS and region.name != named]
    return np.logical_or.reduce(free) if free else np.zeros(drawn.scene.mask.shape, bool)
