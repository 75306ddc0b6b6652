"""Generic water read as a kind: "water", "waves" and "tide" say that a picture has water, not which.

When the region to animate is one of these (the rewrite's region "water" or "wave"), the scene's other nouns
say which water it is: a concrete water noun first ("waves on a mountain lake" → lake), else the kind most of
these words point to, the earliest of them on a tie:

- sea: coast, shore, beach, harbour, pier, lighthouse, ship, boat, bay, island …
- river: forest, woods, jungle, valley, canyon, gorge, bank, bridge, canal, mill, riverbed …
- lake: mountain, peak, alps, glacier, pines, reeds, lilies, swans, cabin …

With none of them the kind is the most common one for water, the sea: 7 of the 25 sample prompts
(data/prompts.csv) are about a sea or ocean, 6 a river or stream, 4 a lake or pond, 4 a waterfall. The
reading is recorded in the rewrite's notes either way, so that a user sees why a kind was drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

from stages.text.prompts import region_of

GENERIC_REGIONS = frozenset({"water", "wave"})
"""Region names (stages.text.prompts.ANIMATABLE_NOUNS) that say water without saying which."""
WATER_KINDS = {"sea": "sea", "ocean": "sea", "river": "river", "stream": "river", "lake": "lake"}
"""Region names of concrete water → the kind they are."""
DEFAULT_WATER_KIND = "sea"
"""The most common kind for water (module docstring)."""

WATER_HINTS: dict[str, str] = {
    **{word: "sea" for word in """
        coast coasts coastline shore shores shoreline beach beaches harbour harbours harbor harbors port pier
        piers jetty wharf marina lighthouse lighthouses ship ships shipwreck boat boats sailboat sailboats yacht
        yachts sail sails bay cove island islands reef seagull seagulls gull gulls dune dunes sand palm palms
        fjord fjords surfer surfers
    """.split()},
    **{word: "river" for word in """
        forest forests woods jungle rainforest valley valleys canyon canyons gorge ravine bank banks riverbank
        streambed riverbed bridge bridges canal canals mill mills watermill waterfall waterfalls
    """.split()},
    **{word: "lake" for word in """
        mountain mountains peak peaks alps glacier glaciers pine pines fir firs reed reeds lily lilies lilypad
        lilypads swan swans cabin cabins loch tarn
    """.split()},
}
"""Scene nouns that point to a kind of water."""


@dataclass(frozen=True)
class WaterReading:
    """The kind a generic water region stands for, and why."""

    kind: str
    """"sea", "river" or "lake" (kinds the procedural world draws)."""
    note: str
    """What was read, in words (a rewrite note)."""


def read_water(word: str, nouns: list[str]) -> WaterReading:
    """The kind of water the generic word ``word`` ("water", "waves", "tide") stands for among the scene
    ``nouns`` (lower case, prompt order)."""
    concrete = [noun for noun in nouns if WATER_KINDS.get(region_of(noun) or "")]
    if concrete:
        kind = WATER_KINDS[region_of(concrete[0])]
        return WaterReading(kind, f"read {word!r} as {kind}: {concrete[0]!r} names it")
    hints = [noun for noun in nouns if noun in WATER_HINTS]
    if not hints:
        return WaterReading(DEFAULT_WATER_KIND, f"read {word!r} as {DEFAULT_WATER_KIND} by default: no other word "
                                                "says which water (coast, forest, mountain …)")
    votes = [WATER_HINTS[noun] for noun in hints]
    kind = max(dict.fromkeys(votes), key=votes.count)  # the most votes; the earliest on a tie
    pointing = ", ".join(noun for noun in hints if WATER_HINTS[noun] == kind)
    return WaterReading(kind, f"read {word!r} as {kind}: {pointing} point{'s' if ',' not in pointing else ''} "
                              f"to a {kind}")
