"""Article + limits → the text of a post.  Pure, and platform-neutral.

``compose`` renders one template (``syndicate.template``) and makes it fit a
platform's ``TargetLimits``, measured by ``syndicate.textlen`` as that
platform counts (graphemes or code points, URLs at a fixed weight or
literally, a byte bound or none).  When the text is over the limit it is
made to fit by one budgeted routine, always in this order:

1. the standfirst is shortened on a word boundary with "…" (dropped, with its
   blank line, when no word of it fits);
2. the editor's intro is shortened the same way, then dropped;
3. hashtags are dropped from the end, one at a time;
4. the title is shortened with "…";
5. as a last resort the minimal layout ``{title}\\n{date}\\n{link}`` is used,
   its title shortened on a word boundary, else (nothing else fits) between
   any two grapheme clusters.

Text from the feed (title, standfirst, author, source) never makes a mention:
see ``defuse_mentions``.  The link and the original publication date are never
cut.  Cuts fall between grapheme clusters (``regex``'s ``\\X``), so an emoji
with a skin tone, a ZWJ family, a flag or a letter with combining marks is
kept whole or dropped whole; and never inside a URL of the feed's text, which
is kept whole or dropped whole too.

What comes out is a ``Composed``: the text, its length, the notes that say
why it looks so, and the pieces it was rendered from.  A platform's module
(``syndicate.targets``) turns it into a ``PostDraft`` with what only that
platform knows (Bluesky's facets and link card, Mastodon's thumbnail).
Nothing here depends on a platform or reads the configuration.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Mapping, Sequence
from itertools import accumulate

from syndicate.dates import dated_by_feed, format_date, published_day
from syndicate.hashtags import HashtagRules, hashtag_text, hashtags_for, split_extras
from syndicate.models import Article, Facet, LinkCard, PostDraft, TargetLimits
from syndicate.patterns import compiled
from syndicate.summary.urls import web_url
from syndicate.template import (
    DEFAULT_TEMPLATE,
    MINIMAL_TEMPLATE,
    Part,
    render,
    render_parts,
    validate_template,
)
from syndicate.textlen import (
    clusters,
    count_graphemes,
    is_simple,
    overflow,
    post_length,
    remember_count,
    url_spans,
)
from syndicate.value import field, valueclass

__all__ = ["Composed", "card_title", "compose", "defuse_mentions", "format_date", "published_day",
           "shorten_to"]

ELLIPSIS = "…"

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


# --- shortening ----------------------------------------------------------------

# The controls (\p{Cc}: U+0000-001F, U+007F-009F) that are not whitespace to str.split: a
# plain code-point class, so composing loads no ``regex`` for it.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
_PREPEND = r"\p{Grapheme_Cluster_Break=Prepend}"  # (compiled, by ``regex``, when first needed)
_LONG_WORD = 20  # a word longer than this may be cut inside (CJK, compounds; not URLs)
_SCHEMES = ("http://", "https://")
_SCHEME = re.compile(r"https?://", re.IGNORECASE)
_STRIP_BEFORE_ELLIPSIS = frozenset(" ,;:.-–—([{“‘\"'/")


def _clean(text: str | None) -> str:
    """Plain one-line text: control characters removed, whitespace collapsed."""
    if not text:
        return ""
    return " ".join(_CONTROL.sub("", text).split())


def _url_clusters(value: str, parts: Sequence[str]) -> bytearray:
    """For each cluster of ``value`` (``parts``), 1 if it is part of a URL-like run, else 0 (empty:
    no "://" in ``value``).  A cut between two such clusters, or a "…" in place of one, would cut
    a URL in half.

    A run starts at each "http://" or "https://" and ends where the URL a platform finds there
    ends (``url_spans``: trailing punctuation is not part of it), or, where none finds one (an
    IP host, a scheme glued to a word), at the next space.
    """
    if "://" not in value:
        return bytearray()
    found = dict(url_spans(value))
    starts = list(accumulate(map(len, parts), initial=0))  # code point offset of each cluster
    inside = bytearray(len(parts))
    for m in _SCHEME.finditer(value):
        end = found.get(m.start())
        if end is None:
            space = value.find(" ", m.start())
            end = len(value) if space < 0 else space
        first, last = bisect.bisect_right(starts, m.start()) - 1, bisect.bisect_left(starts, end)
        inside[first:last] = b"\x01" * (last - first)
    return inside


def _shorten(
    value: str, over: Callable[[str], int], over_full: int, pieces: Sequence[str] | None = None,
    *, anywhere: bool = False,
) -> str:
    """The longest prefix of ``value`` + "…" with ``over(candidate) <= 0``.

    Cuts fall before a space, or inside a word longer than ``_LONG_WORD``
    graphemes (with ``anywhere``: between any two clusters); never inside a
    grapheme cluster, never inside a URL (``_url_clusters``).  ``over``
    returns how far a candidate is over budget (``over_full`` is its value
    for ``value`` itself); its units are close to graphemes, so the first
    guess is usually right and the search costs two or three measurements.
    Returns ``""`` when no prefix fits.
    """
    parts = clusters(value) if pieces is None else pieces
    n = len(parts)
    if anywhere:
        ks = list(range(1, n))
    else:
        if n == len(value):  # one code point per cluster: find the spaces in C
            spaces = [m.start() for m in re.finditer(" ", value)]
        else:
            spaces = [k for k, c in enumerate(parts) if c == " "]
        ks = [k for k in spaces if k > 0]
        for start, end in zip([-1, *spaces], [*spaces, n], strict=True):
            if end - start - 1 > _LONG_WORD and not "".join(parts[start + 1:start + 9]).startswith(_SCHEMES):
                ks.extend(range(start + 2, end))  # a long word (a URL in it is kept whole: below)
        ks.sort()
    inside = _url_clusters(value, parts)  # a cut link is a broken link
    effs: list[int] = []
    for k in ks:  # 0 < k < n
        if inside and inside[k - 1] and inside[k]:
            continue  # inside a URL
        while k and parts[k - 1] in _STRIP_BEFORE_ELLIPSIS and not (inside and inside[k - 1]):
            k -= 1  # (a URL's own last "/" is not punctuation before the "…")
        if k and parts[k - 1][-1] >= "\u0600" and compiled(_PREPEND).match(parts[k - 1][-1]):
            k -= 1  # a Prepend character (Arabic number signs, ...) would fuse with the "…"
        if k and (not effs or k > effs[-1]) and not (inside and inside[k - 1] and inside[k]):
            effs.append(k)
    if not effs:
        return ""
    cache: dict[int, int] = {}

    def candidate(i: int) -> str:
        text = "".join(parts[: effs[i]]) + ELLIPSIS
        remember_count(text, effs[i] + 1)  # the ellipsis is a cluster of its own (see above)
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


def shorten_to(text: str, max_chars: int, max_graphemes: int | None = None,
               max_bytes: int | None = None) -> str:
    """``text``, or its longest prefix + "…" (cut as ``_shorten`` cuts) within ``max_chars``
    code points, ``max_graphemes`` clusters and ``max_bytes`` UTF-8 bytes; ``""`` if none fits."""

    def over(s: str) -> int:
        o = len(s) - max_chars
        if max_graphemes is not None:
            o = max(o, count_graphemes(s) - max_graphemes)
        if max_bytes is not None:
            o = max(o, len(s.encode()) - max_bytes)
        return o

    o = over(text)
    if o <= 0:
        return text
    if len(text) > max_chars + 1:
        # Nothing past max_chars code points can be kept: look at the head only.
        head: list[str] = []
        if is_simple(text):
            head = list(text[: max_chars + 1])
        else:
            size = 0
            for cluster in clusters(text):
                size += len(cluster)
                if size > max_chars + 1:
                    break
                head.append(cluster)
        value = "".join(head)
        return _shorten(value, over, max(1, over(value)), head)
    return _shorten(text, over, o)


CARD_TITLE_FROM_STANDFIRST = 120  # graphemes of the standfirst a card of an untitled article shows


def card_title(title: str, standfirst: str, link: str) -> str:
    """A link card's title: the article's, else the start of its standfirst, else its link."""
    title = _clean(title)
    if title:
        return title
    standfirst = _clean(standfirst)
    if standfirst:
        return shorten_to(standfirst, 4 * CARD_TITLE_FROM_STANDFIRST, CARD_TITLE_FROM_STANDFIRST) or link
    return link


# --- composing -----------------------------------------------------------------


@valueclass
class Composed:
    """A post's text, fitted to a platform's limits, before the platform adds what only it knows.

    ``parts`` is the text as the pieces it was rendered from, each with its
    field (``None`` for the template's own words): ``"".join(t for _, t in
    parts) == text``.  ``tags`` are the hashtags in it (without '#'), in order.
    ``fields`` holds every field's value before anything was shortened (the
    whole title and standfirst, for a link card; ``fields["link"]`` is the URL
    even where the text shows it as a platform's ``link_text``).
    """

    target: str
    article_id: str
    text: str
    length: int  # as the platform counts it
    parts: tuple[Part, ...]
    tags: tuple[str, ...]
    fields: Mapping[str, str]
    language: str | None = None
    notes: tuple[str, ...] = field(default=())

    def to_draft(self, *, facets: tuple[Facet, ...] = (), card: LinkCard | None = None,
                 notes: Sequence[str] = ()) -> PostDraft:
        """The ``PostDraft`` of this text, with a platform's facets, card and notes added."""
        return PostDraft(target=self.target, article_id=self.article_id, text=self.text,
                         length=self.length, facets=facets, card=card, language=self.language,
                         notes=(*self.notes, *notes))


def compose(
    article: Article,
    *,
    target: str,
    limits: TargetLimits,
    template: str | None = None,
    hashtags: HashtagRules | None = None,
    intro: str | None = None,
    link_text: str | None = None,
) -> Composed:
    """The text ``article`` makes on one target (named ``target`` in messages), within ``limits``.

    ``template`` defaults to ``DEFAULT_TEMPLATE``; ``hashtags=None`` means no
    hashtags; ``intro`` is an editor's line for a manual repost; ``link_text``
    is what the text shows for the link, when a platform shows it otherwise
    than as the URL (``fields["link"]`` is the URL all the same).  Raises
    ``ValueError`` for an unusable template, for a link that is not an
    http(s) URL, or when not even the minimal layout (a title of one cluster
    and "…", or of the URL it starts with and "…"; the date; the link) fits
    ``limits``.
    """
    layout = DEFAULT_TEMPLATE if template is None else template
    validate_template(layout)  # raises ValueError with the reason
    link = article.link.strip()
    if web_url(link) is None:  # never post a javascript: (or any other) link a page slipped in
        raise ValueError(f"article {article.id}: its link {link!r} is not an http(s) URL")
    budget = limits.max_length

    title = defuse_mentions(_clean(article.title))  # the feed's words: never a mention
    standfirst = defuse_mentions(_clean(article.standfirst))
    author = defuse_mentions(_clean(article.author))
    source_name = defuse_mentions(_clean(article.source.name)) if article.source else ""
    date = published_day(article)
    first_published = f"First published {date}" + (f" in {source_name}" if source_name else "")
    tags = hashtags_for(article.categories, hashtags) if hashtags is not None else []
    values: dict[str, str] = {
        "title": title,
        "standfirst": standfirst,
        "author": author,
        "by_author": f" by {author}" if author else "",
        # " — Author" follows the title; with no title there is nothing for the dash to follow
        "dash_author": (f" — {author}" if title else f"By {author}") if author else "",
        "date": date,
        "source": source_name,
        "first_published": first_published,
        "link": _clean(link_text) or link,
        "hashtags": hashtag_text(tags),
        "intro": _clean(intro),
    }
    fields = {**values, "link": link}
    notes = _notes(article, values, tags, hashtags)

    def over(text: str) -> int:
        return overflow(text, limits)

    def over_with(name: str) -> Callable[[str], int]:
        return lambda value: over(render(layout, {**values, name: value}))

    current = over(render(layout, values))
    for name in ("standfirst", "intro"):
        if current <= 0 or not values[name]:
            continue
        before = values[name]
        shorter = _shorten(before, over_with(name), current)
        values[name] = shorter
        current = over(render(layout, values))
        if shorter:
            notes.append(
                f"{name} shortened from {count_graphemes(before)} to {count_graphemes(shorter)} "
                f"characters to fit {budget}"
            )
        else:
            notes.append(f"{name} dropped to fit {budget}")

    if current > 0 and tags:
        kept = list(tags)
        while kept and current > 0:
            kept.pop()
            values["hashtags"] = hashtag_text(kept)
            current = over(render(layout, values))
        dropped = tags[len(kept):]
        tags = kept
        notes.append(f"hashtags dropped to fit {budget}: {hashtag_text(dropped)}")

    if current > 0 and values["title"]:
        current = _shorten_title(layout, values, over, current, notes, budget)
    if current > 0:
        layout = MINIMAL_TEMPLATE
        values["title"] = title
        notes.append(f"layout: the template cannot fit {budget}; used the minimal layout (title, date, link)")
        current = over(render(layout, values))
        if current > 0 and title:
            current = _shorten_title(layout, values, over, current, notes, budget)
        if current > 0 and title:  # no cut on a word boundary fits: cut between any clusters
            current = _shorten_title(layout, values, over, current, notes, budget, anywhere=True)

    parts = render_parts(layout, values)
    text = "".join(piece for _, piece in parts)
    length = post_length(text, limits)
    if current > 0:
        raise ValueError(
            f"article {article.id}: the title, date and link cannot fit within {budget} "
            f"for target {target} (the shortest text measures {length})"
        )
    unit = "graphemes" if limits.unit == "graphemes" else "characters"
    url_note = f", each link counted as {limits.url_length}" if limits.url_length is not None else ""
    notes.append(f"length: {length} of {budget} {unit}{url_note}")
    shown_tags = tuple(tags) if any(name == "hashtags" for name, _ in parts) else ()
    return Composed(target=target, article_id=article.id, text=text, length=length, parts=parts,
                    tags=shown_tags, fields=fields,
                    language=article.language, notes=tuple(notes))


def _notes(article: Article, values: Mapping[str, str], tags: Sequence[str],
           hashtags: HashtagRules | None) -> list[str]:
    """What the feed's text became before any fitting: mentions made inert, the date, hashtags."""
    notes: list[str] = []
    defused = sum(value.count(WORD_JOINER) - _clean(raw).count(WORD_JOINER) for value, raw in (
        (values["title"], article.title), (values["standfirst"], article.standfirst),
        (values["author"], article.author),
        (values["source"], article.source.name if article.source else None)))
    if defused:
        notes.append(f"mentions: {defused} \"@\" in the feed's text made inert (a word joiner after it), "
                     "so nobody is mentioned or notified")
    date = values["date"]
    date_note = f"date: original publication date {date}"
    if values["source"]:
        date_note += f" (first published in {values['source']})"
    if article.feed_published is not None:
        feeds = format_date(article.feed_published, article.utc_offset)
        if feeds != date:
            date_note += f"; the feed's own date is {feeds}"
        if article.utc_offset and dated_by_feed(article):
            hours, minutes = divmod(abs(article.utc_offset), 60)
            sign = "+" if article.utc_offset > 0 else "-"
            date_note += f" (the day in the feed's zone, UTC{sign}{hours:02d}:{minutes:02d})"
    notes.append(date_note)
    notes.append(f"language: {article.language} (the item's own, else the feed's or feeds.yaml's)"
                 if article.language else "language: none given (the platform's default)")
    if hashtags is not None:
        if hashtags.off:
            notes.append("hashtags: off")
        elif tags:
            cats, extra = split_extras(tags, hashtags)
            parts = []
            if cats:
                parts.append(f"{hashtag_text(cats)} (from categories)")
            if extra:
                parts.append(f"{hashtag_text(extra)} (always added)")
            notes.append("hashtags: " + ", ".join(parts))
        else:
            notes.append("hashtags: none (no usable categories)")
    return notes


def _shorten_title(
    template: str, values: dict[str, str], over: Callable[[str], int], current: int,
    notes: list[str], budget: int, *, anywhere: bool = False,
) -> int:
    """Shorten ``values["title"]`` in place to fit (``anywhere``: as ``_shorten`` says); return
    the new overflow."""
    before = values["title"]
    shorter = _shorten(before, lambda v: over(render(template, {**values, "title": v})), current,
                       anywhere=anywhere)
    if not shorter:
        return current
    values["title"] = shorter
    notes.append(
        f"title shortened from {count_graphemes(before)} to {count_graphemes(shorter)} "
        f"characters to fit {budget}"
    )
    return over(render(template, values))
