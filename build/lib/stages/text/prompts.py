"""Prompt rewriting (method §1): artistic prompt → realistic twin prompt, region to animate, direction.

The twin prompt is the prompt's scene nouns (NLTK tokenizer + perceptron POS tagger, offline) joined by ", ",
followed by ", nature, bright, realistic, photography, 4k, 8k". Prompts are written the way people write them
for Stable Diffusion — a scene, then comma-separated tags, credits and quality words — so a noun reaches the
twin only if it is part of the scene. The rules, in the order they apply:

1. Direction phrases ("in the left to right direction", "flowing to the left") are read and removed.
2. Style clauses made of ordinary words go: "in … style", "trending/featured on <site>", "made in <tool>",
   and style names like "stained glass" or "comic book". Prompt-weight syntax ("(masterpiece:1.2)",
   "[clouds]", "a | b") only separates tags. A prompt in Title Case is tagged in lower case: there,
   capitals say nothing about names.
3. Credits name people, never the scene. A credit starts after "style of" / "manner of" and runs to the end
   of its comma segment; or after "by" unless "by" is spatial or passive: followed by a determiner ("by the
   sea"), or after a participle that is not an art verb ("lit by moonlight", "surrounded by trees"). A bare
   "by" after a scene word ("a lighthouse by greg rutkowski") is a credit only when the next word is
   name-like: the tagger's lexicon knows it only as a proper noun or not at all. A "by" credit runs over name words
   ("and"/"&" joins names unless a determiner follows) and stops at a preposition, verb, adverb or
   determiner ("by Monet in a forest" keeps the forest). When a credit fills its segment, the artist list
   goes on through the following segments made only of name-like words ("by greg rutkowski, alphonse
   mucha, artgerm"), whatever their case. A tag made only of style words opens such a list too ("studio
   ghibli, makoto shinkai"), with two words at least to an entry.
   Credits without a marker ("…, golden ratio, jane doe, hr smith") are read from census first and last
   names, initials and the shape of a credit list (stages.text.names); what they remove or keep is noted.
4. A word is a scene noun when the tagger makes it a common noun (NN/NNS; capitalised names are NNP and
   stay out) and none of these says otherwise:
   - it says how the picture was made or looks, not what it shows: the small lexicon of art forms, media,
     styles and picture properties below ("painting", "watercolor", "anime", "render", "masterpiece"), or
     it names a maker of pictures, -er/-or on the stem of an art word ("painter", "illustrator");
   - a derivational suffix makes it abstract: -ity, -ness, -tion/-sion, -ance/-ence, -ism, -ist, -metry,
     -graphy, -ology, -ics ("quality", "symmetry", "resolution", "realism"), or adjectival: -ic, -ical,
     -ous, -esque, -istic (the tagger calls "epic" a noun);
   - it ends in -ing and the tagger's lexicon knows it better as a verb form than as a noun: activities
     ("lighting", "shading", "ray tracing") go, things and times ("building", "clearing", "evening") stay;
   - it is an adjective the tagger took for a noun — its lexicon knows the word as an adjective, or -y made
     it from a noun ("mossy", "snowy") — standing before a noun or alone in its tag;
   - it has a digit or no vowel ("4k", "8k", "hdr", "dslr"), or it names a position or a motion;
   - it qualifies how the picture is made: the words before a picture property, an activity or a style
     word ("octane render", "unreal engine", "studio lighting", "bob ross style"), the "of" phrase after a
     picture property ("depth of field"), the words from a medium on before an art form ("chinese ink wash
     painting"). Animatable nouns are kept even there.
5. Region: the first animatable noun; a compound names the region it is built on: "riverscape",
   "sea-scape", "cloudscapes", "storm-clouds", "thunderclouds" give river, sea, cloud, cloud, cloud.
   A generic water region ("water", "waves", "tide") is read as the kind of water the scene's other nouns
   point to — sea, river or lake — or the sea by default (stages.text.water), and the reading noted.

Corrections applied to every prompt (each one is reported in ``Rewrite.notes``): HTML tags are removed and
entities decoded; accented letters lose their accents and other non-ASCII characters (emoji, other
scripts) are dropped; control characters and runs of whitespace become one space.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from stages.text.directions import Direction, parse_direction
from stages.errors import InputError
from stages.memo import loaded_once
from stages.options import options_from
from stages.values import Range, ruled

if TYPE_CHECKING:
    from stages.text.water import WaterReading

TWIN_SUFFIX = "nature, bright, realistic, photography, 4k, 8k"
MAX_PROMPT_CHARS = 1000

# Animatable scene nouns (the authors' list, extended with more water and air words) → region name.
ANIMATABLE_NOUNS: dict[str, str] = {
    **{word: "waterfall" for word in ("waterfall", "waterfalls", "cascade", "cascades")},
    **{word: "river" for word in ("river", "rivers", "rapids")},
    **{word: "stream" for word in ("stream", "streams", "creek", "creeks", "brook", "brooks")},
    **{word: "sea" for word in ("sea", "seas", "surf")},
    **{word: "ocean" for word in ("ocean", "oceans")},
    **{word: "lake" for word in ("lake", "lakes", "pond", "ponds", "lagoon", "lagoons")},
    **{word: "water" for word in ("water", "waters", "tide", "tides")},
    **{word: "wave" for word in ("wave", "waves")},
    **{word: "puddle" for word in ("puddle", "puddles")},
    **{word: "fountain" for word in ("fountain", "fountains")},
    **{word: "sky" for word in ("sky", "skies")},
    **{word: "cloud" for word in ("cloud", "clouds", "cloudy")},
    **{word: "thunderstorm" for word in ("thunderstorm", "thunderstorms")},
    **{word: "smoke" for word in ("smoke", "steam", "mist", "fog")},
}

# What a picture is made as, with or in: it says how the picture looks, never what it shows.
ART_FORMS = frozenset("""
    painting paintings art arts artwork artworks illustration drawing drawings sketch sketches print prints
    poster posters engraving etching lithograph mosaic fresco woodcut woodblock photo photos photograph
    photography picture pictures image images masterpiece masterpieces wallpaper wallpapers piece cover
    screenshot
""".split())
MEDIA = frozenset("""
    watercolor watercolors watercolour watercolours oil oils canvas acrylic acrylics pastel pastels gouache
    ink inks charcoal pencil pencils crayon crayons tempera impasto matte concept digital pixel pixels
    vector cgi
""".split())
STYLES = frozenset("""
    style styles stylized manner school movement aesthetic version anime manga cartoon comic comics vaporwave
    synthwave cyberpunk steampunk lowpoly low-poly baroque rococo renaissance ukiyo ukiyo-e studio ghibli
    fantasy sci-fi scifi
""".split())
# Properties of the picture, not of the scene: quality, light and mood, camera, strokes, sites and tools.
# Their modifiers go with them ("octane render", "studio lighting").
PICTURE_PROPERTIES = frozenset("""
    quality detail details hd uhd award winner
    light lighting hour atmosphere mood vibe vibes ambience contrast exposure color colors colour colours
    tone tones palette
    camera film lens shot shots closeup close-up angle depth focus bokeh grain perspective ratio
    brushstroke brushstrokes brushwork linework stroke strokes texture textures
    render renders engine trending artstation deviantart pixiv behance cgsociety
""".split())
# Every word that says how the picture is made or looks (never part of a twin prompt).
STYLE_WORDS = ART_FORMS | MEDIA | STYLES | PICTURE_PROPERTIES
# Verbs of picture making: "painted by …" is a credit, "lit by …" is not.
ART_VERBS = frozenset("painted drawn illustrated rendered inspired made created done designed sketched".split())
_ART_WORDS = ART_FORMS | ART_VERBS

# Nouns of position and grammar ("in front of", "on the left side") that say nothing about the scene.
RELATIONAL_WORDS = frozenset("""
    front top bottom middle side sides center centre background foreground distance view left right
    direction directions way lot lots kind sort type shape thing things
""".split())

# Motion words the tagger sometimes takes for nouns ("a river flowing …" → flowing/NN).
MOTION_WORDS = frozenset("""
    flowing moving drifting rushing crashing falling cascading rolling swirling streaming running blowing
    rising waving rippling splashing pouring spilling sparkling shining glowing floating gliding billowing
    tumbling churning gushing dripping raining storming whirling spinning surging breaking
""".split())

NOUN_TAGS = frozenset({"NN", "NNS"})
# Derivational suffixes of abstract nouns (with the shortest stem each needs: "city", "station", "fence" stay).
_ABSTRACT_SUFFIX = re.compile(r"\w{3,}(?:ity|ness)|\w{4,}(?:tion|sion|ance|ence|ics)"
                              r"|\w{2,}(?:ism|ist|metry|graphy|ology)")
_ADJECTIVE_SUFFIX = re.compile(r"\w{2,}(?:ic|ical|ous|esque|istic)")
_DETERMINER_TAGS = frozenset({"DT", "PDT", "PRP$", "PRP", "CD", "WDT", "WP$"})
_NAME_STOP_TAGS = frozenset({"IN", "TO", "RB", "RBR", "RBS", "MD", "VB", "VBG", "VBP", "WRB"}) | _DETERMINER_TAGS
JOINERS = frozenset({"and", "&"})

_STYLE_CLAUSES = [
    r"\bin\s+(?:the\s+|a\s+|an\s+)?(?:(?!(?:in|with|after)\b)[\w'-]+\s+){1,3}?style\b(?!\s+of\b)",
    r"\b(?:trending|featured|popular|showcased|posted)\s+on\s+\w+",
    r"\b(?:made|created|rendered|done)\s+(?:in|with)\s+\w+",
    r"\b(?:stained[\s-]+glass|comic[\s-]+book|oil\s+on\s+canvas|pixel\s+art|digital\s+art|pop\s+art)\b",
]
# Stable Diffusion prompt syntax: emphasis brackets, weights ("word:1.2") and alternations ("a | b").
_PROMPT_SYNTAX = re.compile(r"[()\[\]{}|]|:\s*-?\d+(?:\.\d+)?")

_DIRECTION_WORD = r"(?:left|right|top|bottom|up|down|upwards?|downwards?|leftwards?|rightwards?)"
_DIRECTION_RUN = rf"{_DIRECTION_WORD}(?:(?:\s*,\s*|\s+(?:to\s+)?(?:the\s+)?){_DIRECTION_WORD})*"
_DIRECTION_PHRASES = [  # tried in order; the group "phrase" goes to parse_direction, a group "keep" stays
    rf"\b(?:in|towards?|along)\s+(?:the\s+|a\s+)?(?P<phrase>{_DIRECTION_RUN})\s+direction\b",
    r"\b(?:in|towards?|along)\s+(?:the\s+|a\s+)?(?P<phrase>(?:[a-z-]+[\s,]+){0,3}?[a-z-]+)\s+direction\b",
    r"\b(?:from\s+)?(?:the\s+)?(?P<phrase>(?:left|right|top|bottom)\s+to\s+(?:the\s+)?(?:left|right|top|bottom))\b",
    rf"\b(?P<keep>{'|'.join(sorted(MOTION_WORDS))})\s+(?P<phrase>(?:(?:from|to|towards)\s+)?(?:the\s+)?{_DIRECTION_RUN})\b",
]


@dataclass(frozen=True)
class RewriteOptions:
    """Knobs of the rewriting (params.yaml ``rewrite``)."""

    twin_suffix: str = TWIN_SUFFIX
    """Appended to the nouns to make the twin prompt photographic."""
    keep: str = "all"
    """Which nouns go into the twin prompt: "all" (the paper) or "animatable" (the authors' code)."""
    max_chars: int = ruled(MAX_PROMPT_CHARS, Range(1, 100000, integer=True))
    """Longer prompts are refused (CLIP reads only the first 77 tokens, about 60 words)."""


@dataclass(frozen=True)
class Rewrite:
    """The result of rewriting one prompt."""

    prompt: str
    """The artistic prompt after the documented corrections; this is what the model sees."""
    twin_prompt: str
    """The realistic twin's prompt."""
    region: str
    """Name of the region to animate (singular, e.g. "river")."""
    direction: str | None
    """Canonical direction name (one of the paper's 12) or None when the prompt names none."""
    direction_range: tuple[float, float] | None
    """The direction's angle range in degrees (counter-clockwise, 0 = left to right, y up)."""
    nouns: list[str] = field(default_factory=list)
    """The scene nouns kept for the twin prompt, in prompt order."""
    notes: list[str] = field(default_factory=list)
    """The corrections applied to the input, in words."""
    water_kind: str | None = None
    """The kind of water ("sea", "river", "lake") a generic water region ("water", "wave") stands for, read from
    the scene's other nouns (stages.text.water); None for other regions."""

    def to_dict(self) -> dict:
        """JSON-ready dictionary of every field."""
        return asdict(self)


def clean_prompt(text: str, max_chars: int = MAX_PROMPT_CHARS) -> tuple[str, list[str]]:
    """Apply the documented corrections; returns the cleaned prompt and the notes saying what changed."""
    if not isinstance(text, str):
        raise InputError(f"the prompt must be text, got {type(text).__name__}")
    notes = []
    if len(text) > max_chars:
        raise InputError(
            f"the prompt is {len(text)} characters long; at most {max_chars} are accepted (the text encoder "
            "reads only the first 77 tokens, about 60 words): shorten it"
        )
    if re.search(r"<[a-zA-Z/!][^>]*>|&#?\w+;", text):
        text = re.sub(r"<(script|style)\b.*?</\1\s*>", " ", text, flags=re.IGNORECASE | re.DOTALL)
        text = html.unescape(re.sub(r"<[^>]*>", " ", text))
        notes.append("removed HTML markup")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    if ascii_text != text:
        notes.append("removed accents and non-ASCII characters")
    text = re.sub(r"\s+", " ", re.sub(r"[\x00-\x1f\x7f]", " ", ascii_text)).strip()
    if not re.search(r"[A-Za-z]", text):
        raise InputError(
            "the prompt has no words (after removing markup and non-ASCII characters): describe the scene "
            "in English, e.g. \"a waterfall in a forest, oil painting\""
        )
    return text, notes


def find_direction(text: str) -> tuple[Direction | None, str]:
    """The direction named in a prompt (or None) and the prompt with that phrase removed.

    Of the phrases found, the one starting first (then the longest) wins.
    """
    lowered = text.lower()
    matches = [(match.start(), match.start() - match.end(), index, match)
               for index, pattern in enumerate(_DIRECTION_PHRASES)
               for match in [re.search(pattern, lowered)] if match]
    if not matches:
        return None, text
    match = min(matches, key=lambda found: found[:3])[3]
    direction = parse_direction(match.group("phrase"))
    # a kept word ("flowing" in "flowing to the left") stays; only the direction after it goes
    start = match.start("phrase") if match.groupdict().get("keep") else match.start()
    return direction, text[:start] + " " + text[match.end():]


def remove_style_clauses(text: str) -> str:
    """The prompt without "in … style", "trending on …", "made in …", style names made of ordinary words
    ("stained glass", "comic book") and Stable Diffusion's weight syntax (which becomes a tag separator)."""
    for pattern in _STYLE_CLAUSES:
        text = re.sub(pattern, " ", text, flags=re.IGNORECASE)
    return _PROMPT_SYNTAX.sub(" , ", text)


Token = tuple[str, str]
"""A word and its Penn Treebank tag."""


@loaded_once(maxsize=1)
def _tagger():
    """NLTK's averaged-perceptron English tagger, loaded once from the offline data."""
    from nltk.tag.perceptron import PerceptronTagger

    from stages.text.nltk_setup import ensure_tagger_data

    ensure_tagger_data()
    return PerceptronTagger()


def tag_words(text: str) -> list[Token]:
    """(word, Penn Treebank tag) pairs of a sentence, with NLTK's offline tokenizer and tagger."""
    from nltk.tokenize import word_tokenize

    return _tagger().tag(word_tokenize(text, preserve_line=True))


def lexicon_tag(word: str) -> str | None:
    """The tag the tagger's lexicon gives a lower-case word on its own, or None when it does not know it."""
    tagger = _tagger()
    if word in tagger.tagdict:
        return tagger.tagdict[word]
    weights = tagger.model.weights.get(f"i word {word}")
    return max(weights, key=weights.get) if weights else None


def is_name_like(word: str) -> bool:
    """Whether a word can be part of a person's name: the lexicon knows it only as a proper noun or not at
    all, and it is no animatable noun, region compound or style word."""
    lowered = word.lower()
    return (re.fullmatch(r"[a-z][a-z'.-]*", lowered) is not None and region_of(lowered) is None
            and lowered not in STYLE_WORDS
            and lexicon_tag(lowered) in (None, "NNP", "NNPS"))


def region_of(word: str) -> str | None:
    """The region a lower-case noun names: an animatable noun ("clouds" → "cloud"), a landscape compound
    built on one ("riverscape", "sea-scapes" → "river", "sea") or a compound ending in one ("storm-clouds",
    "thunderclouds" → "cloud"); None otherwise."""
    if word in ANIMATABLE_NOUNS:
        return ANIMATABLE_NOUNS[word]
    scape = re.fullmatch(r"([a-z]+)-?scapes?", word)
    if scape:
        return ANIMATABLE_NOUNS.get(scape.group(1))
    return next((region for noun, region in ANIMATABLE_NOUNS.items()
                 if len(noun) >= 4 and re.fullmatch(rf"[a-z]{{3,}}-?{noun}", word)), None)


def _segments(tokens: list[Token]) -> list[list[int]]:
    """Indices of the tokens of each tag-list segment (tokens between punctuation)."""
    segments: list[list[int]] = [[]]
    for index, (word, _) in enumerate(tokens):
        if re.search(r"[A-Za-z0-9]", word):
            segments[-1].append(index)
        elif segments[-1]:
            segments.append([])
    return [segment for segment in segments if segment]


def _starts_credit(tokens: list[Token], at: int) -> bool:
    """Whether the "by" at ``at`` introduces the names of the picture's makers (see the module docstring)."""
    if at + 1 >= len(tokens) or tokens[at + 1][1] in _DETERMINER_TAGS:
        return False
    before = tokens[at - 1] if at else ("", "")
    previous = before[0].lower()
    if previous in ART_VERBS or previous in STYLE_WORDS:
        return True
    if before[1] in ("VBN", "VBD"):
        return False
    # a name's first or second word is name-like ("by frank frazetta"); style words stand for studios
    following = [word.lower() for word, tag in tokens[at + 1:at + 3] if tag not in _NAME_STOP_TAGS]
    return any(is_name_like(word) or word in STYLE_WORDS for word in following[:2])


def _name_run(tokens: list[Token], start: int, end: int) -> int:
    """End (exclusive) of the names starting at ``start`` within a segment ending at ``end``."""
    position = start
    while position < end:
        word, tag = tokens[position]
        if word.lower() in JOINERS:
            if position + 1 >= end or tokens[position + 1][1] in _NAME_STOP_TAGS:
                break
        elif position > start and tag in _NAME_STOP_TAGS:
            break
        position += 1
    return position


def _is_name_segment(tokens: list[Token], segment: list[int], min_words: int) -> bool:
    """Whether a segment is one more entry of an artist list: ``min_words`` to four name-like words (and
    joiners)."""
    words = [tokens[index][0] for index in segment if tokens[index][0].lower() not in JOINERS]
    return min_words <= len(words) <= 4 and all(is_name_like(word) for word in words)


def _credit_span(tokens: list[Token], segment: list[int]) -> range | None:
    """Indices of the names of the first credit in ``segment`` (after its "by" or "style of"), or None."""
    end = segment[-1] + 1
    for index in segment[:-1]:
        word = tokens[index][0].lower()
        previous = tokens[index - 1][0].lower() if index else ""
        if word == "of" and previous in ("style", "styles", "manner"):
            return range(index + 1, end)
        if word == "by" and _starts_credit(tokens, index):
            return range(index + 1, _name_run(tokens, index + 1, end))
    return None


def credit_indices(tokens: list[Token]) -> set[int]:
    """Indices of the tokens that name the picture's makers: credits after "by", "style of", "manner of" and
    the artist lists that continue them over the next segments. A list also follows a segment made only of
    style words ("studio ghibli, makoto shinkai"); there, an entry needs two words at least."""
    dropped: set[int] = set()
    segments = _segments(tokens)
    for number, segment in enumerate(segments):
        credit = _credit_span(tokens, segment)
        if credit is not None:
            dropped.update(credit)
        if credit is not None and credit.stop == segment[-1] + 1:
            min_words = 1
        elif all(tokens[index][0].lower() in STYLE_WORDS for index in segment):
            min_words = 2
        else:
            continue
        for following in segments[number + 1:]:
            if not _is_name_segment(tokens, following, min_words):
                break
            dropped.update(following)
    return dropped


def _singular(word: str) -> str:
    """A lower-case noun without its plural ending ("qualities" → "quality", "reflections" → "reflection")."""
    return re.sub(r"ies$", "y", word) if word.endswith("ies") else re.sub(r"(?<!s)s$", "", word)


def _is_activity(word: str) -> bool:
    """An -ing noun the tagger's lexicon knows better as a verb form (or not at all): "lighting", "tracing"."""
    singular = _singular(word)
    return re.fullmatch(r"\w{4,}ing", singular) is not None and lexicon_tag(singular) not in NOUN_TAGS


def is_maker(word: str) -> bool:
    """An agent noun of picture making: -er/-or on the stem of an art form or art verb ("painter",
    "illustrator", "photographers")."""
    agent = re.fullmatch(r"([a-z]{4,}?)(?:er|or)s?", word)
    return agent is not None and any(known.startswith(agent.group(1)) for known in _ART_WORDS)


def _is_scene_word(word: str, tag: str, attributive: bool) -> bool:
    """Whether a lower-case token tagged ``tag`` is a scene noun by the rules of the module docstring
    (modifiers of picture properties aside); ``attributive``: it stands before a noun or alone in its tag."""
    if word in STYLE_WORDS or is_maker(word):
        return False
    if region_of(word):
        return True
    if tag not in NOUN_TAGS or not re.fullmatch(r"[a-z][a-z'-]*", word) or not re.search(r"[aeiouy]", word):
        return False
    if word in RELATIONAL_WORDS | MOTION_WORDS:
        return False
    singular = _singular(word)
    if _ABSTRACT_SUFFIX.fullmatch(singular) or _ADJECTIVE_SUFFIX.fullmatch(singular) or _is_activity(word):
        return False
    # an adjective the tagger took for a noun: the lexicon knows it as one ("serene"), or -y made it from a
    # noun ("mossy forest", "snowy peaks"), and it modifies a noun or stands alone
    known = lexicon_tag(word)
    return not (attributive and (known == "JJ" or (word.endswith("y") and known not in NOUN_TAGS)))


def _qualifier_indices(tokens: list[Token]) -> set[int]:
    """Indices of the words that qualify how the picture is made rather than what it shows: the modifiers of a
    picture property, an activity or a style word ("octane render", "ray tracing", "bob ross style"), the
    "of" phrase after a picture property ("depth of field"); before an art form, the words from a medium or
    style word on ("chinese ink wash painting"). Animatable nouns are kept."""
    dropped: set[int] = set()
    modifier_tags = NOUN_TAGS | {"JJ"}
    for index, (word, _) in enumerate(tokens):
        word = word.lower()
        first = index
        while first > 0 and tokens[first - 1][1] in modifier_tags:
            first -= 1
        if word in PICTURE_PROPERTIES or (tokens[index][1] in NOUN_TAGS and _is_activity(word)):
            dropped.update(range(first, index))
        elif word in STYLES:
            dropped.update(range(first, index))
        elif word in ART_FORMS:
            media = [at for at in range(first, index) if tokens[at][0].lower() in MEDIA | STYLES]
            dropped.update(range(media[0], index) if media else ())
        if word in PICTURE_PROPERTIES and index + 1 < len(tokens) and tokens[index + 1][0].lower() == "of":
            after = index + 2
            while after < len(tokens) and tokens[after][1] in modifier_tags | {"DT"}:
                dropped.add(after)
                after += 1
    return {index for index in dropped if not region_of(tokens[index][0].lower())}


def _is_attributive(tokens: list[Token], index: int) -> bool:
    """Whether the token at ``index`` stands before a noun or alone between punctuation (a tag of its own)."""
    def is_word(at: int) -> bool:
        return 0 <= at < len(tokens) and re.search(r"[A-Za-z0-9]", tokens[at][0]) is not None

    following = tokens[index + 1][1] if index + 1 < len(tokens) else ""
    return following in NOUN_TAGS or not (is_word(index - 1) or is_word(index + 1))


def scene_nouns(text: str) -> tuple[list[str], list[str]]:
    """Lower-cased nouns of ``text`` that are part of the scene, in order, each once (module docstring), and
    notes saying what the rules for names without a marker removed or kept (stages.text.names)."""
    from stages.text.names import markerless_credits  # it reads this module's lexicon

    text = remove_style_clauses(text)
    words = re.findall(r"[A-Za-z][\w'-]*", text)
    if sum(word[0].isupper() for word in words) > 0.6 * len(words):  # Title Case says nothing about names
        text = text.lower()
    tokens = tag_words(text)
    dropped = credit_indices(tokens) | _qualifier_indices(tokens)
    names, notes = markerless_credits(tokens, _segments(tokens), dropped)
    dropped |= names
    nouns: list[str] = []
    for index, (word, tag) in enumerate(tokens):
        word = word.lower().strip("'-")
        if index not in dropped and word not in nouns and _is_scene_word(word, tag, _is_attributive(tokens, index)):
            nouns.append(word)
    return nouns, notes


def infer_region(nouns: list[str]) -> str | None:
    """Region name of the first noun that names one, or None."""
    return next((region for region in map(region_of, nouns) if region), None)


def check_region(region: str) -> str:
    """A user-given region name, lower-cased; refused unless it is one or two plain words."""
    cleaned = re.sub(r"\s+", " ", str(region)).strip().lower()
    if not re.fullmatch(r"[a-z][a-z'-]*( [a-z][a-z'-]*)?", cleaned):
        raise InputError(f"region {region!r} is not a name: give one or two words, e.g. \"river\" or \"sky\"")
    return cleaned


def rewrite_prompt(
    prompt: str,
    region: str | None = None,
    direction: str | None = None,
    options: RewriteOptions = RewriteOptions(),
) -> Rewrite:
    """Rewrite an artistic prompt into its twin prompt, the region to animate and the direction.

    ``region`` and ``direction`` (a phrase such as "left to right" or "downwards") override what the prompt
    says; otherwise the region is the first animatable noun and the direction is read from phrases like
    "in the left to right direction" or "flowing to the left".
    """
    if options.keep not in ("all", "animatable"):
        raise InputError(f"rewrite.keep must be \"all\" or \"animatable\", got {options.keep!r}")
    text, notes = clean_prompt(prompt, options.max_chars)
    found_direction, scene_text = find_direction(text)
    chosen_direction = parse_direction(direction) if direction else found_direction
    nouns, name_notes = scene_nouns(scene_text)
    notes += name_notes
    if not nouns and region is None:
        raise InputError(
            f"no scene noun found in the prompt {text!r}: name what the picture shows, "
            "e.g. \"a river in a valley, in the style of Monet\""
        )
    if region is None:
        region = infer_region(nouns)
        if region is None:
            raise InputError(
                f"nothing to animate in the prompt {text!r} (nouns: {', '.join(nouns)}): mention one of "
                f"{', '.join(sorted(set(ANIMATABLE_NOUNS.values())))}, or give the region explicitly"
            )
    else:
        region = check_region(region)
        if region not in nouns and not any(region_of(noun) == region for noun in nouns):
            nouns.insert(0, region)
            notes.append(f"added the region {region!r} to the twin prompt")
    water = read_region_water(region, nouns)
    if water is not None:
        notes.append(water.note)
    kept = nouns if options.keep == "all" else [n for n in nouns if region_of(n) or n == region]
    return Rewrite(
        prompt=text,
        twin_prompt=", ".join(kept + [options.twin_suffix]),
        region=region,
        direction=chosen_direction.name if chosen_direction else None,
        direction_range=(chosen_direction.low, chosen_direction.high) if chosen_direction else None,
        nouns=kept,
        notes=notes,
        water_kind=water.kind if water else None,
    )


def rewrite_options(params: dict) -> RewriteOptions:
    """RewriteOptions from ``params["rewrite"]`` (its ``prompts`` entry names the batch file, not a knob)."""
    return options_from(RewriteOptions, params.get("rewrite"), "rewrite", batch_keys=("prompts",))


def read_region_water(region: str, nouns: list[str]) -> WaterReading | None:
    """The kind of water (stages.text.water.WaterReading) a generic water region stands for among the scene
    nouns, or None when the region is no generic water."""
    from stages.text.water import GENERIC_REGIONS, read_water  # it reads this module's regions

    if region not in GENERIC_REGIONS:
        return None
    return read_water(next((noun for noun in nouns if region_of(noun) == region), region), nouns)
