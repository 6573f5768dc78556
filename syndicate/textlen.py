"""How long a post is, as a platform counts it.  Pure; no platform is named here.

A platform's ``TargetLimits`` says what it counts (``unit``), how much a URL
weighs (``url_length``) and its bounds (``max_length``, ``max_bytes``);
``post_length`` and ``overflow`` measure a text by them:

* ``unit="graphemes"``: extended grapheme clusters (``regex``'s ``\\X``), so an
  emoji with a skin tone, a ZWJ family, a flag or a letter with combining
  marks counts one; ``unit="chars"``: code points.
* ``url_length=N``: every http(s) URL that twitter-text recognises counts N
  (Mastodon's ``StatusLengthValidator`` replaces each by 23 "x" before it
  counts); ``None``: URLs count as written.
* ``max_bytes``: a bound on the UTF-8 size beside the length (Bluesky: 3,000).

Where the count cannot be exact it errs high, never low.  Measuring is on
the hot path of composing (a post is measured a few times while it is made
to fit), so common text is counted without a ``\\X`` scan and lines already
measured are remembered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from syndicate.patterns import compiled

if TYPE_CHECKING:
    import regex

    from syndicate.models import TargetLimits

__all__ = ["clusters", "count_graphemes", "graphemes", "is_simple", "overflow", "post_length",
           "remember_count", "url_spans"]

# \X and _URL are regex patterns, compiled when first measured (``patterns``), not when a
# platform's module (or the config, through ``hashtags``) imports this one.
_GRAPHEME = r"\X"
# Text made only of these code points has one grapheme per code point (no
# Extend, ZWJ, SpacingMark, Prepend, regional indicators, Hangul, CR), so it
# can be counted with len(): the common case of English text costs no \X scan.
# (A plain code-point class: stdlib re, so a platform's module loads without regex; compiled when
# first asked, ``_not_simple``: its ranges' bitmap takes ~1 ms, on a 304 cycle for nothing.)
_NOT_SIMPLE = r"[^\t\n\x20-\x7e\xa0-\u024f\u2010-\u2027\u2030-\u205e]"

# twitter-text's path and query characters (no parentheses: only balanced pairs).
_PATH_CHARS = r"a-z0-9\p{Cyrillic}\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f!*';:=+,.$/%#\[\]\-\u2013_~&|@?"
# An http(s) URL as twitter-text's extractor (which Mastodon uses) finds one:
# scheme required, not glued to a preceding ASCII letter/digit/@/$/#, a dotted
# host ending in an alphabetic (or punycode) TLD, optional port, path/query.
# Trailing punctuation is not part of the URL (see _url_end).  Where this
# differs from twitter-text it should find a shorter URL, never a longer one,
# so that our count errs high.
_URL = (
    r"(?i)(?<![A-Za-z0-9@＠$#＃])https?://"
    r"(?:[\p{L}\p{N}](?:[\p{L}\p{N}_-]{0,61}[\p{L}\p{N}])?\.)+"
    r"(?P<tld>\p{L}{2,63}|xn--[a-z0-9-]{1,59})(?![\p{L}\p{N}_-])"
    r"(?::[0-9]{1,5})?"
    r"(?:[/?#](?:[{path}]|\([{path}]*\))*)?".replace("{path}", _PATH_CHARS)
)
# Special-use names that are not in the root zone: twitter-text does not link
# them, so Mastodon counts them literally.
_RESERVED_TLDS = frozenset({"test", "example", "invalid", "localhost", "local", "internal", "onion"})
_URL_TRAILING = frozenset(".,:;!?'\"‘’“”…)]}*")


def _url_end(url: str) -> int:
    """Length of ``url`` without trailing punctuation (balanced parentheses kept)."""
    end = len(url)
    while end and url[end - 1] in _URL_TRAILING:
        if url[end - 1] == ")" and url.count("(", 0, end) >= url.count(")", 0, end):
            break
        end -= 1
    return end


def url_spans(text: str) -> list[tuple[int, int]]:
    """Where the http(s) URLs in ``text`` are, as (start, end) code point offsets, trailing
    punctuation left out: the URLs twitter-text would find (any TLD, reserved ones too)."""
    spans = []
    for m in compiled(_URL).finditer(text):
        end = m.start() + _url_end(m.group(0))
        if end > m.start():
            spans.append((m.start(), end))
    return spans


def graphemes(text: str) -> list[str]:
    """The extended grapheme clusters of ``text``."""
    return list(compiled(_GRAPHEME).findall(text))


@cache
def _not_simple() -> re.Pattern[str]:
    return re.compile(_NOT_SIMPLE)


def is_simple(text: str) -> bool:
    """Is ``text`` one grapheme per code point for certain (plain Latin text, no \\X scan needed)?"""
    return _not_simple().search(text) is None


# Memos of the pure functions "line -> clusters" and "line -> cluster count".
# Fitting a post re-measures it a few times with one line changed; the other
# lines, and a candidate line whose count the shortening knows, are not
# scanned again.  \X is the costly part of composing text with emoji in it.
_CACHE_SIZE = 512
_CLUSTER_MEMO: dict[str, tuple[str, ...]] = {}
_COUNT_MEMO: dict[str, int] = {}


def clusters(text: str) -> tuple[str, ...]:
    """The grapheme clusters of ``text`` as a tuple (remembered for text that needs a scan)."""
    if is_simple(text):
        return tuple(text)
    found = _CLUSTER_MEMO.get(text)
    if found is None:
        if len(_CLUSTER_MEMO) >= _CACHE_SIZE:
            _CLUSTER_MEMO.clear()
        found = _CLUSTER_MEMO[text] = tuple(compiled(_GRAPHEME).findall(text))
    return found


def remember_count(line: str, count: int) -> None:
    """Tell the measure that ``line`` (without a newline) is ``count`` clusters long."""
    if len(_COUNT_MEMO) >= _CACHE_SIZE:
        _COUNT_MEMO.clear()
    _COUNT_MEMO[line] = count


def _line_graphemes(line: str) -> int:
    if is_simple(line):
        return len(line)
    count = _COUNT_MEMO.get(line)
    if count is None:
        count = len(clusters(line))
        remember_count(line, count)
    return count


def count_graphemes(text: str) -> int:
    """User-perceived characters: the extended grapheme clusters of ``text``."""
    if is_simple(text):
        return len(text)
    if "\r" in text:
        return len(compiled(_GRAPHEME).findall(text))
    # LF is always a cluster of its own (only CR LF joins), so lines count
    # independently.
    lines = text.split("\n")
    return len(lines) - 1 + sum(_line_graphemes(line) for line in lines)


@lru_cache(maxsize=8)
def _url_placeholder(n: int) -> Callable[[regex.Match[str]], str]:
    def replace(m: regex.Match[str]) -> str:
        url = m.group(0)
        if m.group("tld").lower() in _RESERVED_TLDS:
            return url
        end = _url_end(url)
        return "x" * n + url[end:]

    return replace


def post_length(text: str, limits: TargetLimits) -> int:
    """The length of ``text`` as the platform counts it.

    Grapheme clusters (or code points when ``limits.unit == "chars"``), with
    every http(s) URL counted as ``limits.url_length`` when that is set — the
    way Mastodon's ``StatusLengthValidator`` replaces each URL by 23 "x" and
    then counts ``each_grapheme_cluster``.  Mastodon also counts a mention
    ``@user@domain`` as ``@user``; that is not modelled (it can only make our
    count higher than Mastodon's, never lower).
    """
    if limits.url_length is not None and "://" in text:
        text = compiled(_URL).sub(_url_placeholder(limits.url_length), text)
    if limits.unit == "chars":
        return len(text)
    return count_graphemes(text)


def overflow(text: str, limits: TargetLimits) -> int:
    """How far ``text`` is over ``limits`` (in its length unit, or in bytes when the byte bound
    is the tighter); zero or less when it fits."""
    over = post_length(text, limits) - limits.max_length
    if limits.max_bytes is not None:
        over = max(over, len(text.encode()) - limits.max_bytes)
    return over
