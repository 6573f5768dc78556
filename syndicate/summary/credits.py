"""Repost credits: where an article was first published, from its text and feed metadata.

A repost is recognised by a credit such as "This article was first published
in Red Pepper on 3 March 2023", "Originally published at …", a mirror's
"(Date first published: 13 October 2022)", a P.S. line such as
"Anti*Capitalist Resistance. 13 Oct 2022: https://…", or the feed's own
``dc:source`` / Atom ``<source>``.  Matching is deliberately narrow: the
sentence must be about *this* article ("This article was first published …",
or a sentence that starts "First published …"), and must end after the
credit, so "The Manifesto was first published in 1848" is not a credit.
"""

from __future__ import annotations

import re

from syndicate.models import Source
from syndicate.summary.blocks import Block, html_to_text, text_blocks
from syndicate.summary.dates import DATE_NC, parse_date
from syndicate.summary.sanitise import sanitise_tree
from syndicate.summary.tree import fragment
from syndicate.summary.urls import SAFE_SCHEMES, clean_url

_NOUN = (r"(?:article|piece|post|blog\s*post|essay|interview|text|review|report|statement|"
         r"speech|talk|version|column|analysis|translation|letter|editorial|obituary|"
         r"contribution|commentary|op-ed|feature|story)s?")
# "This article (by X) was first published", "An earlier version of this piece first appeared"
_SUBJECT = (r"(?:(?:an?|the)\s+(?:[\w-]+\s+){0,2}?version\s+of\s+)?"
            r"(?:this|the\s+(?:above|following|original))\s+(?:[\w'’-]+\s+){0,2}?" + _NOUN
            + r"\b[^.!?]{0,80}?\s+(?:(?:was|were|is|has\s+been|had\s+been)\s+)?")
_VERB = (r"(?:first|originally)\s+(?:published|appeared|posted|printed|ran)"
         r"|(?:re-?published|re-?posted|cross-?posted|reprinted)(?=\s+(?:\w+\s+){0,2}?from\b)")
_CREDIT = re.compile(r"(?P<subject>" + _SUBJECT + r")?\b(?P<verb>" + _VERB + r")\b", re.I)
# One complement after the verb: "in Red Pepper", "on 3 March 2023", ", 3 March 2023".
_STOP = (r"(?=\s*(?:[,;()\[\]\n]|[.!?:](?:\s|$)|$|\s+(?:on|in|by|at|from)\s+(?:" + DATE_NC
         + r"|[A-Z\d“\"'‘*])|\s+(?:and|under|with|where|as|to)\s))")
_COMPLEMENT = re.compile(
    r"\s*(?:,\s*)?(?:(?:(?P<prep>in|by|at|on|from|for)\s+(?:the\s+website\s+of\s+)?)"
    r"(?:(?P<date>" + DATE_NC + r")|(?P<name>[^,;()\[\]\n]+?)" + _STOP + r")"
    r"|(?P<date2>" + DATE_NC + r"))",
    re.I,
)
# What may follow the credit in the same sentence: its end, or "and is reproduced …".
_CREDIT_END = re.compile(
    r"\s*(?:[.!?:;)\]…]|$|\n|[-–—(]|,?\s*(?:and|with|under|where|here|reproduced|"
    r"republished|reposted|reprinted|thanks)\b)",
    re.I,
)
_SENTENCE_START = re.compile(r"(?:^|[.!?:;(\[\n—–*•]\s*|\s[-–]\s*)$")
_BARE_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.I)
_NAME_TRIM = " \t\"'“”‘’*_:-–—"
_MIRROR_DATE = re.compile(r"\bdate\s+first\s+published\s*:\s*(?P<when>" + DATE_NC + r")", re.I)
# "Anti*Capitalist Resistance. 13 Oct 2022: https://…"  (a P.S. credit on a mirror site)
_PS_CREDIT = re.compile(
    r"^[\s•·*–—-]*(?P<name>[^\s.:•*–—-][^.:\n]{1,80}?)\.\s+(?P<date>" + DATE_NC
    + r")\s*:?\s*(?P<url>https?://\S+)?\s*$",
    re.I,
)


_YEAR = re.compile(r"(?:the\s+)?(?:early\s+|late\s+|mid-?)?\d{4}s?", re.I)
MAY_CREDIT = re.compile(r"publish|appeared|posted|printed|\bran\b", re.I)  # cheap pre-check
_DIGIT = re.compile(r"\d")


def _link_in(block: Block, start: int, end: int) -> str | None:
    """The first link of ``block`` that overlaps text[start:end]."""
    for lstart, lend, href in block.links:
        if lstart < end and lend > start and href.lower().startswith(("http://", "https://")):
            return href
    return None


def _name(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip(_NAME_TRIM).strip()
    if (not value or len(value) > 80 or len(value.split()) > 8 or value[0].isdigit()
            or value.lower().startswith(("http://", "https://", "www."))
            or not any(c.isalpha() for c in value)):
        return None
    return value


def credit_in_block(block: Block) -> tuple[Source, int, int] | None:
    """A "first published in X on DATE" credit in ``block``: (source, start, end)."""
    text = block.text
    for m in _CREDIT.finditer(text):
        if not m.group("subject") and not _SENTENCE_START.search(text[: m.start()]):
            continue  # "… was first published in 1848" in the middle of a sentence
        pos = m.end()
        name = name_span = published = None
        history = False
        while True:
            c = _COMPLEMENT.match(text, pos)
            if not c or c.end() == pos:
                break
            if c.group("name") is not None and _YEAR.fullmatch(c.group("name").strip()):
                history = True  # "first published in 1848": history, not a credit
                break
            if c.group("date") or c.group("date2"):
                published = published or parse_date(c.group("date") or c.group("date2"))
            elif c.group("name") is not None:
                candidate = _name(c.group("name"))
                if candidate and name is None and c.group("prep").lower() != "for":
                    name, name_span = candidate, (c.start("name"), c.end("name"))
                elif candidate is None and _BARE_URL.match(c.group("name").strip()):
                    name_span = name_span or (c.start("name"), c.end("name"))
            pos = c.end()
        if history or not _CREDIT_END.match(text, pos):
            continue  # the sentence goes on: "… first published by the ONS, shows that …"
        end = _sentence_end(text, pos)
        url = None
        if name_span:
            url = _link_in(block, *name_span)
        url = url or _link_in(block, m.start(), end)
        if url is None:
            bare = _BARE_URL.search(text, m.end(), end)
            url = bare.group(0).rstrip(".,;") if bare else None
        if name is None and url is None and published is None:
            continue
        return Source(name=name, url=url, published=published), m.start(), end
    return None


_END_OF_SENTENCE = re.compile(r"[.!?](?=\s|$)|\n")


def _sentence_end(text: str, pos: int) -> int:
    m = _END_OF_SENTENCE.search(text, pos)
    return m.end() if m else len(text)


def _ps_credit(blocks: list[Block], i: int) -> Source | None:
    block = blocks[i]
    if len(block.text) > 300:
        return None
    m = _PS_CREDIT.match(block.text)
    if not m:
        return None
    name = _name(m.group("name"))
    url = _link_in(block, 0, len(block.text)) or m.group("url")
    if url is None and i + 1 < len(blocks):
        nxt = blocks[i + 1].text.strip()
        if _BARE_URL.fullmatch(nxt):
            url = _link_in(blocks[i + 1], 0, len(nxt)) or nxt
    if not (name and url):
        return None  # a date after a sentence is ordinary text; a credit names a link
    return Source(name=name, url=url.rstrip(".,;"), published=parse_date(m.group("date")))


def merge_sources(sources: list[Source]) -> Source | None:
    name = next((s.name for s in sources if s.name), None)
    url = next((s.url for s in sources if s.url), None)
    published = next((s.published for s in sources if s.published), None)
    if name is None and url is None and published is None:
        return None
    return Source(name=name, url=url, published=published)


def find_credits(blocks: list[Block]) -> tuple[Source | None, set[int]]:
    """The merged repost credit in ``blocks``, and the indexes of the credit blocks."""
    found: list[tuple[int, Source]] = []  # (priority, source)
    credit_blocks: set[int] = set()
    for i, block in enumerate(blocks):
        text = block.text
        if MAY_CREDIT.search(text):
            hit = credit_in_block(block)
            if hit:
                found.append((0, hit[0]))
                credit_blocks.add(i)
            m = _MIRROR_DATE.search(text)
            if m:
                found.append((1, Source(published=parse_date(m.group("when")))))
                credit_blocks.add(i)
        if "." in text and _DIGIT.search(text, 0, 120):
            ps = _ps_credit(blocks, i)
            if ps:
                found.append((2, ps))
                credit_blocks.add(i)
    found.sort(key=lambda pair: pair[0])
    return merge_sources([s for _, s in found]), credit_blocks


def find_original(html: str, *, dc_source: str | None = None,
                  source_title: str | None = None, base_url: str = "") -> Source | None:
    """The original source of a reposted article, from its HTML and feed metadata.

    Text credits come first (their name, link and date), then ``dc_source``
    (a URL or a name) and ``source_title`` (Atom ``<source><title>``) fill in
    what the text did not say.  None when nothing credits another source.
    """
    body = fragment(html)
    sanitise_tree(body, base_url, [])
    credit, _ = find_credits(text_blocks(body))
    return with_metadata(credit, dc_source, source_title, base_url)


def with_metadata(credit: Source | None, dc_source: str | None, source_title: str | None,
                   base_url: str) -> Source | None:
    sources = [credit] if credit else []
    if dc_source and dc_source.strip():
        value = dc_source.strip()
        if value.lower().startswith(("http://", "https://")) or (base_url and value.startswith("/")):
            sources.append(Source(url=clean_url(value, base_url, SAFE_SCHEMES)))
        else:
            sources.append(Source(name=_name(html_to_text(value))))
    if source_title and source_title.strip():
        sources.append(Source(name=_name(html_to_text(source_title))))
    return merge_sources(sources)

