"""A sanitised tree as *blocks* of plain text, and HTML as plain text.

The tree is walked once into blocks (paragraphs, headings, list items …) of
plain text that carry which spans were bold and which were links: the
standfirst and the repost credit are read off them.  ``html_to_text`` is
the same walk, joined into one line.
"""

from __future__ import annotations

import re

import lxml.html

from syndicate.summary.sanitise import DROP
from syndicate.summary.tree import BAD_CHARS, WS, fragment
from syndicate.value import field, valueclass

_BLOCK_TAGS = frozenset({
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "figure",
    "figcaption", "dd", "dt", "td", "th", "tr", "table", "ul", "ol", "dl", "section",
    "article", "aside", "header", "footer", "address", "hr", "caption", "details", "summary",
    "center", "main", "nav", "body", "html",
})
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "figcaption", "caption", "dt"})
_BOLD_TAGS = frozenset({"strong", "b"})
_SKIP_TEXT = DROP - {"audio", "video"}  # their fallback text is still text
ONLY_PUNCT = re.compile(r"^[\W_]*$")


@valueclass(frozen=False)
class Block:
    """The plain text of one block element, with where its links and bold runs are."""

    tag: str
    text: str = ""  # whitespace collapsed; "\n" only where a <br> was
    links: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, href)
    plain_chars: bool = False  # some non-bold text that is not just punctuation
    bold_chars: bool = False

    def add(self, text: str, bold: bool, href: str | None) -> None:
        text = WS.sub(" ", text)
        if not text:
            return
        if text[0] == " " and (not self.text or self.text[-1] in " \n"):
            text = text[1:]
            if not text:
                return
        start = len(self.text)
        self.text += text
        if href:
            self.links.append((start, len(self.text), href))
        if bold:
            if not text.isspace():
                self.bold_chars = True
        elif not ONLY_PUNCT.match(text):
            self.plain_chars = True

    def newline(self) -> None:
        if self.text and not self.text.endswith("\n\n"):
            self.text = self.text.rstrip(" ") + "\n"

    @property
    def flat(self) -> str:
        return self.text.replace("\n", " ").strip()

    @property
    def wholly_bold(self) -> bool:
        return self.bold_chars and not self.plain_chars


def _walk(el: lxml.html.HtmlElement, blocks: list[Block], bold: bool, href: str | None) -> None:
    tag = el.tag
    if not isinstance(tag, str):
        tag = ""
    tag = tag.lower()
    if tag in _SKIP_TEXT:
        pass  # its text is not article text; its tail is handled by the parent
    else:
        is_block = tag in _BLOCK_TAGS
        if is_block:
            blocks.append(Block(tag))
        if tag in _BOLD_TAGS:
            bold = True
        elif tag == "a":
            href = el.get("href") or href
        elif tag == "br":
            blocks[-1].newline()
        if el.text and tag:
            blocks[-1].add(el.text, bold, href)
        for child in el:
            _walk(child, blocks, bold, href)
            if child.tail:
                blocks[-1].add(child.tail, bold, href)
        if is_block:
            blocks.append(Block(""))  # text after this block belongs to a new one


def text_blocks(body: lxml.html.HtmlElement) -> list[Block]:
    blocks = [Block("")]
    _walk(body, blocks, False, None)
    out = []
    for block in blocks:
        block.text = block.text.rstrip()  # (only at the end: link offsets stay valid)
        if block.text:
            out.append(block)
    return out


_TAG_LIKE = re.compile(r"<\s*/?\s*[A-Za-z!?][^<>]*>")


def no_tags(text: str) -> str:
    """Remove anything that still looks like a tag (e.g. decoded from ``&lt;b&gt;``)."""
    while "<" in text and _TAG_LIKE.search(text):
        text = _TAG_LIKE.sub(" ", text)
        text = WS.sub(" ", text).strip()
    return text


def text_of(blocks: list[Block]) -> str:
    return no_tags(WS.sub(" ", " ".join(b.text for b in blocks)).strip())


def html_to_text(html: str) -> str:
    """Plain text of ``html``: tags dropped, entities decoded, whitespace collapsed.

    Text of script/style and similar elements is dropped; block elements are
    separated by a space; nothing tag-like survives (not even one decoded
    from ``&lt;b&gt;``).  Never raises.
    """
    if "<" not in html and "&" not in html:
        return WS.sub(" ", BAD_CHARS.sub(" ", html)).strip()
    return text_of(text_blocks(fragment(html)))

