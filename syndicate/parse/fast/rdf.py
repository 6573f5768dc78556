"""RSS 1.0 (RDF) for the fast path: ``RdfReader``, its channel and its items.

Taken: an ``<rdf:RDF>`` without attributes declaring RSS 1.0's namespace (and not Atom's nor
RSS 0.90's: feedparser's version is the first of these it meets), holding one ``<channel>``
(``rdf:about`` only) before its ``<item>``s (``rdf:about`` only), nothing else; in the channel
what ``rss.Channel`` reads (RSS 1.0's namespace taken off), ``dc:publisher``,
``dc:identifier``, ``prism:*``, an ``<items>`` sequence and an empty ``<image>``; in an item
what ``rss.item_entry`` reads but ``guid``, ``category`` and ``pubDate``, which RSS 1.0 has not.
An item's ``rdf:about`` is its ``id``, as feedparser takes it (neither resolved nor fixed).

Not taken (feedparser reads them): ``<image>`` or ``<textinput>`` beside the channel,
``xml:base`` / ``xml:lang``, and what ``rss`` does not take.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from syndicate.parse.fast.common import RDF, RSS10, Refused, child_base, is_element
from syndicate.parse.fast.rss import Channel, item_entry

__all__ = ["RdfReader"]

_ABOUT = f"{RDF}about"
_RESOURCE = f"{RDF}resource"
_OTHER_VERSIONS = ("http://www.w3.org/2005/atom", "http://my.netscape.com/rdf/simple/0.9/")


class RdfReader:
    """``<rdf:RDF xmlns="http://purl.org/rss/1.0/">``: the channel and the items are at depth 2."""

    entry_depth = 2

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.channel = Channel(headers)
        self.base = self.channel.base
        self._channels = 0
        self._items_begun = False

    def open(self, el: Any, depth: int) -> None:
        if el.tag != f"{RDF}RDF" or el.attrib:
            raise Refused
        declared = [uri.lower() for uri in el.nsmap.values()]
        if RSS10[1:-1] not in declared or any(uri in declared for uri in _OTHER_VERSIONS):
            raise Refused
        self.base = child_base(self.base, el)

    def is_entry(self, el: Any) -> bool:
        if el.tag == f"{RSS10}item":
            self._items_begun = True
            return True
        return False

    def child(self, el: Any) -> None:
        self._channels += 1
        if el.tag != f"{RSS10}channel" or self._channels > 1 or set(el.attrib) - {_ABOUT}:
            raise Refused
        if self._items_begun:
            raise Refused  # a channel after an item: feedparser's title_depth would keep its title out
        channel = self.channel
        channel.base = child_base(self.base, el)
        for child in el:
            if not is_element(child):
                continue
            tag = child.tag
            if not tag.startswith(RSS10):
                if not tag.startswith("{"):
                    raise Refused
                channel.child(child, tag)
                continue
            tag = tag[len(RSS10):]
            if tag == "items":
                _sequence(child)
            elif tag == "image":
                if set(child.attrib) - {_RESOURCE} or len(child) or (child.text or "").strip():
                    raise Refused
            else:
                channel.child(child, tag)

    def entry(self, el: Any) -> dict[str, Any]:
        if set(el.attrib) - {_ABOUT}:
            raise Refused
        e = item_entry(el, child_base(self.base, el), self.channel.lang, rdf=True)
        about = el.get(_ABOUT)
        if about:
            e["id"] = about
        return e

    def close(self) -> None:
        if self._channels != 1:
            raise Refused

    def result(self, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return self.channel.result(entries, "rss10")


def _sequence(items: Any) -> None:
    """``<items><rdf:Seq><rdf:li rdf:resource="…"/>…``: kept by feedparser where nothing reads it."""
    if items.attrib:
        raise Refused
    for node in items.iterdescendants():
        if is_element(node) and not node.tag.startswith(RDF):
            raise Refused
