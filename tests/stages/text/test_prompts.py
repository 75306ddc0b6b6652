"""Prompt rewriting: twin prompts, regions, directions, offline tagger data and bad input."""

import json
import pickle
import re
from pathlib import Path

import pytest

from stages.errors import InputError
from stages.text.nltk_setup import TAGGER_NAME, build_tagger_data, read_tagger_pickle, source_pickle
from stages.text.prompts import (STYLE_WORDS, RewriteOptions, clean_prompt, find_direction,
                            rewrite_prompt)
from tasks.prompt_list import read_prompt_list

from tests.paths import ROOT

# Hand-labelled: the animatable noun each prompt of data/prompts.csv is about, as it is written there.
ANIMATABLE_NOUN = {
    "starry-river": "river", "monet-waterfall": "waterfall", "hokusai-ocean": "ocean", "ukiyo-lake": "lake",
    "gogh-clouds": "clouds", "turner-sea": "sea", "watercolor-stream": "stream", "pixel-waterfall": "waterfall",
    "anime-clouds": "clouds", "klimt-river": "river", "cubist-ocean": "ocean", "charcoal-lake": "lake",
    "pointillist-sea": "sea", "impressionist-pond": "pond", "chinese-waterfall": "waterfalls",
    "munch-clouds": "clouds", "vaporwave-ocean": "ocean", "surreal-river": "river", "pastel-lake": "lake",
    "stained-glass-waterfall": "waterfall", "bob-ross-stream": "stream", "comic-sea": "sea",
    "gouache-clouds": "clouds", "baroque-river": "river", "acrylic-ocean": "ocean",
}
# Hand-labelled: the style words and names of each prompt that must not reach its twin.
STYLE_TERMS = {
    "starry-river": {"style", "starry", "nights", "painting"},
    "monet-waterfall": {"oil", "painting", "claude", "monet"},
    "hokusai-ocean": {"style", "hokusai", "woodblock", "print"}, "ukiyo-lake": {"ukiyo-e", "woodblock", "print"},
    "gogh-clouds": {"style", "vincent", "van", "gogh"}, "turner-sea": {"oil", "painting", "william", "turner"},
    "watercolor-stream": {"watercolor", "painting", "direction"}, "pixel-waterfall": {"pixel", "art"},
    "anime-clouds": {"studio", "ghibli", "anime", "style"}, "klimt-river": {"style", "gustav", "klimt"},
    "cubist-ocean": {"cubist", "painting", "manner", "picasso"}, "charcoal-lake": {"charcoal", "sketch"},
    "pointillist-sea": {"pointillism", "style", "georges", "seurat"},
    "impressionist-pond": {"impressionist", "painting"},
    "chinese-waterfall": {"chinese", "ink", "painting"}, "munch-clouds": {"style", "edvard", "munch"},
    "vaporwave-ocean": {"vaporwave", "digital", "art"}, "surreal-river": {"style", "salvador", "dali"},
    "pastel-lake": {"pastel", "drawing"}, "stained-glass-waterfall": {"stained", "glass", "art"},
    "bob-ross-stream": {"painting", "bob", "ross"}, "comic-sea": {"comic", "book", "illustration"},
    "gouache-clouds": {"gouache", "style"}, "baroque-river": {"baroque", "oil", "painting"},
    "acrylic-ocean": {"acrylic", "painting", "canvas"},
}


def twin_words(twin_prompt: str) -> set[str]:
    return set(re.findall(r"[a-z0-9'-]+", twin_prompt.lower()))


def test_every_prompt_of_the_list_keeps_its_animatable_noun_and_drops_its_style():
    items = read_prompt_list(ROOT / "data/prompts.csv")
    assert len(items) >= 20 and {item.id for item in items} == set(ANIMATABLE_NOUN)
    for item in items:
        values = item.values
        rewrite = rewrite_prompt(values["prompt"], values["region"] or None, values["direction"] or None)
        words = twin_words(rewrite.twin_prompt)
        assert ANIMATABLE_NOUN[item.id] in words, (item.id, rewrite.twin_prompt)
        assert not words & STYLE_TERMS[item.id], (item.id, rewrite.twin_prompt)
        assert not words & STYLE_WORDS - {"4k", "8k", "photography"}, (item.id, rewrite.twin_prompt)
        assert rewrite.twin_prompt.endswith(", nature, bright, realistic, photography, 4k, 8k")


def test_the_paper_example_rewrites_as_the_paper_describes():
    rewrite = rewrite_prompt("a large river flowing in front of a mountain in the style of starry nights painting")
    assert rewrite.twin_prompt == "river, mountain, nature, bright, realistic, photography, 4k, 8k"
    assert rewrite.region == "river" and rewrite.direction is None and rewrite.notes == []


@pytest.mark.parametrize("prompt, twin", [
    ("a river in the valley in anime style", "river, valley"),
    ("a lake with rocks in the style of Monet, at dawn", "lake, rocks, dawn"),
    ("a waterfall, oil painting by Claude Monet, in a forest", "waterfall, forest"),
])
def test_style_clauses_end_where_the_scene_goes_on(prompt, twin):
    assert rewrite_prompt(prompt).twin_prompt == twin + ", nature, bright, realistic, photography, 4k, 8k"


def test_region_is_the_first_animatable_noun_unless_given():
    assert rewrite_prompt("clouds above a lake, oil painting").region == "cloud"
    assert rewrite_prompt("a lake under clouds, oil painting").region == "lake"
    given = rewrite_prompt("a lake under clouds, oil painting", region="Clouds ")
    assert given.region == "clouds" and "clouds" in given.twin_prompt
    added = rewrite_prompt("a castle on a hill, watercolor", region="sky")
    assert added.twin_prompt.startswith("sky, castle, hill,") and "added the region 'sky'" in added.notes[0]
    only = rewrite_prompt("a river by a castle, oil painting", options=RewriteOptions(keep="animatable"))
    assert only.twin_prompt == "river, nature, bright, realistic, photography, 4k, 8k"


@pytest.mark.parametrize("prompt, direction, kept", [
    ("clouds moving in the left to right direction over a sea", "left to right", "sea"),
    ("a river flowing to the left past a mill, watercolor", "right to left", "mill"),
    ("a waterfall falling down a cliff", "downwards", "cliff"),
    ("smoke rising upwards, right to left, from a chimney", "upwards, right to left", "chimney"),
    ("a stream running from right to left through a meadow", "right to left", "meadow"),
    ("a calm lake at dawn", None, "dawn"),
])
def test_directions_are_read_from_the_prompt_and_removed_from_the_twin(prompt, direction, kept):
    rewrite = rewrite_prompt(prompt)
    assert rewrite.direction == direction
    words = twin_words(rewrite.twin_prompt)
    assert kept in words and not words & {"left", "right", "direction", "down", "upwards"}


def test_an_explicit_direction_wins_and_its_range_is_the_papers():
    rewrite = rewrite_prompt("a river flowing to the left", direction="downwards, left to right")
    assert rewrite.direction == "downwards, left to right" and rewrite.direction_range == (280, 315)


def test_find_direction_keeps_the_motion_word_and_the_rest_of_the_prompt():
    direction, rest = find_direction("waves rolling to the right near a pier")
    assert direction.name == "left to right"
    assert rest.split() == ["waves", "rolling", "near", "a", "pier"]


@pytest.mark.parametrize("prompt, message", [
    ("", "no words"),
    ("   \n\t ", "no words"),
    ("it is so bright and blue", "no scene noun"),
    ("a castle on a hill at sunset", "nothing to animate"),
    ("x" * 5000, "5000 characters"),
    ("川と滝", "no words"),
    ("a river in the diagonal direction", "unknown direction 'diagonal'"),
    (None, "must be text"),
])
def test_bad_prompts_are_refused_with_a_message_that_says_what_to_do(prompt, message):
    with pytest.raises(InputError, match=message):
        rewrite_prompt(prompt)


def test_html_and_non_ascii_are_corrected_and_the_corrections_reported():
    rewrite = rewrite_prompt("<p>A <b>river</b> &amp; a café</p><script>alert('x')</script> by the sea 🌊")
    assert rewrite.prompt == "A river & a cafe by the sea"
    assert rewrite.notes == ["removed HTML markup", "removed accents and non-ASCII characters"]
    assert rewrite.twin_prompt.startswith("river, cafe, sea,")
    assert clean_prompt("a  river\x00\n flowing")[0] == "a river flowing"
    with pytest.raises(InputError, match="region"):
        rewrite_prompt("a river", region="<b>")


def test_tagger_data_is_built_offline_from_the_wheel(tmp_path):
    folder = build_tagger_data(tmp_path)
    classes = json.loads((folder / f"{TAGGER_NAME}.classes.json").read_text())
    assert {"NN", "NNS", "JJ", "VBZ", "DT"} <= set(classes)
    weights, tagdict, _ = read_tagger_pickle(source_pickle())
    assert json.loads((folder / f"{TAGGER_NAME}.tagdict.json").read_text()) == tagdict
    assert len(json.loads((folder / f"{TAGGER_NAME}.weights.json").read_text())) == len(weights)


def test_the_tagger_pickle_reader_refuses_code(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pickle"
    evil.write_bytes(pickle.dumps((Exploit(), {}, set())))
    with pytest.raises(pickle.UnpicklingError, match="refusing to load builtins.print"):
        read_tagger_pickle(evil)


def test_prompt_list_rows_get_ids_and_seeds_and_bad_rows_are_named(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text('# comment\nprompt,seed\n"a river, at dawn",\na lake,7\n')
    items = read_prompt_list(good, base_seed=10)
    assert [(i.id, i.values["prompt"], i.values["seed"]) for i in items] == [
        ("p0000", "a river, at dawn", 10), ("p0001", "a lake", 7)]
    bad = tmp_path / "bad.csv"
    bad.write_text("id,prompt\nsame,a river\nsame,a lake\n")
    with pytest.raises(InputError, match="row 2: id 'same' is used twice"):
        read_prompt_list(bad)
    with pytest.raises(InputError, match="not found"):
        read_prompt_list(tmp_path / "missing.csv")
