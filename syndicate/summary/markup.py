"""A title's plain text: real HTML elements removed, every other character kept.  Pure.

A feed's title is HTML (RSS always, Atom when ``type="html"``), but what an
escaped title says is often not markup at all: ``&lt;Fourth International&gt;``,
``I &lt;3 Marx``, ``a &lt; b``.  An HTML parser takes the first for an element
and drops it; ``markup_to_text`` removes only what is markup:

* a tag whose name is an HTML element (``<b>``, ``</a>``, ``<img src=x>``,
  ``<br/>``) and whose attributes look like attributes (a bare word is taken
  as an attribute only when it is one of HTML's boolean ones, so
  ``<Big Brother>`` and ``<I am here>`` are text);
* comments, and the content of ``script``/``style``-like elements;

then decodes the entities and collapses whitespace.  Anything else between
angle brackets is text and stays.
"""

from __future__ import annotations

import html

import regex

__all__ = ["HTML_ELEMENTS", "markup_to_text"]

#: HTML's element names, with the obsolete ones feeds still carry (``font``, ``center``, ``marquee`` …).
HTML_ELEMENTS = frozenset("""
a abbr acronym address applet area article aside audio b base basefont bdi bdo bgsound big blink
blockquote body br button canvas caption center cite code col colgroup data datalist dd del details
dfn dialog dir div dl dt em embed fieldset figcaption figure font footer form frame frameset h1 h2 h3
h4 h5 h6 head header hgroup hr html i iframe img input ins isindex kbd keygen label legend li link
listing main map mark marquee math menu menuitem meta meter nav nobr noembed noframes noscript object
ol optgroup option output p param picture plaintext pre progress q rb rp rt rtc ruby s samp script
search section select slot small source spacer span strike strong style sub summary sup svg table
tbody td template textarea tfoot th thead time title tr track tt u ul var video wbr xmp
""".split())
_BOOLEAN_ATTRIBUTES = frozenset("""
allowfullscreen async autofocus autoplay checked controls default defer disabled formnovalidate hidden
inert ismap itemscope loop multiple muted nomodule noshade novalidate nowrap open playsinline readonly
required reversed selected
""".split())
#: Elements whose content is not text.
_HIDDEN_CONTENT = frozenset({"script", "style", "template", "noscript", "noembed", "noframes", "xmp",
                             "textarea", "title", "iframe", "object", "svg", "math", "head"})
#: Elements that separate words: removed as a space.
_BREAKS = frozenset({"br", "p", "div", "li", "ul", "ol", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "tr",
                     "td", "th", "table", "blockquote", "section", "article", "header", "footer", "dd",
                     "dt", "dl", "figure", "figcaption", "pre", "img"})

_ATTR = r"""(?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)"""
_TAG = regex.compile(r"<(?P<close>/?)(?P<name>[A-Za-z][A-Za-z0-9]*)(?P<attrs>" + _ATTR + r"*)\s*/?>")
_ONE_ATTR = regex.compile(r"""\s+(?P<name>[^\s"'<>/=]+)(?P<value>\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")
_COMMENT = regex.compile(r"<!--.*?(?:-->|$)", regex.S)
_CONTROL = regex.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _is_markup(m: regex.Match[str]) -> bool:
    if m.group("name").lower() not in HTML_ELEMENTS:
        return False
    for attr in _ONE_ATTR.finditer(m.group("attrs")):
        if attr.group("value") is None and attr.group("name").lower() not in _BOOLEAN_ATTRIBUTES:
            return False  # "<Big Brother>": a word, not an attribute
    return True


def markup_to_text(raw: str) -> str:
    """``raw`` (HTML) as one line of plain text, removing only real markup (see the module)."""
    if not raw:
        return ""
    if "<" not in raw and "&" not in raw:
        return " ".join(_CONTROL.sub(" ", raw).split())
    raw = _COMMENT.sub("", raw)
    out: list[str] = []
    pos = 0
    hidden: str | None = None  # inside <script> … </script>: what closes it
    for m in _TAG.finditer(raw):
        if not _is_markup(m):
            continue
        name = m.group("name").lower()
        if hidden is not None:
            if m.group("close") and name == hidden:
                hidden, pos = None, m.end()
            continue
        out.append(raw[pos:m.start()])
        out.append(" " if name in _BREAKS else "")
        pos = m.end()
        if not m.group("close") and name in _HIDDEN_CONTENT and not m.group(0).endswith("/>"):
            hidden = name
    if hidden is None:
        out.append(raw[pos:])
    text = html.unescape("".join(out))
    return " ".join(_CONTROL.sub(" ", text).split())
