"""Prompt rewriting (method §1): artistic prompt → realistic twin prompt, region to animate, direction.

The twin prompt is the prompt's nouns (NLTK tokenizer + perceptron POS tagger, offline) joined by ", ",
followed by ", nature, bright, realistic, photography, 4k, 8k". Style clauses ("in the style of …",
"oil painting by …"), style words, artist names and direction phrases are removed before tagging, so the
twin never turns artistic again.

Corrections applied to every prompt (each one is reported in ``Rewrite.notes``): HTML tags are removed and
entities decoded; accented letters lose their accents and other non-ASCII characters (emoji, other
scripts) are dropped; control characters and runs of whitespace become one space.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import asdict, dataclass, field

from stages.text.directions import Direction, parse_direction
from stages.errors import InputError

TWIN_SUFFIX = "nature, bright, realistic, photography, 4k, 8k"
MAX_PROMPT_CHARS = 1000

# Animatable scene nouns (the authors' list, extended with more water and air words) → region name.
ANIMATABLE_NOUNS: dict[str, str] = {
    **{word: "waterfall" for word in ("waterfall", "waterfalls", "cascade", "cascades")},
    **{word: "river" for word in ("river", "rivers", "rapids")},
    **{word: "stream" for word in ("stream", "streams", "creek", "creeks", "brook", "brooks")},
    **{word: "sea" for word in ("sea", "seas", "surf", "tide")},
    **{word: "ocean" for word in ("ocean", "oceans")},
    **{word: "lake" for word in ("lake", "lakes", "pond", "ponds", "lagoon", "lagoons")},
    **{word: "wave" for word in ("wave", "waves")},
    **{word: "puddle" for word in ("puddle", "puddles")},
    **{word: "fountain" for word in ("fountain", "fountains")},
    **{word: "sky" for word in ("sky", "skies")},
    **{word: "cloud" for word in ("cloud", "clouds", "cloudy")},
    **{word: "thunderstorm" for word in ("thunderstorm", "thunderstorms")},
    **{word: "smoke" for word in ("smoke", "steam", "mist", "fog")},
}

# Words that carry the style rather than the scene: never part of the twin prompt.
STYLE_WORDS = frozenset("""
    painting paintings painted style styles stylized art arts artwork artworks artist artists artstation
    illustration illustrations drawing drawings sketch sketches watercolor watercolors watercolour
    watercolours oil oils canvas acrylic pastel pastels gouache ink charcoal pencil crayon crayons fresco
    mosaic woodblock woodcut print prints poster posters engraving etching lithograph render rendering cgi
    anime manga cartoon comic comics pixel pixels vector impressionism impressionist expressionism
    expressionist cubism cubist surrealism surrealist realism romanticism baroque rococo renaissance
    pointillism pointillist ukiyo ukiyo-e masterpiece masterpieces hd 4k 8k octane unreal engine concept
    digital trending detail details palette brushstroke brushstrokes stroke strokes texture textures
    photo photograph photography picture image wallpaper version aesthetic vaporwave synthwave cyberpunk
    steampunk lowpoly low-poly studio ghibli color colors colour colours tone tones
""".split())

# Artists and famous works that prompts name as styles.
ARTIST_WORDS = frozenset("""
    van gogh vincent monet claude hokusai hiroshige turner constable klimt munch picasso dali salvador
    magritte rembrandt vermeer cezanne renoir seurat degas manet matisse kandinsky pollock warhol hopper
    okeeffe o'keeffe bob ross bierstadt friedrich caspar kinkade miyazaki mucha escher rockwell wyeth
    sargent whistler gauguin pissarro sisley aivazovsky shishkin lichtenstein basquiat banksy rothko
    kanagawa starry
""".split())

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

_CLAUSE_WORD = r"(?!(?:in|with|after)\b)[\w'-]+"  # a word inside a style clause, which never spans another
_STYLE_CLAUSES = [
    rf"\b(?:in|with|after)\s+(?:the\s+|a\s+|an\s+)?(?:{_CLAUSE_WORD}\s+){{0,3}}?(?:style|manner)\s+of\b[^,;.]*",
    rf"\bin\s+(?:the\s+|a\s+|an\s+)?(?:{_CLAUSE_WORD}\s+){{1,3}}?style\b",
    r"\b(?:painting|paintings|art|artwork|illustration|drawing|sketch|print|painted|drawn|illustrated|"
    r"rendered|inspired)\s+by\s+[^,;.]*",
    r"\btrending\s+on\s+\w+",
    r"\b(?:stained[\s-]+glass|comic[\s-]+book|oil\s+on\s+canvas|pixel\s+art|digital\s+art|pop\s+art)\b",
]
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
    max_chars: int = MAX_PROMPT_CHARS
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
    """The prompt without "in the style of …", "in … style", "painting by …", "trending on …" and style names
    made of ordinary words ("stained glass", "comic book")."""
    for pattern in _STYLE_CLAUSES:
        text = re.sub(pattern, " ", text, flags=re.IGNORECASE)
    return text


def tag_words(text: str) -> list[tuple[str, str]]:
    """(word, Penn Treebank tag) pairs of a sentence, with NLTK's offline tokenizer and tagger."""
    from nltk import pos_tag
    from nltk.tokenize import word_tokenize

    from stages.text.nltk_setup import ensure_tagger_data

    ensure_tagger_data()
    return pos_tag(word_tokenize(text, preserve_line=True))


def scene_nouns(text: str) -> list[str]:
    """Lower-cased common nouns of ``text`` that describe the scene (no style, artist, position words)."""
    excluded = STYLE_WORDS | ARTIST_WORDS | RELATIONAL_WORDS | MOTION_WORDS
    nouns: list[str] = []
    for word, tag in tag_words(text):
        word = word.lower().strip("'-")
        is_noun = tag in NOUN_TAGS or word in ANIMATABLE_NOUNS
        if is_noun and re.fullmatch(r"[a-z][a-z'-]*", word) and word not in excluded and word not in nouns:
            nouns.append(word)
    return nouns


def infer_region(nouns: list[str]) -> str | None:
    """Region name of the first animatable noun, or None."""
    return next((ANIMATABLE_NOUNS[noun] for noun in nouns if noun in ANIMATABLE_NOUNS), None)


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
    nouns = scene_nouns(remove_style_clauses(scene_text))
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
        if region not in nouns and not any(ANIMATABLE_NOUNS.get(noun) == region for noun in nouns):
            nouns.insert(0, region)
            notes.append(f"added the region {region!r} to the twin prompt")
    kept = nouns if options.keep == "all" else [n for n in nouns if n in ANIMATABLE_NOUNS or n == region]
    return Rewrite(
        prompt=text,
        twin_prompt=", ".join(kept + [options.twin_suffix]),
        region=region,
        direction=chosen_direction.name if chosen_direction else None,
        direction_range=(chosen_direction.low, chosen_direction.high) if chosen_direction else None,
        nouns=kept,
        notes=notes,
    )
