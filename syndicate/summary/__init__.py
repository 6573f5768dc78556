"""Article HTML → standfirst, sanitised content, image and original source.

Pure functions, no network.  Each piece of HTML is parsed once (``tree``):
the tree is sanitised in place (``sanitise``, its URLs by ``urls``), then
walked once into *blocks* of plain text that carry which spans were bold
and which were links (``blocks``).  The repost credit (``credits``, its
dates by ``dates``) and the standfirst (``standfirst``) are read off those
blocks; a title's text, which keeps what only looks like a tag, comes from
``markup``.  This module is the API: what other modules import comes from here.
"""

from __future__ import annotations

from syndicate.models import Source
from syndicate.summary.blocks import html_to_text, text_blocks
from syndicate.summary.credits import find_credits, find_original, merge_sources, with_metadata
from syndicate.summary.dates import parse_date
from syndicate.summary.markup import markup_to_text
from syndicate.summary.sanitise import sanitise_html, sanitise_tree, tidy_whitespace
from syndicate.summary.standfirst import choose_standfirst
from syndicate.summary.tree import fragment, serialise
from syndicate.summary.urls import web_url
from syndicate.value import field, valueclass

__all__ = [
    "Summary",
    "find_original",
    "html_to_text",
    "markup_to_text",
    "parse_date",
    "sanitise_html",
    "summarise",
    "web_url",
]


@valueclass
class Summary:
    """What ``summarise`` reads from one entry's HTML."""

    standfirst: str  # plain text
    content_html: str  # sanitised HTML
    image: str | None  # absolute URL of the first (non-tracking) image
    source: Source | None  # original source of a repost
    image_alts: dict[str, str] = field(default_factory=dict)  # image URL → its alt text


def summarise(content_html: str, description_html: str = "", *, base_url: str = "",
              dc_source: str | None = None, source_title: str | None = None) -> Summary:
    """Read the standfirst, sanitised content, image and original source of an entry.

    ``content_html`` is the full article (``content:encoded``, Atom
    ``content``); ``description_html`` the feed's summary (RSS
    ``description``), if it differs.  ``base_url`` resolves relative links.
    ``dc_source`` / ``source_title`` come from the feed's ``dc:source`` and
    Atom ``<source>``.  Never raises; the standfirst is always plain text.
    """
    body = fragment(content_html)
    images: list[tuple[str, str]] = []
    sanitise_tree(body, base_url, images)
    tidy_whitespace(body)
    blocks = text_blocks(body)
    credit, credit_blocks = find_credits(blocks)
    source = with_metadata(credit, dc_source, source_title, base_url)
    standfirst = choose_standfirst(blocks, credit_blocks, description_html)
    if source is not None and source.url and web_url(source.url) is None:
        source = merge_sources([Source(name=source.name, published=source.published)])
    return Summary(
        standfirst=standfirst,
        content_html=serialise(body),
        image=next((u for u in (web_url(src) for src, _alt in images) if u), None),
        source=source,
        image_alts={src: alt for src, alt in reversed(images) if alt},
    )
