"""Feed bytes → entries → ``Article`` values.

Pure: no network, no database.  Two steps, so the pipeline can skip work:

``parse_feed`` (``feed.py``)
    runs feedparser over the fetched bytes (never a URL) and computes, for
    every entry, only the cheap keys: a stable id, the canonical link, and
    its ``fingerprint`` (what the feed says of it: a changed one is an
    edit).  Duplicates (same id) are dropped, first kept; entries without a
    link are skipped.  Problems that still left usable entries become
    ``warnings``; bytes with nothing usable raise ``ParseError``.

``normalise`` (``article.py``)
    does the full work for one entry the store has not seen (or whose
    fingerprint changed): plain-text title, dates as aware UTC, standfirst,
    sanitised content, image and original source.

``fast/`` reads well-formed RSS 2.0, Atom 1.0 and RSS 1.0 (RDF) of the elements
it knows with lxml, to the very dicts feedparser would give
(``tests/test_parse_fast.py`` holds the two to the same entries and articles);
anything else goes to feedparser whole.
A feed read before stops after its known, unchanged entries (``stop_at``).

``fields.py`` is the one typed way into feedparser's dicts (``dict.get``,
no fallbacks, each value of the type asked for) and what the feed and its
entries share (plain text, authors, rights, language).

feedparser is run with its own HTML sanitiser and relative-URI resolver
switched off: ``summary`` sanitises and resolves every piece of HTML it
keeps, with lxml, and running feedparser's sgmllib-based passes as well
roughly doubles the cost of ``feedparser.parse``.
"""

from __future__ import annotations

from syndicate.links import canonical_url
from syndicate.parse.article import EARLIEST_DATE, normalise
from syndicate.parse.feed import Entry, ParsedFeed, fingerprint, parse_feed

__all__ = ["EARLIEST_DATE", "Entry", "ParsedFeed", "canonical_url", "fingerprint", "normalise", "parse_feed"]
