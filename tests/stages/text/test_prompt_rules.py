"""Prompt rewriting on prompts written the way people write them for Stable Diffusion: credits, artist lists,
tag lists of quality words and landscape compounds. Every expected twin is written out by hand."""

import pytest

from stages.text.prompts import is_name_like, region_of, rewrite_prompt

SUFFIX = ", nature, bright, realistic, photography, 4k, 8k"

# (prompt, the scene nouns of its twin prompt, the region to animate), each expectation decided by reading.
CASES = [
    # names after "art by", joined by "and", in lower case
    ("a beautiful riverscape at sunset, art by thomas kinkade and ivan shishkin, highly detailed, 4k",
     "riverscape, sunset", "river"),
    # an artist list over comma segments, capitalised; site, renderer and engine tags
    ("epic seascape with a lighthouse, by Greg Rutkowski, Alphonse Mucha, trending on artstation, octane render, "
     "unreal engine", "seascape, lighthouse", "sea"),
    # nothing but quality words after the scene
    ("waterfall in a magical forest, symmetry, masterpiece, high quality, dramatic lighting, intricate detail, "
     "8k resolution, wallpaper", "waterfall, forest", "waterfall"),
    # "by the lake" is a place, "lit by moonlight" a passive, "by vincent van gogh" a credit
    ("a cabin by the lake, lit by moonlight, by vincent van gogh, sharp focus", "cabin, lake, moonlight", "lake"),
    ("dramatic cloudscape over the mountains, matte painting, concept art, by james gurney and craig mullins",
     "cloudscape, mountains", "cloud"),
    # prompt-weight syntax
    ("(masterpiece:1.2), best quality, a river in a valley, ((ultra detailed)), [clouds]",
     "river, valley, clouds", "river"),
    ("a misty waterscape with reeds and herons, chinese ink wash painting, by shen zhou",
     "waterscape, reeds, herons", "water"),
    ("skyscape with storm-clouds above a wheat field, oil on canvas, impasto, in the style of vincent van gogh",
     "skyscape, storm-clouds, wheat, field", "sky"),
    ("a serene lake surrounded by pine trees, golden hour, volumetric lighting, photorealistic, depth of field, "
     "35mm", "lake, pine, trees", "lake"),
    ("ocean waves crashing on rocks, by ivan aivazovsky, romanticism, dramatic sky, award winning",
     "ocean, waves, rocks, sky", "ocean"),
    # a lower-case artist list that follows a style tag, without "by"
    ("a stream in a mossy forest, studio ghibli, makoto shinkai, anime key visual, beautiful composition",
     "stream, forest", "stream"),
    ("fantasy landscape with a river and castle, by jordan grimmer and noah bradley, trending on artstation, "
     "cgsociety", "landscape, river, castle", "river"),
    # a bare "by" between scene words; the credit stops at the preposition
    ("a lighthouse by greg rutkowski with waves crashing", "lighthouse, waves", "wave"),
    ("a waterfall, by Bob Ross, happy little trees, mountain cabin, soft pastel tones",
     "waterfall, trees, mountain, cabin", "waterfall"),
    ("river flowing through a canyon at dawn, hyperrealistic, cinematic, 8k uhd, dslr, film grain, bokeh",
     "river, canyon, dawn", "river"),
    ("seascapes of the north sea, painting by J. M. W. Turner, atmospheric, sublime", "seascapes, sea", "sea"),
    ("a fountain in a baroque garden, in the style of Canaletto, highly detailed, sharp focus, illustration",
     "fountain, garden", "fountain"),
    ("smoke rising from a chimney of a cottage in the snowy mountains, by Carl Larsson, watercolor",
     "smoke, chimney, cottage, mountains", "smoke"),
    ("clouds drifting over a lavender field, by Vincent Van Gogh and Paul Cezanne, post-impressionism",
     "clouds, lavender, field", "cloud"),
    ("a calm lake at twilight reflecting the stars, by anato finnstark, digital painting, artstation hq",
     "lake, twilight, stars", "lake"),
    ("sea waves under a full moon, night sky, by Quint Buchholz, surrealism, dreamy atmosphere, masterpiece",
     "sea, waves, moon, night, sky", "sea"),
    ("a waterfall behind a temple, unreal engine 5, ray tracing, global illumination, octane render, "
     "4k wallpaper", "waterfall, temple", "waterfall"),
    # a credit list of four names, one of them a single word
    ("an enchanted lagoon at night, glowing mushrooms, fireflies, by jessica rossier, greg rutkowski, wlop, "
     "artgerm, cinematic lighting, ultra hd", "lagoon, night, mushrooms, fireflies", "lake"),
    ("a lone boat on a foggy lake, minimalism, muted colors, art by hiroshi yoshida", "boat, lake", "lake"),
    # "painted by" is a credit; -ism, -ity and "quality" words
    ("beautiful mountain creek with wildflowers, spring morning, sunlight, painted by Ivan Shishkin, realism, "
     "museum quality", "mountain, creek, wildflowers, spring, morning, sunlight", "stream"),
    ("stormy seascape, shipwreck, lightning, by william turner and ivan aivazovsky, dramatic, epic composition, "
     "trending on artstation", "seascape, shipwreck, lightning", "sea"),
    # "bob ross style": the modifiers of a style word go with it
    ("a river winding through autumn woods, colorful leaves, bob ross style, happy clouds",
     "river, autumn, woods, leaves, clouds", "river"),
    ("sky full of stars over a desert, milky way, astrophotography style, long exposure, sharp focus, 8k",
     "sky, stars, desert", "sky"),
    # "painter of light": makers of pictures are not in the scene
    ("a fantasy castle on a cliff above the sea, sunset, clouds, by thomas kinkade, painter of light, "
     "highly detailed", "castle, cliff, sea, sunset, clouds", "sea"),
    ("a waterfall cascading into a pool, tropical jungle, by Marc Simonetti, digital art, artstation, deviantart",
     "waterfall, pool, jungle", "waterfall"),
    ("rolling fog over green hills, irish countryside, watercolor by joseph zbukvic, loose brushwork",
     "fog, hills, countryside", "smoke"),
    ("a fountain in a roman piazza, sunny afternoon, by canaletto, vedute, oil on canvas, high resolution",
     "fountain, piazza, afternoon", "fountain"),
    ("a mill by a stream in the countryside, painting by john constable, golden light, 4k",
     "mill, stream, countryside", "stream"),
    # "in the manner of" runs to the end of its tag; "moody" is an adjective on its own
    ("an old stone bridge over a river, in the manner of Caspar David Friedrich, moody, fog",
     "stone, bridge, river, fog", "river"),
    # "clearing" and "morning" are things and times, not activities
    ("a clearing in the woods with a small pond, morning mist, by Ted Nasmith, Alan Lee, tolkien art",
     "clearing, woods, pond, morning, mist", "lake"),
    ("a lighthouse on a cliff surrounded by crashing waves, art by Ivan Aivazovsky & Winslow Homer",
     "lighthouse, cliff, waves", "wave"),
    ("a waterfall inside a cave, bioluminescence, by beeple, 3d render, cinema4d, trending on behance",
     "waterfall, cave", "waterfall"),
    ("a dark sky with thunderclouds over a wheat field, in the style of van gogh, thick impasto brushstrokes",
     "sky, thunderclouds, wheat, field", "sky"),
    ("old buildings along a canal, water reflections, by edward hopper, american realism",
     "buildings, canal, water", "water"),
    # Title Case: capitals say nothing about names
    ("A Waterfall In A Lush Rainforest, Highly Detailed, Digital Painting, Artstation, Concept Art, Smooth, "
     "Sharp Focus, Illustration, Art By Artgerm And Greg Rutkowski", "waterfall, rainforest", "waterfall"),
    ("Beautiful painting of a river by the mountains, by Asher Brown Durand, Hudson River School",
     "river, mountains", "river"),
    ("a volcano erupting with ash clouds, art by Simon Stalenhag, trending on ArtStation, HDR, 8K",
     "volcano, clouds", "cloud"),
]


@pytest.mark.parametrize("prompt, nouns, region", CASES, ids=[f"p{number:02d}" for number in range(len(CASES))])
def test_the_twin_prompt_holds_the_scene_and_nothing_else(prompt, nouns, region):
    rewrite = rewrite_prompt(prompt)
    assert rewrite.twin_prompt == nouns + SUFFIX
    assert rewrite.region == region


def test_there_are_enough_hand_written_prompts():
    assert len(CASES) >= 25 and len({prompt for prompt, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("prompt, nouns", [
    ("a lake fed by a waterfall, oil painting", "lake, waterfall"),
    ("a river by the old mill, watercolor", "river, mill"),
    ("a stream covered by fallen leaves", "stream, leaves"),
    ("a mountain lake by night, surrounded by pine trees", "mountain, lake, night, pine, trees"),
])
def test_by_before_a_determiner_or_common_noun_or_after_a_participle_is_part_of_the_scene(prompt, nouns):
    assert rewrite_prompt(prompt).twin_prompt == nouns + SUFFIX


@pytest.mark.parametrize("word, region", [
    ("riverscape", "river"), ("cloudscapes", "cloud"), ("sea-scape", "sea"), ("waterscape", "water"),
    ("skyscape", "sky"), ("storm-clouds", "cloud"), ("thunderclouds", "cloud"), ("waterfalls", "waterfall"),
    ("landscape", None), ("cityscape", None), ("riverbank", None), ("mountain", None),
])
def test_compounds_name_the_region_they_are_built_on(word, region):
    assert region_of(word) == region


@pytest.mark.parametrize("word, name_like", [
    ("rutkowski", True), ("Greg", True), ("mucha", True), ("thomas", True),
    ("mountain", False), ("river", False), ("night", False), ("painting", False), ("seascape", False),
])
def test_name_like_words_are_those_the_lexicon_knows_as_proper_nouns_or_not_at_all(word, name_like):
    assert is_name_like(word) is name_like
