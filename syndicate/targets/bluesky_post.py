"""What a Bluesky post is made of, before any network call: the platform's rules as data,
the draft (rich-text facets in UTF-8 byte offsets, the external link card), the checks a
draft must pass, and the thumbnail fitted to the blob limit.

The numbers are the lexicon's (``app.bsky.feed.post``, ``app.bsky.richtext.facet``,
``app.bsky.embed.external``); the PDS enforces them.  The adapter is in
``syndicate.targets.bluesky``.  This module's ``PLATFORM`` is what the registry holds:
drafting needs this module only; the adapter's package is imported when ``build`` first
makes one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from syndicate.config import BlueskyTarget
from syndicate.content_warnings import SELF_LABELS, warning_for, warning_line
from syndicate.errors import PermanentError
from syndicate.images import fit_image
from syndicate.models import Facet, ImageRules, LinkCard, TargetLimits
from syndicate.patterns import compiled
from syndicate.targets.base import Platform, adapter_in
from syndicate.textlen import clusters, count_graphemes, url_spans
from syndicate.value import replace

if TYPE_CHECKING:  # the composer is imported when a post is drafted, not when the adapter is built
    from syndicate.compose import Composed
    from syndicate.models import Article, PostDraft

__all__ = ["LIMITS", "PLATFORM", "THUMBNAIL", "check_draft", "count_graphemes", "draft", "facets",
           "gate_notes", "link_text", "offline_limits", "prepare_thumb", "reserve", "short_url"]

#: app.bsky.feed.post#text: maxGraphemes 300 and maxLength 3000 (UTF-8 bytes); URLs count as written.
LIMITS = TargetLimits(max_length=300, url_length=None, unit="graphemes", max_bytes=3000)
#: app.bsky.embed.external#external thumb: a blob of at most 1,000,000 bytes.  A JPEG, PNG or
#: WebP within it and 2000 px a side goes as it came; anything else is scaled and re-encoded.
THUMBNAIL = ImageRules(max_bytes=1_000_000, max_side=2000, formats=frozenset({"JPEG", "PNG", "WEBP"}))
CARD_TITLE_MAX_GRAPHEMES = 300  # app.bsky.embed.external title
CARD_DESCRIPTION_MAX_CHARS = 300
TAG_MAX_GRAPHEMES, TAG_MAX_BYTES = 64, 640  # app.bsky.richtext.facet#tag
SHORT_PATH, SHORT_PATH_KEPT = 15, 13  # the app's toShortUrl: a longer path shows its first 13, then "…"
#: Fields whose words may hold URLs and #tags that get facets of their own (the feed's, the editor's).
TEXT_FIELDS = frozenset({"title", "standfirst", "intro"})
_INVISIBLE = "\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2"
# @atproto/api's RichText.detectFacets: "#" or "＃" after a space (or at the start), then a word with
# something not a digit or punctuation in it; trailing punctuation is not part of the tag.
_NOT_IN_TAG = r"\s" + _INVISIBLE
_TAG = (r"(?:^|(?<=\s))[#＃](?P<tag>(?!\ufe0f)[^" + _NOT_IN_TAG + r"]*[^\d\p{P}" + _NOT_IN_TAG
        + r"]+[^" + _NOT_IN_TAG + r"]*)")
_TRAILING_PUNCTUATION = r"\p{P}+$"


def short_url(url: str) -> str:
    """The link as the Bluesky app shows it: host, then the path (with query and fragment), cut
    to its first 13 characters and "…" when longer than 15; no scheme."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return url
    if parts.scheme not in ("http", "https") or not host:
        return url
    if port is not None:
        host += f":{port}"
    path = (parts.path if parts.path != "/" else "") + (f"?{parts.query}" if parts.query else "") + (
        f"#{parts.fragment}" if parts.fragment else "")
    pieces = clusters(path)
    if len(pieces) > SHORT_PATH:
        return host + "".join(pieces[:SHORT_PATH_KEPT]) + "…"
    return host + path


def link_text(url: str, cfg: BlueskyTarget) -> str:
    """How the article's link shows in the post: ``short_url`` (``short_link: false``: the URL)."""
    return short_url(url) if cfg.short_link else url


def offline_limits(cfg: BlueskyTarget) -> TargetLimits:
    """300 graphemes and 3,000 bytes; ``max_length`` in the config can only lower it."""
    if cfg.max_length:
        return TargetLimits(min(cfg.max_length, LIMITS.max_length), None, "graphemes", LIMITS.max_bytes)
    return LIMITS


def draft(article: Article, composed: Composed, cfg: BlueskyTarget) -> PostDraft:
    """The post: the composed text, its link and tag facets, and a link card for the article.

    The card is always drafted (``preview`` shows it); ``link_card: false``
    leaves it out when posting.
    """
    from syndicate.compose import card_title, shorten_to
    from syndicate.summary import web_url

    fields = composed.fields
    card = LinkCard(
        uri=fields["link"],
        title=shorten_to(card_title(fields["title"], fields["standfirst"], fields["link"]), 3000,
                         CARD_TITLE_MAX_GRAPHEMES, 3000),
        description=shorten_to(fields["standfirst"], CARD_DESCRIPTION_MAX_CHARS),
        thumb_url=web_url(article.image),
    )
    note = (f"link card: {card.uri} with title, {len(card.description)}-character description"
            + (f" and thumbnail {card.thumb_url}" if card.thumb_url else ", no thumbnail"))
    shown = dict(composed.parts).get("link", fields["link"])
    link_note = (f"link shown as {shown!r}, under a link facet carrying {fields['link']} (short_link: false "
                 "shows the URL)" if shown != fields["link"] else "link shown as the URL (short_link: false)")
    notes = [link_note, note, *gate_notes(cfg)]
    post = composed.to_draft(facets=facets(composed), card=card)
    found = warning_for(article, cfg.content_warnings)
    if found is not None and found[0] in SELF_LABELS:
        notes.append(f"self-label {found[0]} (category {found[1]!r})")
        post = replace(post, labels=(found[0],))
    elif found is not None:  # no label fits: the text opens with the warning
        prefix = warning_line(found[0]) + "\n\n"
        shift = len(prefix.encode())
        text = prefix + post.text
        post = replace(post, text=text, length=count_graphemes(text), facets=tuple(
            replace(f, byte_start=f.byte_start + shift, byte_end=f.byte_end + shift) for f in post.facets))
        notes.append(f"warning line {warning_line(found[0])!r} (category {found[1]!r}: no self-label fits)")
    return replace(post, notes=(*post.notes, *notes))


def reserve(article: Article, cfg: BlueskyTarget) -> tuple[int, int]:
    """A warning line (a content warning no self-label fits) takes its room from the text."""
    found = warning_for(article, cfg.content_warnings)
    if found is None or found[0] in SELF_LABELS:
        return 0, 0
    line = warning_line(found[0]) + "\n\n"
    return count_graphemes(line), len(line.encode())


def gate_notes(cfg: BlueskyTarget) -> list[str]:
    """What the post's threadgate and postgate say (none: everybody may reply and quote)."""
    notes = []
    if cfg.replies != "everybody":
        who = "nobody" if cfg.replies == "nobody" else ", ".join(cfg.replies)
        notes.append(f"replies: {who} (a threadgate, written with the post)")
    if not cfg.quotes:
        notes.append("quotes: off (a postgate, written with the post)")
    return notes


def _in_text(text: str, offset: int) -> list[Facet]:
    """Facets for the URLs and #tags written in a piece of the feed's (or editor's) text that
    starts at byte ``offset``, found as the Bluesky app finds them."""
    out: list[Facet] = []

    def at(i: int) -> int:
        return offset + len(text[:i].encode())

    # (no "://", no URL; no "#" or "＃", no tag: plain text is not scanned, nor regex imported)
    urls = url_spans(text) if "://" in text else []
    for start, end in urls:
        out.append(Facet(at(start), at(end), "link", text[start:end]))
    if "#" in text or "＃" in text:
        for m in compiled(_TAG).finditer(text):
            tag = compiled(_TRAILING_PUNCTUATION).sub("", m.group("tag"))
            start, end = m.start(), m.start("tag") + len(tag)
            if (not tag or count_graphemes(tag) > TAG_MAX_GRAPHEMES or len(tag.encode()) > TAG_MAX_BYTES
                    or any(s < end and start < e for s, e in urls)):
                continue
            out.append(Facet(at(start), at(end), "tag", tag))
    return sorted(out, key=lambda f: f.byte_start)


def facets(composed: Composed) -> tuple[Facet, ...]:
    """Facets in UTF-8 byte offsets of the composed text: the link (over the text it is shown
    as, carrying the URL), the hashtags, and the URLs and #tags the title, standfirst or intro
    write."""
    out: list[Facet] = []
    offset = 0
    for name, text in composed.parts:
        size = len(text.encode())
        if name == "link":
            out.append(Facet(offset, offset + size, "link", composed.fields.get("link", text)))
        elif name in TEXT_FIELDS:
            out.extend(_in_text(text, offset))
        elif name == "hashtags":
            pos = offset
            for i, tag in enumerate(composed.tags):
                if i:
                    pos += 1  # the space between tags
                tag_size = len(tag.encode()) + 1
                out.append(Facet(pos, pos + tag_size, "tag", tag))
                pos += tag_size
        offset += size
    return tuple(out)


def check_draft(draft: PostDraft, limits: TargetLimits, target: str) -> None:
    """Raise ``PermanentError`` for a draft the PDS would refuse: over the limits, or a facet
    outside the text."""
    graphemes = count_graphemes(draft.text)
    if graphemes > limits.max_length:
        raise PermanentError(f"text is {graphemes} graphemes, over the limit of {limits.max_length}",
                             target=target)
    size = len(draft.text.encode("utf-8"))
    max_bytes = limits.max_bytes or LIMITS.max_bytes or size
    if size > max_bytes:
        raise PermanentError(f"text is {size} bytes, over the limit of {max_bytes}", target=target)
    for facet in draft.facets:
        if not 0 <= facet.byte_start < facet.byte_end <= size:
            raise PermanentError(
                f"facet {facet.kind} {facet.value!r} at bytes {facet.byte_start}-{facet.byte_end} "
                f"is outside the text ({size} bytes)",
                target=target,
            )


def prepare_thumb(data: bytes, content_type: str = "") -> tuple[bytes, str]:
    """An image fit for a link card's thumbnail: ``(bytes, mime type)``.

    Decoded safely (``syndicate.images``: JPEG, PNG, WebP or GIF, at most 25
    megapixels).  A JPEG, PNG or WebP that is already under 1,000,000 bytes
    and 2000 px a side is kept as it is; anything else is scaled to fit 2000
    px and re-encoded as JPEG.  Raises ``ValueError`` (``ImageRefused``) for
    anything else.
    """
    return fit_image(data, content_type, THUMBNAIL)


PLATFORM = Platform(kind="bluesky", config=BlueskyTarget, limits=LIMITS, offline_limits=offline_limits,
                    build=adapter_in("syndicate.targets.bluesky"), draft=draft, reserve=reserve,
                    link_text=link_text)
