"""The standfirst: the few plain-text lines a post quotes from an article.

In order of preference:

1. the article's lead: a wholly bold paragraph at the top of the content, as
   WordPress sites such as ACR write it;
2. the feed's description, without WordPress's "The post … appeared first
   on …" footer, without "[…]" / SPIP's "(...)" / "Continue reading", and
   without links to the article's tags and section (``rel="tag"``,
   ``rel="directory"``: SPIP's "- Africa / Kenya, Youth"), unless what is
   left of it is only a run of the content's own text: an automatic excerpt
   (WordPress's first 55 words, Ghost's first 50, SPIP's first 600
   characters) has lost the content's paragraph and heading breaks, so it
   runs a heading into the lead and the lead into the next paragraph;
3. the first non-empty paragraph of the content.

Whichever it is, a leading repost credit ("This article was first published
in …") is not part of it.
"""

from __future__ import annotations

import re

from syndicate.summary.blocks import HEADINGS, ONLY_PUNCT, Block, no_tags, text_blocks, text_of
from syndicate.summary.credits import MAY_CREDIT, credit_in_block
from syndicate.summary.sanitise import WP_FOOTER
from syndicate.summary.tree import WS, fragment

_READ_MORE = re.compile(
    r"(?:\s*(?:[\[(]\s*(?:…|\.\.\.)\s*[\])]|…|\(more…?\)|(?:continue|keep)\s+reading\b[^.!?]{0,60}"
    r"|read\s+(?:more|the\s+rest)\b[^.!?]{0,60}|[→»]"
    r"|the\s+post\s+.{1,400}?\s+appeared\s+first\s+on\s+[^\n]{1,200}))+\s*$",
    re.I | re.S,
)
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s|$)")
_LEAD_MIN = 40  # a bold "P.S." or a signature is not a lead
_LEAD_SCAN = 4  # the lead is among the first few blocks
_DESC_MAX = 600  # a longer description is the whole article, not a summary


def _trim_excerpt(text: str) -> str:
    """Remove "[…]" / "Continue reading" from an excerpt; end it cleanly."""
    m = _READ_MORE.search(text)
    if not m:
        return text
    text = text[: m.start()].rstrip()
    if not text:
        return ""
    ends = list(_SENTENCE_END.finditer(text))
    if ends and ends[-1].end() == len(text):
        return text
    if ends and (ends[-1].end() >= 60 or ends[-1].end() * 3 >= len(text)):
        return text[: ends[-1].end()]  # cut back to the last whole sentence
    return text.rstrip(",;:–— ") + "…"


def _strip_credit_sentence(text: str) -> str:
    """Drop a leading "This article was first published in X on DATE." from ``text``."""
    if not MAY_CREDIT.search(text):
        return text
    hit = credit_in_block(Block("", text))
    if hit and hit[1] == 0:
        return text[hit[2]:].strip()
    return text


def _bold_lead(blocks: list[Block], skip: set[int]) -> str | None:
    seen = 0
    for i, block in enumerate(blocks):
        if i in skip:
            continue
        if block.tag in HEADINGS:
            continue  # "Contents" or a section heading before the lead
        if block.wholly_bold and len(block.flat) >= _LEAD_MIN and block.tag not in ("li",):
            return block.flat
        seen += 1
        if seen >= _LEAD_SCAN or len(block.flat) > 200:
            return None  # the article body has started
    return None


_TAG_RELS = frozenset({"tag", "directory"})  # rel-tag microformat: a link naming a tag or section
_TRAILING_SEPARATORS = re.compile(r"[\s,;/|·•–—-]+$")


def _from_description(description_html: str) -> str:
    body = fragment(description_html)
    for link in [a for a in body.iter("a") if _TAG_RELS & set((a.get("rel") or "").lower().split())]:
        link.drop_tree()  # SPIP's "- Africa / Kenya, Youth" names the section and tags, it is no summary
    blocks = text_blocks(body)
    kept = [b for b in blocks if not WP_FOOTER.match(b.flat) and not ONLY_PUNCT.match(b.flat)]
    if not kept:
        return ""
    if len(kept) > 1 and sum(len(b.flat) for b in kept) > _DESC_MAX:
        kept = kept[:1]
    text = no_tags(WS.sub(" ", " ".join(b.flat for b in kept)).strip())
    text = _TRAILING_SEPARATORS.sub("", text)  # what separated the tags: "intro - / ,"
    text = _strip_credit_sentence(_trim_excerpt(text))
    return text


def _first_paragraph(blocks: list[Block], skip: set[int]) -> str:
    fallback = ""
    for i, block in enumerate(blocks):
        if i in skip:
            continue
        first = block.text.split("\n\n", 1)[0].replace("\n", " ").strip()
        if not first:
            continue
        if (block.tag in HEADINGS or block.tag == "li"
                or (block.wholly_bold and len(first) < _LEAD_MIN)):  # a heading in bold
            fallback = fallback or first
            continue
        return no_tags(_trim_excerpt(first))
    return no_tags(fallback)


def choose_standfirst(blocks: list[Block], credit_blocks: set[int], description_html: str) -> str:
    """The standfirst of an article whose content is ``blocks`` (``credit_blocks`` are its repost
    credits, never the standfirst) and whose feed description is ``description_html``."""
    standfirst = _bold_lead(blocks, credit_blocks)
    if not standfirst and description_html.strip():
        standfirst = _from_description(description_html)
        if standfirst and standfirst in text_of(blocks):
            standfirst = ""  # an automatic excerpt: the content's own paragraphs say it better
    if not standfirst:
        standfirst = _first_paragraph(blocks, credit_blocks)
    return no_tags(_strip_credit_sentence(standfirst or ""))
