"""One HTML fragment as an lxml tree, and back to HTML.

Each piece of HTML is parsed once, with lxml's HTML parser (libxml2, the
parser BeautifulSoup's ``"lxml"`` mode uses; lxml directly is about ten
times faster than going through BeautifulSoup's tree, and ingest speed
matters).  ``fragment`` never raises: characters libxml2 refuses are
replaced first, and the fragment's own ``<html>``/``<body>`` wrappers are
dropped so that they cannot end our ``<body>`` early.
"""

from __future__ import annotations

import re
import threading

import lxml.html
from lxml import etree

_LOCAL = threading.local()  # lxml parsers must not be shared between threads

# Characters libxml2 refuses or mangles; they never belong in text.
BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
# A fragment is wrapped in <html><body>; its own wrappers would end our body early.
_WRAPPERS = re.compile(r"</?(?:html|body)\b[^>]*>", re.I)


def _parser() -> lxml.html.HTMLParser:
    parser = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = lxml.html.HTMLParser(
            encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True,
            default_doctype=False,
        )
        _LOCAL.parser = parser
    return parser


def fragment(html: str) -> lxml.html.HtmlElement:
    """Parse an HTML fragment; return its ``<body>`` element (never raises)."""
    if BAD_CHARS.search(html):
        html = BAD_CHARS.sub(" ", html)
    if "<h" in html or "<H" in html or "</" in html:
        html = _WRAPPERS.sub("", html)
    data = ("<html><body>" + html + "</body></html>").encode("utf-8")
    root = etree.fromstring(data, _parser())
    body = root.find("body")
    if body is None:  # pragma: no cover - libxml2 always makes one
        body = lxml.html.Element("body")
    return body


def serialise(body: lxml.html.HtmlElement) -> str:
    body.attrib.clear()
    html = lxml.html.tostring(body, encoding="unicode", with_tail=False)
    return html.removeprefix("<body>").removesuffix("</body>").strip()

# Runs of whitespace: collapsed to one space wherever text is read.
WS = re.compile(r"\s+")
