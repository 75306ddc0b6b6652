"""Prompts as people copy them from prompt-sharing sites: artist credits without a marker ("…, golden ratio,
jane doe, hr smith"), first names that are also scene words ("dawn", "summer", "river"), scene names ("mount
fuji", "victoria falls") and generic water ("water", "waves", "tide") read as the kind the scene points to.
Every expected twin is written out by hand; the snapshot test holds every prompt that rewrote before these
rules to what it gave then."""

import ast
import json
import re
import sys
from pathlib import Path

import pytest

from stages.diffusion.procedural import procedural_twins, world_kinds
from stages.errors import InputError
from stages.text.names import census_names, is_person_name
from stages.text.prompts import RewriteOptions, region_of, rewrite_prompt
from tasks.prompt_list import read_prompt_list

from tests.paths import ROOT
SNAPSHOT = Path(__file__).with_name("rewrite_snapshot.json")
SUFFIX = ", nature, bright, realistic, photography, 4k, 8k"

# (prompt, the scene nouns of its twin prompt, the region, what the notes say about names), decided by reading.
CREDIT_CASES = [
    # the two shapes: a credit list after quality words, initials, no marker
    ("a lighthouse on a rocky coast at sunset, waves, epic composition, golden ratio, jane doe, hr smith",
     "lighthouse, coast, sunset, waves", "wave", ["removed 'jane doe'", "removed 'hr smith'"]),
    # after a tag of style words the list rule of stages.text.prompts takes the name (no note)
    ("a boat on a misty river, digital art, perspective, john roe", "boat, river", "river", []),
    # one-word handles go with the names they follow
    ("a waterfall in a pine forest, highly detailed, james gurney, thomas kinkade, wlop, artgerm",
     "waterfall, pine, forest", "waterfall",
     ["removed 'james gurney'", "removed 'thomas kinkade'", "removed 'wlop'", "removed 'artgerm'"]),
    ("a stormy sea at dusk, dawn, rain, j.m.w. turner", "sea, dusk, dawn, rain", "sea", ["removed 'j.m.w. turner'"]),
    ("a small creek in the woods, j. m. w. turner, alphonse mucha", "creek, woods", "stream",
     ["removed 'j. m. w. turner'", "removed 'alphonse mucha'"]),
    ("a brook in a meadow, sunny, hr giger", "brook, meadow", "stream", ["removed 'hr giger'"]),
    ("ocean waves at night, epic, john constable, william turner", "ocean, waves, night", "ocean",
     ["removed 'john constable'", "removed 'william turner'"]),
    ("clouds over a wheat field, summer rain, claude monet, vincent van gogh", "clouds, wheat, field, summer, rain",
     "cloud", ["kept 'summer rain'", "removed 'claude monet'", "removed 'vincent van gogh'"]),
    ("a lake under a cloudy sky, jane doe and john roe, dawn", "lake, cloudy, sky, dawn", "lake",
     ["removed 'jane doe and john roe'", "kept 'dawn'"]),
    ("Storm Clouds Over The Ocean, Jane Doe, Greg Smith", "storm, clouds, ocean", "cloud",
     ["removed 'jane doe'", "removed 'greg smith'"]),
    # first names that are scene words, and scene names, stay
    ("the ocean at sunset, brook, sky, river, dawn, summer", "ocean, sunset, brook, sky, river, dawn, summer",
     "ocean", []),
    ("a rainbow over a gorge with a river, victoria falls, jane doe", "rainbow, gorge, river, victoria, falls",
     "river", ["kept 'victoria falls'", "removed 'jane doe'"]),
    ("a lake in the alps, river jordan, jane doe", "lake, alps, river, jordan", "lake",
     ["kept 'river jordan'", "removed 'jane doe'"]),
    ("mount fuji above a calm lake, cherry blossoms, jane doe", "fuji, lake, blossoms", "lake", ["removed 'jane doe'"]),
    ("a waterfall at dawn, brook smith", "waterfall, dawn, brook, smith", "waterfall", ["kept 'brook smith'"]),
]

# (prompt, the scene nouns of its twin prompt, the region, the kind of water it is read as), decided by reading:
# the prompts, and captions in the style of an image captioner describing videos of water.
WATER_CASES = [
    ("a lighthouse on a coast with water everywhere", "lighthouse, coast, water, everywhere", "water", "sea"),
    ("a harbour with fishing boats, calm water, edward hopper", "harbour, boats, water", "water", "sea"),
    ("a boat on calm water", "boat, water", "water", "sea"),
    ("water flowing over mossy rocks in a forest, j. smith", "water, rocks, forest", "water", "river"),
    ("still water surrounded by snowy mountains and pine trees", "water, mountains, pine, trees", "water", "lake"),
    ("waves crashing on the shore, mary cassatt", "waves, shore", "wave", "sea"),
    ("a sailboat at low tide, john roe", "sailboat, tide", "water", "sea"),
    ("waves on a mountain lake at dawn", "waves, mountain, lake, dawn", "wave", "lake"),
    ("a body of water with a mountain in the background", "body, water, mountain", "water", "lake"),
    ("a large body of water next to a forest", "body, water, forest", "water", "river"),
    ("the sun is setting over the water", "sun, water", "water", "sea"),
    ("a view of the water from a beach", "water, beach", "water", "sea"),
]


@pytest.mark.parametrize("prompt, nouns, region, said", CREDIT_CASES,
                         ids=[f"c{number:02d}" for number in range(len(CREDIT_CASES))])
def test_names_without_a_marker_leave_the_twin_and_scene_words_stay(prompt, nouns, region, said):
    rewrite = rewrite_prompt(prompt)
    assert (rewrite.twin_prompt, rewrite.region) == (nouns + SUFFIX, region)
    name_notes = [note for note in rewrite.notes if note.startswith(("removed '", "kept '"))]
    assert [note.split(":")[0].split(" as ")[0] for note in name_notes] == said


@pytest.mark.parametrize("prompt, nouns, region, kind", WATER_CASES,
                         ids=[f"w{number:02d}" for number in range(len(WATER_CASES))])
def test_generic_water_is_read_as_the_kind_the_scene_points_to_and_drawn(prompt, nouns, region, kind):
    rewrite = rewrite_prompt(prompt)
    assert (rewrite.twin_prompt, rewrite.region, rewrite.water_kind) == (nouns + SUFFIX, region, kind)
    assert any(note.startswith("read '") and f" as {kind}" in note for note in rewrite.notes)
    assert world_kinds(rewrite.region, rewrite.nouns, rewrite.water_kind)[0] == kind


def test_water_with_nothing_to_say_which_is_the_sea_by_default_and_the_default_is_recorded():
    rewrite = rewrite_prompt("the sun is setting over the water")
    assert rewrite.water_kind == "sea" and any("by default" in note for note in rewrite.notes)
    drawn = procedural_twins(rewrite, seed=0, height=64, width=64)  # refused before: "cannot draw a 'water'"
    assert [region.name for region in drawn.scene.regions] == ["sea"]


def test_the_reading_of_water_does_not_depend_on_which_nouns_the_twin_keeps():
    only = rewrite_prompt("a large body of water next to a forest", options=RewriteOptions(keep="animatable"))
    assert only.nouns == ["water"] and only.water_kind == "river"
    assert world_kinds("water", ["water", "forest"]) == ["river"]  # a rewrite without a reading: from its nouns
    assert rewrite_prompt("a lake with rocks, oil painting").water_kind is None


@pytest.mark.parametrize("words, name", [
    ("jane doe", True), ("hr smith", True), ("j.m.w. turner", True), ("vincent van gogh", True),
    ("dawn light", False), ("summer rain", False), ("river jordan", False), ("victoria falls", False),
    ("mount fuji", False), ("golden ratio", False), ("windy cafe", False), ("jane", False),
])
def test_a_person_name_is_a_first_name_or_initials_then_a_surname(words, name):
    assert is_person_name(words.split()) is name


def test_the_census_lists_are_the_packaged_ones():
    first, last = census_names("first"), census_names("last")
    assert (len(first), len(last)) == (1_219 + 4_275 - 331, 88_799)  # 331 names are both a man's and a woman's
    assert {"jane", "john", "dawn", "summer"} <= first and {"doe", "smith", "rutkowski"} <= last


def test_every_prompt_that_rewrote_before_rewrites_the_same():
    records = json.loads(SNAPSHOT.read_text())
    assert len(records) >= 150
    changed = [(record["prompt"], now) for record in records
               for now in [rewrite_record(record["prompt"], record["region_given"], record["direction_given"])]
               if now != record]
    assert changed == []


def snapshot_prompts() -> list[tuple[str, str | None, str | None]]:
    """(prompt, region, direction) of every row of data/prompts.csv and every string of the test modules that
    names an animatable noun in three words or more (twin prompts and messages included: more to hold)."""
    rows = [(item.values["prompt"], item.values["region"] or None, item.values["direction"] or None)
            for item in read_prompt_list(ROOT / "data/prompts.csv")]
    literals: dict[str, None] = {}
    for path in sorted(ROOT.glob("tests/test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "\n" not in node.value:
                words = re.findall(r"[a-z][a-z-]*", node.value.lower())
                if len(words) >= 3 and any(region_of(word) for word in words):
                    literals[node.value] = None
    return list(dict.fromkeys(rows + [(prompt, None, None) for prompt in literals]))


def rewrite_record(prompt: str, region: str | None, direction: str | None) -> dict | None:
    """What the snapshot holds of one rewrite (None when the prompt is refused)."""
    try:
        rewrite = rewrite_prompt(prompt, region, direction)
    except InputError:
        return None
    return {"prompt": prompt, "region_given": region, "direction_given": direction,
            "twin_prompt": rewrite.twin_prompt, "region": rewrite.region, "direction": rewrite.direction}


if __name__ == "__main__":  # rewrite the snapshot on purpose only: its diff is what a change of rules changed
    records = [record for entry in snapshot_prompts() for record in [rewrite_record(*entry)] if record]
    SNAPSHOT.write_text(json.dumps(records, indent=1) + "\n")
    print(f"{len(records)} rewrites written to {SNAPSHOT}", file=sys.stderr)
