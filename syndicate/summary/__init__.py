"""Article HTML → standfirst, sanitised content, image and original source.

Pure functions, no network.  Each piece of HTML is parsed once (``tree``):
the tree is sanitised in place (``sanitise``, its URLs by ``urls``), then
walked once into *blocks* of plain text that carry which spans were bold
and which were links (``blocks``).  The repost credit (``credits``, its
dates by ``dates``) and the standfirst (``standfirst``) are read off those
blocks; a title's text, which keeps what only looks like a tag, comes from
``markup``.  This module is the API: what other modules import comes from here.

Importing it costs only ``urls`` (stdlib): the parsing pieces (lxml, ``regex``) are
imported when one of their functions is first asked for (``__getattr__``) or an entry
is first summarised, so a module that only tests a link (``web_url``: ``compose``,
a platform's draft) loads no parser.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from syndicate.models import Source
from syndicate.summary.urls import web_url
from syndicate.value import field, valueclass

if TYPE_CHECKING:
    from syndicate.summary.blocks import html_to_text
    from syndicate.summary.credits import find_original
    from syndicate.summary.dates import parse_date
    from syndicate.summary.markup import markup_to_text
    from syndicate.summary.sanitise import sanitise_html

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

#: The API's functions that live in a parsing module, imported when first asked for.
_LAZY = {"html_to_text": "blocks", "find_original": "credits", "parse_date": "dates",
         "markup_to_text": "markup", "sanitise_html": "sanitise"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


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
    from syndicate.summary.blocks import text_blocks
    from syndicate.summary.credits import find_credits, merge_sources, with_metadata
    from syndicate.summary.sanitise import sanitise_tree, tidy_whitespace
    from syndicate.summary.standfirst import choose_standfirst
    from syndicate.summary.tree import fragment, serialise

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
