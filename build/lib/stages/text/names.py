"""Person names without a marker: the credit lists people copy from prompt-sharing sites ("…, golden ratio,
jane doe, hr smith"), bare comma items in lower case with no "by" or "style of" before them.

First and last names are the US Census Bureau's 1990 lists (5,494 first names, 88,799 last names) as the MIT
``names`` package installs them. The scene comes first, so only the comma items after the first are read:

1. An item is a person's name when it has two to four words, begins with a first name or initials ("hr",
   "j.m.w.", "j."), ends with a surname — a word the tagger's lexicon knows only as a proper noun or not at
   all (``is_name_like``) — and has only names, initials and particles ("van", "de") between. "and"/"&"
   join names. A first name counts only when it is no common word: "dawn", "summer", "grace" (the lexicon
   knows them otherwise), "river", "brook" (animatable nouns), "windy", "rocky" (-y on a noun) stay scene
   words, and so does an item they begin ("summer rain").
2. The items after a name that are made only of name-like words continue its credit list ("jane doe, wlop,
   artgerm"); the first other item ends it.
3. An item of census names that rule 1 keeps because of a common word ("victoria falls", "river jordan",
   "dawn light") is recorded as kept, and so is a census first name that ends a credit list ("…, jane doe,
   dawn").
"""

from __future__ import annotations

import importlib.resources
import re

from stages.memo import loaded_once
from stages.text.prompts import JOINERS, NOUN_TAGS, STYLE_WORDS, Token, is_name_like, lexicon_tag, region_of

CENSUS_FILES = {"first": ("dist.male.first", "dist.female.first"), "last": ("dist.all.last",)}
PARTICLES = frozenset("van von de da del della di du le la der den ter ten st".split())
_INITIALS = re.compile(r"(?:[a-z]\.)+|[a-z]|[b-df-hj-np-tv-xz]{2,3}")


@loaded_once(maxsize=2)
def census_names(kind: str) -> frozenset[str]:
    """The lower-case census names of ``kind`` ("first" or "last") from the installed ``names`` package."""
    folder = importlib.resources.files("names")
    return frozenset(line.split(maxsplit=1)[0].lower() for file in CENSUS_FILES[kind]
                     for line in (folder / file).read_text().splitlines() if line.strip())


def is_initials(word: str) -> bool:
    """Initials of a name: "j.", "j.m.w.", one letter, or two or three letters without a vowel ("hr")."""
    return _INITIALS.fullmatch(word) is not None and word not in STYLE_WORDS


def is_common_word(word: str) -> bool:
    """A lower-case word with a meaning of its own in a scene: an animatable noun, a word the tagger's lexicon
    knows as anything but a proper noun, or an -y adjective of a noun it knows ("windy", "rocky")."""
    if region_of(word) or lexicon_tag(word) not in (None, "NNP", "NNPS"):
        return True
    stem = word[:-1]
    return word.endswith("y") and any(lexicon_tag(candidate) in NOUN_TAGS
                                      for candidate in {stem, re.sub(r"(.)\1$", r"\1", stem)})


def is_given_name(word: str) -> bool:
    """Initials, or a census first name that is no common word."""
    return is_initials(word) or (word in census_names("first") and not is_common_word(word))


def is_surname(word: str) -> bool:
    """A name-like word (``is_name_like``) that is no common word."""
    return is_name_like(word) and not is_common_word(word)


def is_person_name(words: list[str]) -> bool:
    """Whether lower-case ``words`` are one person's name: a given name, then names, initials or particles,
    ending with a surname; two to four words."""
    return (2 <= len(words) <= 4 and is_given_name(words[0]) and is_surname(words[-1])
            and all(is_given_name(word) or is_surname(word) or word in PARTICLES for word in words[1:-1]))


def _looks_like_names(words: list[str]) -> bool:
    """Census names only, a first name among them (rule 3's items)."""
    first, last = census_names("first"), census_names("last")
    return any(word in first for word in words) and all(word in first | last for word in words)


def _names(words: list[str]) -> list[list[str]]:
    """The words of an item split at "and" / "&" (empty parts left out)."""
    names: list[list[str]] = [[]]
    for word in words:
        if word in JOINERS:
            names.append([])
        else:
            names[-1].append(word)
    return [name for name in names if name]


def markerless_credits(tokens: list[Token], segments: list[list[int]], taken: set[int]
                       ) -> tuple[set[int], list[str]]:
    """Indices of the tokens of the person names after the scene that no marker introduced, and notes saying
    what each rule removed or kept (module docstring). ``segments``: token indices of each comma item;
    ``taken``: indices other rules already drop (marked credits, style qualifiers): their items are skipped.
    An item is noted as kept only when the tagger makes one of its words a common noun."""
    dropped: set[int] = set()
    notes: list[str] = []
    in_list = False
    for segment in segments[1:]:
        if taken & set(segment):
            in_list = False
            continue
        words = [tokens[index][0].lower() for index in segment]
        text = " ".join(words)
        names = _names(words)
        if names and all(is_person_name(name) for name in names):
            dropped.update(segment)
            notes.append(f"removed {text!r}: a person's name")
            in_list = True
        elif in_list and 1 <= sum(map(len, names)) <= 4 and all(is_surname(word) for name in names for word in name):
            dropped.update(segment)
            notes.append(f"removed {text!r}: in a list of names")
        else:
            common = [word for word in words if is_common_word(word)]
            nouns = any(tokens[index][1] in NOUN_TAGS for index in segment)
            if common and nouns and _looks_like_names(words) and (len(words) > 1 or in_list):
                verb = "is a common word" if len(common) == 1 else "are common words"
                notes.append(f"kept {text!r} as scene words: {', '.join(common)} {verb}, not a name")
            in_list = False
    return dropped, notes
