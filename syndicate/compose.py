"""Article + target limits → PostDraft.  Pure: no I/O, no clock, no config files.

One template renders every post.  When the result is over the target's limit
it is made to fit by one budgeted routine, always in this order:

1. the standfirst is shortened on a word boundary with "…" (dropped, with its
   blank line, when no word of it fits);
2. the editor's intro is shortened the same way, then dropped;
3. hashtags are dropped from the end, one at a time;
4. the title is shortened with "…";
5. as a last resort the minimal layout ``{title}\\n{date}\\n{link}`` is used.

Text from the feed (title, standfirst, author, source) never makes a mention:
see ``defuse_mentions``.  The link and the original publication date are never cut.  Cuts fall between
grapheme clusters (``regex``'s ``\\X``), so an emoji with a skin tone, a ZWJ
family, a flag or a letter with combining marks is kept whole or dropped
whole.  Lengths are measured by ``post_length`` as the platform does (where
it cannot be exact, it errs high):

* Mastodon (``StatusLengthValidator``): grapheme clusters of the text after
  every http(s) URL that twitter-text recognises is replaced by 23 "x"
  (``characters_reserved_per_url``).  The content warning shares the budget:
  use ``mastodon_limits(..., spoiler_text=cw)``.
* Bluesky (``app.bsky.feed.post``): at most 300 graphemes *and* 3000 UTF-8
  bytes; URLs count literally.
"""

from __future__ import annotations

import bisect
import difflib
import re
import string
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

import regex

from syndicate.config import HashtagConfig
from syndicate.models import Article, Facet, LinkCard, PostDraft, TargetLimits
from syndicate.summary import web_url

__all__ = [
    "BLUESKY_LIMITS",
    "BLUESKY_MAX_BYTES",
    "DEFAULT_TEMPLATE",
    "FIELDS",
    "MASTODON_LIMITS",
    "MINIMAL_TEMPLATE",
    "compose",
    "defuse_mentions",
    "format_date",
    "graphemes",
    "hashtags_for",
    "mastodon_limits",
    "post_length",
    "validate_template",
]

MASTODON_LIMITS = TargetLimits(max_length=500, url_length=23, unit="graphemes")
BLUESKY_LIMITS = TargetLimits(max_length=300, url_length=None, unit="graphemes")
BLUESKY_MAX_BYTES = 3000  # app.bsky.feed.post text: maxLength (UTF-8 bytes) beside maxGraphemes 300
CARD_TITLE_MAX_GRAPHEMES = 300  # app.bsky.embed.external title
CARD_DESCRIPTION_MAX_CHARS = 300
TAG_MAX_GRAPHEMES = 64  # app.bsky.richtext.facet#tag: maxGraphemes 64, maxLength 640 bytes
TAG_MAX_BYTES = 640
ELLIPSIS = "…"

#: Every field a template may use.
FIELDS: tuple[str, ...] = (
    "title",  # the article's title
    "standfirst",  # the lead paragraph (shortened to fit)
    "author",  # "Ian Parker" or ""
    "by_author",  # " by Ian Parker" or ""
    "dash_author",  # " — Ian Parker" or ""
    "date",  # original publication date: "13 October 2022"
    "source",  # original source name for a repost, else ""
    "first_published",  # "First published 13 October 2022" [+ " in Red Pepper"]
    "link",  # the article's canonical link (never cut)
    "hashtags",  # "#Communism #Stalinism" or ""
    "intro",  # the editor's intro line for a manual repost, or ""
)

DEFAULT_TEMPLATE = (
    "{intro}\n\n{title}{dash_author}\n\n{standfirst}\n\n{first_published}\n{link}\n{hashtags}"
)
#: The fallback when the configured template cannot fit even with a one-word title.
MINIMAL_TEMPLATE = "{title}\n{date}\n{link}"

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)

# --- measuring ---------------------------------------------------------------

_GRAPHEME = regex.compile(r"\X")
# Text made only of these code points has one grapheme per code point (no
# Extend, ZWJ, SpacingMark, Prepend, regional indicators, Hangul, CR), so it
# can be counted with len(): the common case of English text costs no \X scan.
_NOT_SIMPLE = regex.compile(r"[^\t\n\x20-\x7e\xa0-\u024f\u2010-\u2027\u2030-\u205e]")

# twitter-text's path and query characters (no parentheses: only balanced pairs).
_PATH_CHARS = r"a-z0-9\p{Cyrillic}\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f!*';:=+,.$/%#\[\]\-\u2013_~&|@?"
# An http(s) URL as twitter-text's extractor (which Mastodon uses) finds one:
# scheme required, not glued to a preceding ASCII letter/digit/@/$/#, a dotted
# host ending in an alphabetic (or punycode) TLD, optional port, path/query.
# Trailing punctuation is not part of the URL (see _url_end).  Where this
# differs from twitter-text it should find a shorter URL, never a longer one,
# so that our count errs high.
_URL = regex.compile(
    r"(?<![A-Za-z0-9@＠$#＃])https?://"
    r"(?:[\p{L}\p{N}](?:[\p{L}\p{N}_-]{0,61}[\p{L}\p{N}])?\.)+"
    r"(?P<tld>\p{L}{2,63}|xn--[a-z0-9-]{1,59})(?![\p{L}\p{N}_-])"
    r"(?::[0-9]{1,5})?"
    r"(?:[/?#](?:[{path}]|\([{path}]*\))*)?".replace("{path}", _PATH_CHARS),
    regex.IGNORECASE,
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


def graphemes(text: str) -> list[str]:
    """The extended grapheme clusters of ``text``."""
    return _GRAPHEME.findall(text)


# Memos of the pure functions "line -> clusters" and "line -> cluster count".
# Fitting a post re-measures it a few times with one line changed; the other
# lines, and the candidate line (whose count _shorten knows), are not scanned
# again.  \X is the costly part of composing text with emoji in it.
_CACHE_SIZE = 512
_CLUSTER_MEMO: dict[str, tuple[str, ...]] = {}
_COUNT_MEMO: dict[str, int] = {}


def _clusters(text: str) -> tuple[str, ...]:
    if _NOT_SIMPLE.search(text) is None:
        return tuple(text)
    found = _CLUSTER_MEMO.get(text)
    if found is None:
        if len(_CLUSTER_MEMO) >= _CACHE_SIZE:
            _CLUSTER_MEMO.clear()
        found = _CLUSTER_MEMO[text] = tuple(_GRAPHEME.findall(text))
    return found


def _remember_count(line: str, count: int) -> None:
    if len(_COUNT_MEMO) >= _CACHE_SIZE:
        _COUNT_MEMO.clear()
    _COUNT_MEMO[line] = count


def _line_graphemes(line: str) -> int:
    if _NOT_SIMPLE.search(line) is None:
        return len(line)
    count = _COUNT_MEMO.get(line)
    if count is None:
        count = len(_clusters(line))
        _remember_count(line, count)
    return count


def _count_graphemes(text: str) -> int:
    if _NOT_SIMPLE.search(text) is None:
        return len(text)
    if "\r" in text:
        return len(_GRAPHEME.findall(text))
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
        text = _URL.sub(_url_placeholder(limits.url_length), text)
    if limits.unit == "chars":
        return len(text)
    return _count_graphemes(text)


def mastodon_limits(
    max_characters: int = 500, characters_reserved_per_url: int = 23, spoiler_text: str | None = None
) -> TargetLimits:
    """Limits for a Mastodon instance (``/api/v2/instance`` configuration.statuses).

    Mastodon counts the content warning and the text in one budget (the CW
    literally), so a CW's graphemes are taken off ``max_length``.
    """
    reserved = _count_graphemes(spoiler_text) if spoiler_text else 0
    return TargetLimits(
        max_length=max_characters - reserved, url_length=characters_reserved_per_url, unit="graphemes"
    )


# --- mentions ------------------------------------------------------------------

# Mastodon mentions (notifies, and with visibility: direct addresses) whatever
# Account::MENTION_RE finds: "@" not after a word character, "=" or "/", then a
# username character ([a-z0-9_], case-insensitively).  This finds every such "@"
# and more (any "@" not after an ASCII word character, "=" or "/"; the letters
# that Unicode case folding makes ASCII ones are included): putting a WORD JOINER
# (U+2060: invisible, never a line break) right after it leaves no username where
# one must start.  Bluesky makes mentions only from facets, and compose makes none;
# its text is defused alike for clients that look for mentions in the text itself.
_MENTION_START = re.compile(r"(?<![A-Za-z0-9_=/])@(?=[a-z0-9_\u017f\u212a])", re.IGNORECASE)
WORD_JOINER = "\u2060"


def defuse_mentions(text: str) -> str:
    """``text`` with every would-be mention ("@user", "@user@instance", "@handle.example")
    made inert by a word joiner after its "@"; it reads the same."""
    return _MENTION_START.sub("@" + WORD_JOINER, text) if "@" in text else text


# --- dates and hashtags --------------------------------------------------------


def format_date(dt: datetime) -> str:
    """``13 October 2022``: day without a leading zero, English month, in UTC."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return f"{dt.day} {_MONTHS[dt.month - 1]} {dt.year}"


_TAG_SPLIT = regex.compile(r"[^\p{L}\p{Mn}\p{Mc}\p{Nd}_]+")
_APOSTROPHES = regex.compile(r"(?<=\p{L})['’](?=\p{L})")
_LEADING_MARKS = regex.compile(r"^[\p{Mn}\p{Mc}]+")
_HAS_LETTER = regex.compile(r"\p{L}")


def _capitalise(word: str) -> str:
    upper = word[:1].upper()
    return (upper if len(upper) == 1 else word[:1]) + word[1:]  # "ß" stays "ß", not "SS"


def _tagify(raw: str, *, capitalise_first: bool) -> str:
    """``"Climate change"`` → ``"ClimateChange"``; ``""`` when no valid tag can be made."""
    text = unicodedata.normalize("NFC", raw).strip().lstrip("#＃")
    text = _APOSTROPHES.sub("", text)  # "Women's rights" → "WomensRights"
    words = [w for w in _TAG_SPLIT.split(text) if w]
    if not words:
        return ""
    first, rest = words[0], words[1:]
    if capitalise_first:
        first = _capitalise(first)
    tag = _LEADING_MARKS.sub("", first + "".join(_capitalise(w) for w in rest))
    if not tag or not _HAS_LETTER.search(tag):
        return ""
    if _count_graphemes(tag) > TAG_MAX_GRAPHEMES or len(tag.encode()) > TAG_MAX_BYTES:
        return ""
    return tag


def _key(category: str) -> str:
    return " ".join(category.split()).casefold()


def hashtags_for(categories: Sequence[str], cfg: HashtagConfig) -> list[str]:
    """Hashtags (without '#') for an article's categories.

    A category found in ``cfg.map`` (case-insensitively) becomes the mapped
    tag, or nothing when mapped to ``""``; any other category is CamelCased
    with non-word characters removed (``"Anti-capitalism"`` →
    ``"AntiCapitalism"``).  Tags are de-duplicated case-insensitively,
    ``cfg.extra`` tags are always added at the end, and at most ``cfg.limit``
    are returned (the extras count towards the limit and are kept first).
    Every tag is letters, marks, digits and underscores with at least one
    letter, at most 64 graphemes: valid on Mastodon and Bluesky alike.
    """
    if not cfg.enabled or cfg.limit <= 0:
        return []
    mapping = {_key(k): v for k, v in cfg.map.items()}
    seen: set[str] = set()
    extras: list[str] = []
    for raw in cfg.extra:
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
    room = max(0, cfg.limit - len(extras))
    return (from_categories[:room] + extras)[: cfg.limit]


# --- templates -----------------------------------------------------------------

_FORMATTER = string.Formatter()
_SENTINEL_BASE = 0xF0000  # Supplementary Private Use Area-A: one code point per field
_SENTINELS = regex.compile(r"([\U000F0000-\U000F00FF])")


@lru_cache(maxsize=128)
def _parse(template: str) -> tuple[tuple[str, str | None], ...]:
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ValueError(f"template: {exc} (write {{{{ or }}}} for a literal brace)") from None
    if _SENTINELS.search(template):
        raise ValueError("template: contains a private-use character U+F0000..U+F00FF (reserved)")
    known = ", ".join("{" + f + "}" for f in FIELDS)
    out: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is None:
            out.append((literal, None))
            continue
        if name == "" or name.isdigit():
            raise ValueError(
                f"template: positional field {{{name}}} is not allowed; use a named field ({known})"
            )
        if name not in FIELDS:
            close = difflib.get_close_matches(name, FIELDS, n=1)
            hint = f" (did you mean {{{close[0]}}}?)" if close else ""
            raise ValueError(f"template: unknown field {{{name}}}{hint}; known fields: {known}")
        if spec or conversion:
            raise ValueError(
                f"template: field {{{name}}} may not have a format spec or conversion "
                "(write it as {" + name + "})"
            )
        out.append((literal, name))
    names = {n for _, n in out if n}
    for required, what in (("title", "the title"), ("link", "the link")):
        if required not in names:
            raise ValueError(f"template: must contain {{{required}}} (every post carries {what})")
    if not names & {"date", "first_published"}:
        raise ValueError(
            "template: must contain {date} or {first_published} "
            "(every post carries the original publication date)"
        )
    return tuple(out)


def validate_template(template: str) -> None:
    """Raise ``ValueError`` with a one-line reason when ``template`` is unusable.

    A template is ``str.format`` text using only the names in ``FIELDS``
    (no positional fields, format specs or conversions), and it must contain
    ``{title}``, ``{link}`` and ``{date}`` or ``{first_published}``.
    """
    _parse(template)


@lru_cache(maxsize=512)
def _layout(template: str, present: frozenset[str]) -> tuple[tuple[bool, str], ...]:
    """The template as (is_field, literal-or-field-name) parts, with the blank
    lines and trailing spaces that the empty fields leave already removed."""
    skeleton = []
    for literal, name in _parse(template):
        skeleton.append(literal)
        if name is not None and name in present:
            skeleton.append(chr(_SENTINEL_BASE + FIELDS.index(name)))
    lines: list[str] = []
    for line in "".join(skeleton).split("\n"):
        line = line.rstrip()
        if not line and (not lines or not lines[-1]):
            continue  # no leading blank line, never two blank lines in a row
        lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    parts: list[tuple[bool, str]] = []
    for piece in _SENTINELS.split("\n".join(lines)):
        if len(piece) == 1 and _SENTINEL_BASE <= ord(piece) < _SENTINEL_BASE + len(FIELDS):
            parts.append((True, FIELDS[ord(piece) - _SENTINEL_BASE]))
        elif piece:
            parts.append((False, piece))
    return tuple(parts)


def _render(template: str, values: Mapping[str, str]) -> str:
    parts = _layout(template, frozenset(k for k, v in values.items() if v))
    return "".join(values[t] if is_field else t for is_field, t in parts)


# --- shortening ----------------------------------------------------------------

_CONTROL = regex.compile(r"(?![\t\n\v\f\r\x1c-\x1f\x85])\p{Cc}")  # controls that are not whitespace
_PREPEND = regex.compile(r"\p{Grapheme_Cluster_Break=Prepend}")
_SPACE = regex.compile(" ")
_LONG_WORD = 20  # a word longer than this may be cut inside (CJK, compounds; not URLs)
_SCHEMES = ("http://", "https://")
_STRIP_BEFORE_ELLIPSIS = frozenset(" ,;:.-–—([{“‘\"'/")


def _clean(text: str | None) -> str:
    """Plain one-line text: control characters removed, whitespace collapsed."""
    if not text:
        return ""
    return " ".join(_CONTROL.sub("", text).split())


def _shorten(
    value: str, over: Callable[[str], int], over_full: int, clusters: Sequence[str] | None = None
) -> str:
    """The longest prefix of ``value`` + "…" with ``over(candidate) <= 0``.

    Cuts fall before a space, or inside a word longer than ``_LONG_WORD``
    graphemes; never inside a grapheme cluster.  ``over`` returns how far a
    candidate is over budget (``over_full`` is its value for ``value``
    itself); its units are close to graphemes, so the first guess is usually
    right and the search costs two or three measurements.  Returns ``""``
    when no prefix fits.
    """
    if clusters is None:
        clusters = _clusters(value)
    n = len(clusters)
    if n == len(value):  # one code point per cluster: find the spaces in C
        spaces = [m.start() for m in _SPACE.finditer(value)]
    else:
        spaces = [k for k, c in enumerate(clusters) if c == " "]
    ks = [k for k in spaces if k > 0]
    for start, end in zip([-1, *spaces], [*spaces, n], strict=True):
        if end - start - 1 > _LONG_WORD and not "".join(clusters[start + 1:start + 9]).startswith(_SCHEMES):
            ks.extend(range(start + 2, end))  # a long word, but never a URL: a cut link is a broken link
    ks.sort()
    effs: list[int] = []
    for k in ks:
        while k and clusters[k - 1] in _STRIP_BEFORE_ELLIPSIS:
            k -= 1
        if k and clusters[k - 1][-1] >= "\u0600" and _PREPEND.match(clusters[k - 1][-1]):
            k -= 1  # a Prepend character (Arabic number signs, ...) would fuse with the "…"
        if k and (not effs or k > effs[-1]):
            effs.append(k)
    if not effs:
        return ""
    cache: dict[int, int] = {}

    def candidate(i: int) -> str:
        text = "".join(clusters[: effs[i]]) + ELLIPSIS
        _remember_count(text, effs[i] + 1)  # the ellipsis is a cluster of its own (see above)
        return text

    def ov(i: int) -> int:
        if i not in cache:
            cache[i] = over(candidate(i))
        return cache[i]

    def index_for(kept: int) -> int:
        return bisect.bisect_right(effs, kept) - 1

    lo, hi = -1, len(effs)  # ov(lo) <= 0 (or lo == -1); ov(hi) > 0 (hi == len: the full value)
    i = index_for(n - over_full - 1)
    for _ in range(8):
        if i < 0:
            break
        o = ov(i)
        if o <= 0:
            lo = i
            break
        hi = i
        i = index_for(effs[i] - o)
    if lo < 0:
        if hi == 0 or ov(0) > 0:
            return ""
        lo = 0
    if hi - lo > 1 and ov(lo + 1) <= 0:
        lo += 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if ov(mid) <= 0:
                lo = mid
            else:
                hi = mid
    return candidate(lo)


def _shorten_to(text: str, max_chars: int, max_graphemes: int | None = None,
                max_bytes: int | None = None) -> str:
    def over(s: str) -> int:
        o = len(s) - max_chars
        if max_graphemes is not None:
            o = max(o, _count_graphemes(s) - max_graphemes)
        if max_bytes is not None:
            o = max(o, len(s.encode()) - max_bytes)
        return o

    o = over(text)
    if o <= 0:
        return text
    if len(text) > max_chars + 1:
        # Nothing past max_chars code points can be kept: look at the head only.
        head: list[str] = []
        if _NOT_SIMPLE.search(text) is None:
            head = list(text[: max_chars + 1])
        else:
            size = 0
            for cluster in _clusters(text):
                size += len(cluster)
                if size > max_chars + 1:
                    break
                head.append(cluster)
        value = "".join(head)
        return _shorten(value, over, max(1, over(value)), head)
    return _shorten(text, over, o)


# --- composing -----------------------------------------------------------------


def _hashtag_text(tags: Sequence[str]) -> str:
    return " ".join("#" + t for t in tags)


def compose(
    article: Article,
    *,
    target: str,
    platform: Literal["mastodon", "bluesky"],
    limits: TargetLimits,
    template: str | None = None,
    hashtags: HashtagConfig | None = None,
    intro: str | None = None,
) -> PostDraft:
    """What would be posted for ``article`` to one target.

    ``template`` defaults to ``DEFAULT_TEMPLATE``; ``hashtags=None`` means no
    hashtags; ``intro`` is an editor's line for a manual repost.  Raises
    ``ValueError`` for an unusable template, for a link that is not an
    http(s) URL, or when not even the minimal layout (a one-word title, the
    date and the link) fits ``limits``.
    """
    if platform not in ("mastodon", "bluesky"):
        raise ValueError(f"unknown platform {platform!r} (expected 'mastodon' or 'bluesky')")
    template = DEFAULT_TEMPLATE if template is None else template
    _parse(template)  # raises ValueError with the reason
    link = article.link.strip()
    if web_url(link) is None:  # never post a javascript: (or any other) link a page slipped in
        raise ValueError(f"article {article.id}: its link {link!r} is not an http(s) URL")
    max_bytes = BLUESKY_MAX_BYTES if platform == "bluesky" else None
    budget = limits.max_length

    title = defuse_mentions(_clean(article.title))  # the feed's words: never a mention
    standfirst = defuse_mentions(_clean(article.standfirst))
    author = defuse_mentions(_clean(article.author))
    source_name = defuse_mentions(_clean(article.source.name)) if article.source else ""
    date = format_date(article.published)
    first_published = f"First published {date}" + (f" in {source_name}" if source_name else "")
    tags = hashtags_for(article.categories, hashtags) if hashtags is not None else []
    intro_text = _clean(intro)
    values: dict[str, str] = {
        "title": title,
        "standfirst": standfirst,
        "author": author,
        "by_author": f" by {author}" if author else "",
        "dash_author": f" — {author}" if author else "",
        "date": date,
        "source": source_name,
        "first_published": first_published,
        "link": link,
        "hashtags": _hashtag_text(tags),
        "intro": intro_text,
    }

    notes: list[str] = []
    defused = sum(value.count(WORD_JOINER) - _clean(raw).count(WORD_JOINER) for value, raw in (
        (title, article.title), (standfirst, article.standfirst), (author, article.author),
        (source_name, article.source.name if article.source else None)))
    if defused:
        notes.append(f"mentions: {defused} \"@\" in the feed's text made inert (a word joiner after it), "
                     "so nobody is mentioned or notified")
    date_note = f"date: original publication date {date}"
    if source_name:
        date_note += f" (first published in {source_name})"
    if article.feed_published is not None and format_date(article.feed_published) != date:
        date_note += f"; the feed's own date is {format_date(article.feed_published)}"
    notes.append(date_note)
    if hashtags is not None:
        if not hashtags.enabled or hashtags.limit <= 0:
            notes.append("hashtags: off")
        elif tags:
            extra_keys = {_tagify(e, capitalise_first=False).casefold() for e in hashtags.extra}
            cats = [t for t in tags if t.casefold() not in extra_keys]
            extra = [t for t in tags if t.casefold() in extra_keys]
            parts = []
            if cats:
                parts.append(f"{_hashtag_text(cats)} (from categories)")
            if extra:
                parts.append(f"{_hashtag_text(extra)} (always added)")
            notes.append("hashtags: " + ", ".join(parts))
        else:
            notes.append("hashtags: none (no usable categories)")

    def over(text: str) -> int:
        o = post_length(text, limits) - budget
        if max_bytes is not None:
            o = max(o, len(text.encode()) - max_bytes)
        return o

    current = over(_render(template, values))
    for field in ("standfirst", "intro"):
        if current <= 0 or not values[field]:
            continue
        before = values[field]
        shorter = _shorten(
            before, lambda v, f=field: over(_render(template, {**values, f: v})), current
        )
        values[field] = shorter
        current = over(_render(template, values))
        if shorter:
            notes.append(
                f"{field} shortened from {_count_graphemes(before)} to {_count_graphemes(shorter)} "
                f"characters to fit {budget}"
            )
        else:
            notes.append(f"{field} dropped to fit {budget}")

    if current > 0 and tags:
        kept = list(tags)
        while kept and current > 0:
            kept.pop()
            values["hashtags"] = _hashtag_text(kept)
            current = over(_render(template, values))
        dropped = tags[len(kept):]
        tags = kept
        notes.append(f"hashtags dropped to fit {budget}: {_hashtag_text(dropped)}")

    if current > 0 and values["title"]:
        current = _shorten_title(template, values, over, current, notes, budget)
    if current > 0:
        template = MINIMAL_TEMPLATE
        values["title"] = title
        notes.append(f"layout: the template cannot fit {budget}; used the minimal layout (title, date, link)")
        current = over(_render(template, values))
        if current > 0 and title:
            current = _shorten_title(template, values, over, current, notes, budget)

    text = _render(template, values)
    length = post_length(text, limits)
    if current > 0:
        raise ValueError(
            f"article {article.id}: the title, date and link cannot fit within {budget} "
            f"for target {target} (the shortest text measures {length})"
        )
    unit = "graphemes" if limits.unit == "graphemes" else "characters"
    url_note = f", each link counted as {limits.url_length}" if limits.url_length is not None else ""
    notes.append(f"length: {length} of {budget} {unit}{url_note}")

    facets: tuple[Facet, ...] = ()
    card: LinkCard | None = None
    if platform == "bluesky":
        facets = _facets(template, values, tags)
        card = LinkCard(
            uri=values["link"],
            title=_shorten_to(title, 3000, CARD_TITLE_MAX_GRAPHEMES, 3000),
            description=_shorten_to(standfirst, CARD_DESCRIPTION_MAX_CHARS),
            thumb_url=web_url(article.image),
        )
        notes.append(
            f"link card: {card.uri} with title, {len(card.description)}-character description"
            + (f" and thumbnail {card.thumb_url}" if card.thumb_url else ", no thumbnail")
        )

    return PostDraft(
        target=target,
        article_id=article.id,
        text=text,
        length=length,
        facets=facets,
        card=card,
        language=article.language,
        notes=tuple(notes),
    )


def _shorten_title(
    template: str, values: dict[str, str], over: Callable[[str], int], current: int,
    notes: list[str], budget: int,
) -> int:
    """Shorten ``values["title"]`` in place to fit; return the new overflow."""
    before = values["title"]
    shorter = _shorten(before, lambda v: over(_render(template, {**values, "title": v})), current)
    if not shorter:
        return current
    values["title"] = shorter
    notes.append(
        f"title shortened from {_count_graphemes(before)} to {_count_graphemes(shorter)} "
        f"characters to fit {budget}"
    )
    return over(_render(template, values))


def _facets(template: str, values: Mapping[str, str], tags: Sequence[str]) -> tuple[Facet, ...]:
    """Link and tag facets in UTF-8 byte offsets of the rendered text."""
    out: list[Facet] = []
    offset = 0
    for is_field, part in _layout(template, frozenset(k for k, v in values.items() if v)):
        text = values[part] if is_field else part
        size = len(text.encode())
        if is_field and part == "link":
            out.append(Facet(offset, offset + size, "link", text))
        elif is_field and part == "hashtags":
            pos = offset
            for i, tag in enumerate(tags):
                if i:
                    pos += 1  # the space between tags
                tag_size = len(tag.encode()) + 1
                out.append(Facet(pos, pos + tag_size, "tag", tag))
                pos += tag_size
        offset += size
    return tuple(out)
