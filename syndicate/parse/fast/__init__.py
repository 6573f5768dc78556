"""The fast path of ``parse_feed``: a well-formed RSS 2.0, Atom 1.0 or RSS 1.0 (RDF) document
read with lxml, its entries as feedparser would give them.

``read(content, headers)`` returns what ``feedparser.parse`` would (a dict with ``feed``,
``entries``, ``version``, ``bozo``, ``headers``, holding the keys ``parse`` reads), or None
when the document is not one it fully understands; the caller then runs feedparser over the
whole document.  It takes only documents where feedparser's strict (expat) parser would read
them without complaint and every element is one it knows:

- UTF-8 bytes served (after ``feed._feed_headers``) with an XML content type and
  ``charset=utf-8``, an XML declaration saying UTF-8 (or none), no BOM, no DOCTYPE (no
  entities beyond XML's own);
- a root one of the formats' readers takes, each of which says what it reads: ``rss``
  (RSS 2.0, and the item and channel elements RSS 1.0 shares), ``atom``, ``rdf``.  What they
  share — feedparser's steps for a value, an ``xml:base`` / ``xml:lang`` scope, a category,
  an author — is in ``common``.

What feedparser does to each value is done the same way, in the same order, with its own
helpers where it has them (``_urljoin``, ``make_safe_absolute_uri``, ``_parse_date``,
``looks_like_html``, the cp1252 table).  ``tests/test_parse_fast.py`` holds the two to the
same ``Entry`` and ``Article`` over every golden case and a Hypothesis corpus of each format.

Two ways through a document, the same readers: ``lazy`` (a tree, each entry read when first
asked for: a read that stops at known entries reads no more) and a stream (every entry read as
the parse goes, each element freed once read: a big feed's tree is never whole in memory).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

from lxml import etree

from syndicate.parse.fast.atom import AtomReader
from syndicate.parse.fast.common import ATOM, RDF, Items, Reader, Refused, Unsupported, is_element
from syndicate.parse.fast.rdf import RdfReader
from syndicate.parse.fast.rss import RssReader

__all__ = ["Items", "Unsupported", "read"]

_XML_TYPES = frozenset({"application/xml", "application/xml-dtd", "application/xml-external-parsed-entity",
                        "text/xml", "text/xml-external-parsed-entity"})
_DECL = re.compile(rb"^<\?xml[^>]*\bencoding\s*=\s*[\"']([^\"']*)[\"']", re.IGNORECASE)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_comments=False, remove_pis=False, strip_cdata=True)
_READERS: dict[str, type[RssReader] | type[AtomReader] | type[RdfReader]] = {
    "rss": RssReader, f"{ATOM}feed": AtomReader, f"{RDF}RDF": RdfReader}


def _xml_type(content_type: str) -> bool:
    ctype = content_type.split(";", 1)[0].strip().lower()
    return ctype in _XML_TYPES or (ctype.startswith(("application/", "text/")) and ctype.endswith("+xml"))


def read(content: bytes, headers: Mapping[str, str], *, lazy: bool = True) -> dict[str, Any] | None:
    """feedparser's result for ``content`` (see the module docstring), or None: use feedparser.

    ``lazy``: its ``entries`` an ``Items``, each entry read when first asked for (a read that
    stops early reads no more); else a list, every entry read as the parse streams by."""
    ctype = headers.get("content-type", "")
    if "charset=utf-8" not in ctype.replace(" ", "").lower() or not _xml_type(ctype):
        return None
    if content.startswith((b"\xef\xbb\xbf", b"\xfe\xff", b"\xff\xfe")) \
            or not content.lstrip().startswith(b"<"):
        return None
    declared = _DECL.match(content)
    if declared and declared.group(1).strip().lower() not in (b"utf-8", b"utf8"):
        return None
    try:
        return _tree(content, headers) if lazy else _stream(content, headers)
    except Refused:
        return None


def _reader(root: Any, headers: Mapping[str, str]) -> Reader:
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise Refused
    kind = _READERS.get(root.tag)
    if kind is None:
        raise Refused
    reader: Reader = kind(headers)
    return reader


def _tree(content: bytes, headers: Mapping[str, str]) -> dict[str, Any] | None:
    """The whole tree at hand: the entries read when asked for (``Items``)."""
    try:
        root = etree.fromstring(content, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None  # not well-formed: feedparser's loose parser reads what it can
    reader = _reader(root, headers)
    entries: list[Any] = []

    def visit(el: Any, depth: int) -> None:
        reader.open(el, depth)
        for child in el:
            if not is_element(child):
                continue
            if depth + 1 < reader.entry_depth:
                visit(child, depth + 1)
            elif reader.is_entry(child):
                entries.append(child)
            else:
                reader.child(child)

    visit(root, 1)
    reader.close()
    return reader.result(Items(entries, reader.entry))


def _stream(content: bytes, headers: Mapping[str, str]) -> dict[str, Any] | None:
    """Every entry read as the parse goes, each element freed once read (the peak of a first
    read of 5,000 items, bench figure 3c)."""
    events = etree.iterparse(io.BytesIO(content), events=("start", "end"), resolve_entities=False,
                             no_network=True, load_dtd=False, huge_tree=False, strip_cdata=True,
                             remove_comments=False, remove_pis=False)
    reader: Reader | None = None
    entries: list[dict[str, Any]] = []
    depth = 0
    try:
        for event, el in events:
            if event == "start":
                depth += 1
                if reader is None:
                    reader = _reader(el, headers)
                if depth < reader.entry_depth:
                    reader.open(el, depth)
                continue
            assert reader is not None
            if depth == reader.entry_depth:  # a child of the entries' parent, whole
                if reader.is_entry(el):
                    entries.append(reader.entry(el))
                else:
                    reader.child(el)
                el.clear()
                parent = el.getparent()
                while parent is not None and el.getprevious() is not None:
                    del parent[0]
            elif depth < reader.entry_depth:
                for node in el:  # what is left: comments, processing instructions
                    is_element(node)
            depth -= 1
    except etree.XMLSyntaxError:
        return None  # not well-formed: feedparser's loose parser reads what it can
    if reader is None:
        return None
    reader.close()
    return reader.result(entries)
