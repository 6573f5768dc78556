"""Editorial filters: which articles a feed or a target posts, and why one is not posted.

Pure: a ``Filter`` (made by ``config.FilterConfig.rules()``) judges an
``Article`` and answers ``None`` (post it) or the reason it is not posted,
one phrase an editor reads after "not posted to mastodon: "::

    excluded by category 'Internal'
    excluded by author 'Press Office'
    excluded by keyword 'sponsored' in the title
    excluded by pattern '^Podcast:' in the title
    not included: no category, author, keyword or pattern of include matched

The rules: an article matching any ``exclude`` criterion is excluded; a
filter with an ``include`` list posts only articles matching at least one of
its criteria.  Categories and authors match whole, ignoring case; a keyword
matches as a whole word or phrase, ignoring case; a pattern (the ``regex``
package's syntax, as written: add ``(?i)`` to ignore case) may match
anywhere.  Keywords and patterns look in the title, the standfirst and the
content's text (``fields``).  A pattern's search is bounded in time
(``MATCH_TIMEOUT``): one that runs out counts as matched for ``exclude``
and as not matched for ``include`` — what a filter cannot judge is not
posted, and is recorded with the reason for an editor to repost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from syndicate.lazylog import getLogger
from syndicate.value import field, valueclass

if TYPE_CHECKING:  # the config makes Filters: regex is imported when a criterion is compiled
    import regex

    from syndicate.models import Article

__all__ = ["FIELDS", "MATCH_TIMEOUT", "Criteria", "Field", "Filter", "compile_pattern", "judge", "verdict"]

log = getLogger("syndicate.filters")

Field = Literal["title", "standfirst", "content"]
FIELDS: tuple[Field, ...] = ("title", "standfirst", "content")
MATCH_TIMEOUT = 0.25  # seconds one pattern may search one field of one article
_FIELD_NAMES = {"title": "the title", "standfirst": "the standfirst", "content": "the content"}


def compile_pattern(pattern: str) -> regex.Pattern[str]:
    """``pattern`` compiled; ``ValueError`` naming what is wrong (for the config's one line)."""
    import regex

    try:
        return regex.compile(pattern)
    except regex.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None


def _keyword(word: str) -> regex.Pattern[str]:
    import regex

    return regex.compile(r"(?<!\w)" + regex.escape(word.strip()) + r"(?!\w)", regex.IGNORECASE)


@valueclass
class Criteria:
    """One list of criteria (``include`` or ``exclude``)."""

    categories: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    fields: tuple[Field, ...] = FIELDS
    _compiled: tuple[tuple[str, str, regex.Pattern[str]], ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled = [("keyword", k, _keyword(k)) for k in self.keywords if k.strip()]
        compiled += [("pattern", p, compile_pattern(p)) for p in self.patterns]
        object.__setattr__(self, "_compiled", tuple(compiled))

    @property
    def empty(self) -> bool:
        return not (self.categories or self.authors or self._compiled)

    def first_match(self, article: Article, text: Callable[[Field], str], *,
                    timed_out: bool) -> tuple[str, bool] | None:
        """(what matched, e.g. "category 'Internal'"; whether it is a timed-out search), or None.
        ``timed_out``: what a search that ran out of time counts as."""
        categories = {c.casefold(): c for c in article.categories}
        for wanted in self.categories:
            if wanted.casefold() in categories:
                return f"category {categories[wanted.casefold()]!r}", False
        author = (article.author or "").casefold()
        for wanted in self.authors:
            if author and wanted.casefold() == author:
                return f"author {article.author!r}", False
        for kind, source, pattern in self._compiled:
            for name in self.fields:
                try:
                    found = pattern.search(text(name), timeout=MATCH_TIMEOUT) is not None
                except TimeoutError:
                    log.warning("filter pattern timed out", extra={
                        "article": article.link, "feed": article.feed, "pattern": source, "field": name,
                        "timeout": MATCH_TIMEOUT})
                    if timed_out:
                        return (f"{kind} {source!r}: its search of {_FIELD_NAMES[name]} took over "
                                f"{MATCH_TIMEOUT:g}s"), True
                    continue
                if found:
                    return f"{kind} {source!r} in {_FIELD_NAMES[name]}", False
        return None


@valueclass
class Filter:
    """A feed's or a target's filter: ``include`` (None: everything) and ``exclude``."""

    include: Criteria | None = None
    exclude: Criteria = Criteria()
    where: str = ""  # the config key it came from, for previews: "feeds[acr].filters"

    @property
    def empty(self) -> bool:
        return (self.include is None or self.include.empty) and self.exclude.empty


def _texts(article: Article) -> Callable[[Field], str]:
    cache: dict[Field, str] = {}

    def text(name: Field) -> str:
        if name not in cache:
            if name == "title":
                cache[name] = article.title
            elif name == "standfirst":
                cache[name] = article.standfirst
            else:
                from syndicate.summary.blocks import html_to_text

                cache[name] = html_to_text(article.content_html) if article.content_html else ""
        return cache[name]

    return text


def verdict(article: Article, filters: Sequence[Filter]) -> tuple[str, str] | None:
    """(why ``article`` is not posted under ``filters``, the feed's then the target's; the config
    key of the filter that said so), or None: it is posted."""
    text = _texts(article)
    for rules in filters:
        hit = rules.exclude.first_match(article, text, timed_out=True)
        if hit is not None:
            what, timed_out = hit
            return (f"not judged: {what}" if timed_out else f"excluded by {what}"), rules.where
        if rules.include is not None and not rules.include.empty:
            if rules.include.first_match(article, text, timed_out=False) is None:
                return "not included: no category, author, keyword or pattern of include matched", rules.where
    return None


def judge(article: Article, filters: Sequence[Filter]) -> str | None:
    """Why ``article`` is not posted under ``filters`` (the feed's, then the target's), or None."""
    found = verdict(article, filters)
    return found[0] if found is not None else None
