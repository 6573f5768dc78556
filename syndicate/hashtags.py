"""Hashtags from an article's categories.  Pure.

``HashtagRules`` is the plain value the rules are given as (``config`` makes
one from a feed's ``hashtags:``); ``hashtags_for`` applies them.  Every tag
made is letters, marks, digits and underscores with at least one letter, at
most 64 graphemes and 640 UTF-8 bytes: the strictest of the platforms
(Bluesky's ``app.bsky.richtext.facet#tag``), so valid on every one.  Symbols
that carry a name's meaning are spelt out rather than dropped: "C++" → Cpp,
"C#" → CSharp, "LGBTQ+" → LGBTQPlus, "Q&A" → QAndA, ".NET" → DotNET.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from syndicate.patterns import compiled
from syndicate.textlen import count_graphemes
from syndicate.value import field, valueclass

if TYPE_CHECKING:
    from re import Pattern

    import regex

__all__ = ["HashtagRules", "hashtag_text", "hashtags_for", "split_extras"]

TAG_MAX_GRAPHEMES = 64  # app.bsky.richtext.facet#tag: maxGraphemes 64, maxLength 640 bytes
TAG_MAX_BYTES = 640


@valueclass
class HashtagRules:
    """How an article's categories become hashtags (the defaults are ``hashtags:``'s)."""

    enabled: bool = True
    limit: int = 3  # at most this many, the extras included
    map: Mapping[str, str] = field(default_factory=dict)  # category → tag ("" drops it)
    extra: tuple[str, ...] = ()  # always added, e.g. ("ACR",)

    @property
    def off(self) -> bool:
        return not self.enabled or self.limit <= 0


def _capitalise(word: str) -> str:
    upper = word[:1].upper()
    return (upper if len(upper) == 1 else word[:1]) + word[1:]  # "ß" stays "ß", not "SS"


class _Rules(NamedTuple):
    """The patterns a tag is made by, as strings, and what compiles them."""

    split: str  # what is not a tag's character
    apostrophes: str  # an apostrophe inside a word (dropped: "Women's" → "Womens")
    leading_marks: str | None  # combining marks a tag may not start with
    has_letter: str
    spelt: tuple[tuple[str, str], ...]  # symbols that carry meaning in a name, spelt out
    compile: Callable[[str], Pattern[str] | regex.Pattern[str]]


# Symbols that carry meaning in a name, spelt out before the rest is split away, so "C++" is
# not "C" and "C#" not "C" either ("Q&A" → "QAndA"; an "&" between words, as in "Arts & Culture",
# is a conjunction and goes).
_UNICODE = _Rules(
    split=r"[^\p{L}\p{Mn}\p{Mc}\p{Nd}_]+",
    apostrophes=r"(?<=\p{L})['’](?=\p{L})",
    leading_marks=r"^[\p{Mn}\p{Mc}]+",
    has_letter=r"\p{L}",
    spelt=(
        (r"(?<=\w)\+\+(?!\w)", "pp"),  # C++, Notepad++ → Cpp
        (r"(?<=\b\p{L})[#＃](?!\w)", " Sharp"),  # C#, F# → CSharp, FSharp
        (r"(?<=\w)\+(?!\w)", " Plus"),  # LGBTQ+, Disney+ → LGBTQPlus
        (r"(?<=\w)&(?=\w)", " And "),  # Q&A, R&D → QAndA, RAndD ("Arts & Culture": ArtsCulture)
        (r"(?:^|(?<=\s))\.(?=\p{L})", "Dot "),  # .NET → DotNET
        (r"(?<=\d)\s*%", " Percent"),  # 99% → 99Percent
    ),
    compile=compiled,  # ``regex``, imported when a first non-ASCII category is tagged
)
# The same rules for ASCII text, where \p{L} is [A-Za-z], \p{Nd} [0-9], there are no marks and
# regex's \s (White_Space) is [\t-\r ] (re's \s takes \x1c-\x1f too): stdlib ``re``, so the
# common (English) category costs no ``regex`` import.
_ASCII_SPACE = r"[\t-\r ]"
_ASCII = _UNICODE._replace(
    split=r"[^A-Za-z0-9_]+",
    apostrophes=r"(?<=[A-Za-z])'(?=[A-Za-z])",
    leading_marks=None,
    has_letter=r"[A-Za-z]",
    spelt=tuple((p.replace(r"\p{L}", "[A-Za-z]").replace("[#＃]", "#").replace(r"\s", _ASCII_SPACE), w)
                for p, w in _UNICODE.spelt),
    compile=re.compile,
)


def _tagify(raw: str, *, capitalise_first: bool) -> str:
    """``"Climate change"`` → ``"ClimateChange"``, ``"C++"`` → ``"Cpp"``; ``""`` when no valid tag
    can be made."""
    text = unicodedata.normalize("NFC", raw).strip().lstrip("#＃")
    return _tag_by(_ASCII if text.isascii() else _UNICODE, text, capitalise_first=capitalise_first)


def _tag_by(rules: _Rules, text: str, *, capitalise_first: bool) -> str:
    text = rules.compile(rules.apostrophes).sub("", text)  # "Women's rights" → "WomensRights"
    for pattern, spelt_out in rules.spelt:
        text = rules.compile(pattern).sub(spelt_out, text)
    words = [w for w in rules.compile(rules.split).split(text) if w]
    if not words:
        return ""
    first, rest = words[0], words[1:]
    if capitalise_first:
        first = _capitalise(first)
    tag = first + "".join(_capitalise(w) for w in rest)
    if rules.leading_marks is not None:
        tag = rules.compile(rules.leading_marks).sub("", tag)
    if not tag or not rules.compile(rules.has_letter).search(tag):
        return ""
    if count_graphemes(tag) > TAG_MAX_GRAPHEMES or len(tag.encode()) > TAG_MAX_BYTES:
        return ""
    return tag


def _key(category: str) -> str:
    return " ".join(category.split()).casefold()


def hashtags_for(categories: Sequence[str], rules: HashtagRules) -> list[str]:
    """Hashtags (without '#') for an article's categories.

    A category found in ``rules.map`` (case-insensitively) becomes the mapped
    tag, or nothing when mapped to ``""``; any other category is CamelCased
    with non-word characters removed (``"Anti-capitalism"`` →
    ``"AntiCapitalism"``).  Tags are de-duplicated case-insensitively,
    ``rules.extra`` tags are always added at the end, and at most
    ``rules.limit`` are returned (the extras count towards the limit and are
    kept first).
    """
    if rules.off:
        return []
    mapping = {_key(k): v for k, v in rules.map.items()}
    seen: set[str] = set()
    extras: list[str] = []
    for raw in rules.extra:
        tag = _tagify(raw, capitalise_first=False)
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            extras.append(tag)
    from_categories: list[str] = []
    for category in categories:
        mapped = mapping.get(_key(category))
        if mapped is not None and not mapped.strip():
            continue  # mapped to "": dropped on purpose
        tag = _tagify(mapped, capitalise_first=False) if mapped else _tagify(category, capitalise_first=True)
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            from_categories.append(tag)
    room = max(0, rules.limit - len(extras))
    return (from_categories[:room] + extras)[: rules.limit]


def split_extras(tags: Sequence[str], rules: HashtagRules) -> tuple[list[str], list[str]]:
    """``tags`` as (those from the categories, those ``rules.extra`` always adds)."""
    extra_keys = {_tagify(e, capitalise_first=False).casefold() for e in rules.extra}
    return ([t for t in tags if t.casefold() not in extra_keys],
            [t for t in tags if t.casefold() in extra_keys])


def hashtag_text(tags: Sequence[str]) -> str:
    """``"#Communism #Stalinism"``."""
    return " ".join("#" + t for t in tags)
