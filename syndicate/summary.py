"""Article HTML → standfirst, sanitised content, image and original source.

Pure functions, no network.  Each piece of HTML is parsed once, with lxml's
HTML parser (libxml2, the parser BeautifulSoup's ``"lxml"`` mode uses; lxml
directly is about ten times faster than going through BeautifulSoup's tree,
and ingest speed matters): the tree is sanitised in place, then walked once
into *blocks* (paragraphs, headings, list items …) of plain text that carry
which spans were bold and which were links.  The standfirst and the repost
credit are read off those blocks.

Standfirst, in order of preference:

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
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from syndicate.models import Source

__all__ = [
    "Summary",
    "find_original",
    "html_to_text",
    "parse_date",
    "sanitise_html",
    "summarise",
    "web_url",
]


@dataclass(frozen=True, slots=True)
class Summary:
    """What ``summarise`` reads from one entry's HTML."""

    standfirst: str  # plain text
    content_html: str  # sanitised HTML
    image: str | None  # absolute URL of the first (non-tracking) image
    source: Source | None  # original source of a repost
    image_alts: dict[str, str] = field(default_factory=dict)  # image URL → its alt text


# --- HTML parsing --------------------------------------------------------------

_LOCAL = threading.local()  # lxml parsers must not be shared between threads

# Characters libxml2 refuses or mangles; they never belong in text.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
# A fragment is wrapped in <html><body>; its own wrappers would end our body early.
_WRAPPERS = re.compile(r"</?(?:html|body)\b[^>]*>", re.I)


def _parser() -> etree.HTMLParser:
    parser = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = lxml.html.HTMLParser(
            encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True,
            default_doctype=False,
        )
        _LOCAL.parser = parser
    return parser


def _fragment(html: str) -> lxml.html.HtmlElement:
    """Parse an HTML fragment; return its ``<body>`` element (never raises)."""
    if _BAD_CHARS.search(html):
        html = _BAD_CHARS.sub(" ", html)
    if "<h" in html or "<H" in html or "</" in html:
        html = _WRAPPERS.sub("", html)
    data = ("<html><body>" + html + "</body></html>").encode("utf-8")
    root = etree.fromstring(data, _parser())
    body = root.find("body")
    if body is None:  # pragma: no cover - libxml2 always makes one
        body = lxml.html.Element("body")
    return body


def _serialise(body: lxml.html.HtmlElement) -> str:
    body.attrib.clear()
    html = lxml.html.tostring(body, encoding="unicode", with_tail=False)
    return html.removeprefix("<body>").removesuffix("</body>").strip()


# --- sanitising ----------------------------------------------------------------

# Dropped with everything inside them.
_DROP = frozenset({
    "script", "style", "iframe", "frame", "frameset", "noscript", "noembed", "noframes",
    "form", "object", "embed", "applet", "param", "template", "svg", "math", "canvas",
    "head", "title", "meta", "link", "base", "input", "button", "select", "textarea",
    "option", "dialog", "audio", "video", "source", "track", "map", "xmp", "plaintext",
})
# Kept (with the attributes below); any other element is unwrapped: its text stays.
_KEEP = frozenset({
    "a", "abbr", "acronym", "address", "article", "aside", "b", "bdi", "bdo", "big",
    "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "del",
    "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "footer", "h1", "h2",
    "h3", "h4", "h5", "h6", "header", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol",
    "p", "pre", "q", "rp", "rt", "ruby", "s", "samp", "section", "small", "span", "strike",
    "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "time", "tr", "tt", "u", "ul", "var", "wbr",
})
_GLOBAL_ATTRS = frozenset({"title", "lang", "dir"})
_ATTRS = {
    "a": frozenset({"href"}),
    "img": frozenset({"src", "srcset", "sizes", "alt", "width", "height"}),
    "blockquote": frozenset({"cite"}),
    "q": frozenset({"cite"}),
    "del": frozenset({"cite", "datetime"}),
    "ins": frozenset({"cite", "datetime"}),
    "td": frozenset({"colspan", "rowspan", "scope"}),
    "th": frozenset({"colspan", "rowspan", "scope"}),
    "ol": frozenset({"start", "reversed", "type"}),
    "li": frozenset({"value"}),
    "time": frozenset({"datetime"}),
    "col": frozenset({"span"}),
    "colgroup": frozenset({"span"}),
}
_URL_ATTRS = frozenset({"href", "src", "cite"})
_EMPTY_OK = frozenset({"br", "hr", "img", "wbr", "td", "th", "col"})

# Share buttons, "related posts", like buttons: by class token (exact or prefix).
_SHARE_CLASSES = frozenset({
    "sharedaddy", "sharing", "share-buttons", "social-share", "addtoany", "shareaholic",
    "jetpack-likes-widget-wrapper", "wp-block-social-links", "post-share", "more-link",
    "related-posts", "yarpp-related", "crp_related", "jp-relatedposts", "wpcnt",
})
_SHARE_PREFIXES = ("sd-", "jp-relatedposts", "addtoany_", "a2a_", "heateor_", "ssba",
                   "yarpp-", "crp_", "sharethis", "jetpack-sharing", "wp-block-jetpack-related")
_SHARE_IDS = frozenset({"jp-post-flair", "jp-relatedposts", "sharing", "related-posts"})

# Images and links that only count readers.
_TRACKER_HOSTS = frozenset({
    "feeds.feedburner.com", "feedproxy.google.com", "feeds.wordpress.com", "pixel.wp.com",
    "stats.wordpress.com", "stats.wp.com", "www.google-analytics.com", "google-analytics.com",
    "ssl.google-analytics.com", "pixel.quantserve.com", "b.scorecardresearch.com",
    "sb.scorecardresearch.com", "ad.doubleclick.net", "pubads.g.doubleclick.net",
    "feeds.feedblitz.com", "assets.feedblitz.com", "pixel.mathtag.com", "feedpress.me",
    "track.hubspot.com",
})
_TRACKER_PATH = re.compile(r"/~(?:r|ff|f|a)/|/b\.gif\b|/pixel(?:\.gif|\.png)?(?:$|\?)|/1x1\.", re.I)
_SAFE_SCHEMES = frozenset({"http", "https"})
_SAFE_HREF_SCHEMES = frozenset({"http", "https", "mailto"})
_URL_JUNK = re.compile(r"[\x00-\x20\x7f]+")
_URL_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]+")  # (browsers drop them too)
_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)

_WP_FOOTER = re.compile(r"^\s*The post .{1,400}? appeared first on .{1,200}?\.?\s*$", re.S)
_WS = re.compile(r"\s+")


def _clean_url(value: str, base_url: str, schemes: frozenset[str]) -> str | None:
    """An absolute URL with a safe scheme, or None (javascript:, data:, …)."""
    value = _URL_CONTROL.sub("", value).strip()
    if not value:
        return None
    probe = _URL_JUNK.sub("", value)  # "java\tscript:" is still javascript:
    scheme = urlsplit(probe).scheme.lower() if ":" in probe[:12] else ""
    if scheme:
        return value if scheme in schemes else None
    if probe.startswith("#"):
        return None  # an in-page anchor means nothing outside the page
    if base_url:
        try:
            joined = urljoin(_URL_CONTROL.sub("", base_url), value)
        except ValueError:
            return None
        scheme = urlsplit(joined).scheme.lower()
        return joined if scheme in schemes else None
    return value  # relative, and nothing to resolve it against


_SRCSET_CANDIDATE = re.compile(r"[\s,]*(?P<url>[^\s,][^\s]*?)(?P<commas>,*)(?=\s|$)(?P<desc>[^,]*)")


def _clean_srcset(value: str, base_url: str) -> str:
    """A ``srcset`` with each candidate's URL made absolute; unsafe candidates dropped.

    Candidates are split as the HTML standard does: a URL is a run of
    non-space characters (so ``?resize=300,200`` stays whole), its
    descriptors run to the next comma.
    """
    kept = []
    for m in _SRCSET_CANDIDATE.finditer(value):
        url = _clean_url(m.group("url"), base_url, _SAFE_SCHEMES)
        desc = "" if m.group("commas") else " ".join(m.group("desc").split())
        if url is not None and not _is_tracker(url):
            kept.append(f"{url} {desc}" if desc else url)
    return ", ".join(kept)


def web_url(value: str | None, base_url: str = "") -> str | None:
    """``value`` as an absolute http(s) URL with a host (resolved against ``base_url``), else None.

    The one test for a link that leaves us (a post's link, a card's image, a
    mirror feed's link): ``javascript:``, ``data:``, ``file:``, a relative
    link with nothing to resolve it against, or ``http://`` with no host are
    all refused.
    """
    clean = _clean_url(value or "", base_url, _SAFE_SCHEMES)
    if clean is None:
        return None
    try:
        parts = urlsplit(clean)
        return clean if parts.scheme.lower() in _SAFE_SCHEMES and parts.hostname else None
    except ValueError:
        return None


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _is_tracker(url: str) -> bool:
    host = _host(url)
    if host in _TRACKER_HOSTS:
        return True
    return bool(_TRACKER_PATH.search(url))


def _tiny(value: str | None) -> bool:
    if value is None:
        return False
    value = value.strip().lower().removesuffix("px").strip()
    return value in ("0", "1")


def _img_src(img: lxml.html.HtmlElement) -> str:
    """The image's URL, looking past lazy-loading placeholders (``data:`` src + data-src)."""
    src = (img.get("src") or "").strip()
    if src and not src.lower().startswith("data:"):
        return src
    for name in ("data-src", "data-lazy-src", "data-original", "srcset", "data-srcset"):
        tokens = (img.get(name) or "").split()  # a srcset is "url 300w, url 1024w"
        if tokens and tokens[0].rstrip(","):
            return tokens[0].rstrip(",")
    return src


def _is_share_block(el: lxml.html.HtmlElement) -> bool:
    cls = el.get("class")
    if cls:
        for token in cls.split():
            token = token.lower()
            if token in _SHARE_CLASSES or token.startswith(_SHARE_PREFIXES):
                return True
    ident = el.get("id")
    return bool(ident) and ident.lower() in _SHARE_IDS


def _sanitise_tree(el: lxml.html.HtmlElement, base_url: str, images: list[tuple[str, str]]) -> None:
    """Sanitise ``el``'s children in place; collect kept images' (URL, alt) in ``images``."""
    for child in list(el):
        tag = child.tag
        if not isinstance(tag, str):  # a comment or processing instruction
            child.drop_tree()
            continue
        tag = tag.lower()
        if tag in _DROP or _is_share_block(child):
            child.drop_tree()
            continue
        if tag == "img":
            src = _clean_url(_img_src(child), base_url, _SAFE_SCHEMES)
            if (src is None or _is_tracker(src)
                    or (_tiny(child.get("width")) and _tiny(child.get("height")))
                    or _HIDDEN.search(child.get("style") or "")):
                child.drop_tree()
                continue
            child.set("src", src)
            srcset = _clean_srcset(child.get("srcset") or "", base_url)
            if srcset:
                child.set("srcset", srcset)
            elif "srcset" in child.attrib:
                del child.attrib["srcset"]
            images.append((src, _WS.sub(" ", child.get("alt") or "").strip()))
        elif tag == "a":
            href = child.get("href")
            if href is not None:
                clean = _clean_url(href, base_url, _SAFE_HREF_SCHEMES)
                if clean is not None and _is_tracker(clean):
                    if child.text_content().strip():
                        child.drop_tag()  # a tracking redirect: keep the words
                    else:
                        child.drop_tree()  # a feedburner "flare" button
                    continue
                if clean is None:
                    del child.attrib["href"]
                else:
                    child.set("href", clean)
        elif tag == "p" and "appeared first on" in child.text_content():
            if _WP_FOOTER.match(_WS.sub(" ", child.text_content())):
                child.drop_tree()
                continue
        if len(child):
            _sanitise_tree(child, base_url, images)
        if tag not in _KEEP:
            child.drop_tag()  # keep its text and children
            continue
        allowed = _ATTRS.get(tag)
        for name in list(child.attrib):
            if name in _GLOBAL_ATTRS or (allowed is not None and name in allowed):
                if name in _URL_ATTRS and tag != "img" and tag != "a":
                    clean = _clean_url(child.get(name) or "", base_url, _SAFE_SCHEMES)
                    if clean is None:
                        del child.attrib[name]
                    else:
                        child.set(name, clean)
                continue
            del child.attrib[name]
        if (tag not in _EMPTY_OK and not len(child)
                and not (child.text and child.text.strip())):
            child.drop_tree()  # an empty <p>, or a <figure> whose video was dropped


def _tidy_whitespace(body: lxml.html.HtmlElement) -> None:
    """Collapse WordPress's blank lines between top-level blocks to one newline."""
    if body.text is not None and not body.text.strip():
        body.text = None
    for child in body:
        if child.tail is not None and not child.tail.strip():
            child.tail = "\n"


def sanitise_html(html: str, base_url: str = "") -> str:
    """Return ``html`` made safe to republish.

    Drops script/style/iframe/form/object/embed (and similar) with their
    content, every ``on*``/``style``/``class`` attribute (only a short
    allow-list of attributes survives), ``javascript:``/``data:`` URLs,
    tracking images (1×1 or hidden pixels, known tracker hosts such as
    ``pixel.wp.com`` or ``feeds.feedburner.com``), WordPress share and
    related-post blocks and the "The post … appeared first on …" footer.
    Relative links are made absolute against ``base_url``.
    """
    body = _fragment(html)
    _sanitise_tree(body, base_url, [])
    _tidy_whitespace(body)
    return _serialise(body)


# --- blocks of text ------------------------------------------------------------

_BLOCK_TAGS = frozenset({
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "figure",
    "figcaption", "dd", "dt", "td", "th", "tr", "table", "ul", "ol", "dl", "section",
    "article", "aside", "header", "footer", "address", "hr", "caption", "details", "summary",
    "center", "main", "nav", "body", "html",
})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "figcaption", "caption", "dt"})
_BOLD_TAGS = frozenset({"strong", "b"})
_SKIP_TEXT = _DROP - {"audio", "video"}  # their fallback text is still text
_ONLY_PUNCT = re.compile(r"^[\W_]*$")


@dataclass(slots=True)
class _Block:
    """The plain text of one block element, with where its links and bold runs are."""

    tag: str
    text: str = ""  # whitespace collapsed; "\n" only where a <br> was
    links: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, href)
    plain_chars: bool = False  # some non-bold text that is not just punctuation
    bold_chars: bool = False

    def add(self, text: str, bold: bool, href: str | None) -> None:
        text = _WS.sub(" ", text)
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
        elif not _ONLY_PUNCT.match(text):
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


def _walk(el: lxml.html.HtmlElement, blocks: list[_Block], bold: bool, href: str | None) -> None:
    tag = el.tag
    if not isinstance(tag, str):
        tag = ""
    tag = tag.lower()
    if tag in _SKIP_TEXT:
        pass  # its text is not article text; its tail is handled by the parent
    else:
        is_block = tag in _BLOCK_TAGS
        if is_block:
            blocks.append(_Block(tag))
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
            blocks.append(_Block(""))  # text after this block belongs to a new one


def _blocks(body: lxml.html.HtmlElement) -> list[_Block]:
    blocks = [_Block("")]
    _walk(body, blocks, False, None)
    out = []
    for block in blocks:
        block.text = block.text.rstrip()  # (only at the end: link offsets stay valid)
        if block.text:
            out.append(block)
    return out


_TAG_LIKE = re.compile(r"<\s*/?\s*[A-Za-z!?][^<>]*>")


def _no_tags(text: str) -> str:
    """Remove anything that still looks like a tag (e.g. decoded from ``&lt;b&gt;``)."""
    while "<" in text and _TAG_LIKE.search(text):
        text = _TAG_LIKE.sub(" ", text)
        text = _WS.sub(" ", text).strip()
    return text


def _text_of(blocks: list[_Block]) -> str:
    return _no_tags(_WS.sub(" ", " ".join(b.text for b in blocks)).strip())


def html_to_text(html: str) -> str:
    """Plain text of ``html``: tags dropped, entities decoded, whitespace collapsed.

    Text of script/style and similar elements is dropped; block elements are
    separated by a space; nothing tag-like survives (not even one decoded
    from ``&lt;b&gt;``).  Never raises.
    """
    if "<" not in html and "&" not in html:
        return _WS.sub(" ", _BAD_CHARS.sub(" ", html)).strip()
    return _text_of(_blocks(_fragment(html)))


# --- dates -------------------------------------------------------------------

_MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4,
    "april": 4, "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8,
    "sep": 9, "sept": 9, "september": 9, "oct": 10, "october": 10, "nov": 11,
    "november": 11, "dec": 12, "december": 12,
}
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?"
          r"|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_WEEKDAY = r"(?:(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?\.?,?\s+)?"
_DATE_RE = (
    _WEEKDAY
    + r"(?:(?P<d1>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<m1>" + _MONTH + r"),?\s+(?P<y1>\d{4})"
    + r"|(?P<m2>" + _MONTH + r")\s+(?P<d2>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y2>\d{4})"
    + r"|(?P<y3>\d{4})-(?P<m3>\d{1,2})-(?P<d3>\d{1,2}))(?!\d)"
)
_DATE = re.compile(r"\b" + _DATE_RE, re.I)
_DATE_NC = re.sub(r"\(\?P<\w+>", "(?:", _DATE_RE)  # for use inside other patterns


def _date_from(m: re.Match[str]) -> datetime | None:
    try:
        if m.group("y1"):
            day, month, year = int(m.group("d1")), _MONTHS[m.group("m1").lower().rstrip(".")], \
                int(m.group("y1"))
        elif m.group("y2"):
            day, month, year = int(m.group("d2")), _MONTHS[m.group("m2").lower().rstrip(".")], \
                int(m.group("y2"))
        else:
            day, month, year = int(m.group("d3")), int(m.group("m3")), int(m.group("y3"))
        if not 1900 <= year <= 2999:
            return None
        return datetime(year, month, day, tzinfo=UTC)
    except (ValueError, KeyError):
        return None


def parse_date(text: str) -> datetime | None:
    """The first date in ``text`` in a common English form, as aware UTC midnight.

    "13 October 2022", "13 Oct 2022", "13th of October 2022", "October 13, 2022",
    "Wednesday 19 October 2022" and "2022-10-13" are understood.
    """
    m = _DATE.search(text)
    return _date_from(m) if m else None


# --- repost credits ----------------------------------------------------------

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
_STOP = (r"(?=\s*(?:[,;()\[\]\n]|[.!?:](?:\s|$)|$|\s+(?:on|in|by|at|from)\s+(?:" + _DATE_NC
         + r"|[A-Z\d“\"'‘*])|\s+(?:and|under|with|where|as|to)\s))")
_COMPLEMENT = re.compile(
    r"\s*(?:,\s*)?(?:(?:(?P<prep>in|by|at|on|from|for)\s+(?:the\s+website\s+of\s+)?)"
    r"(?:(?P<date>" + _DATE_NC + r")|(?P<name>[^,;()\[\]\n]+?)" + _STOP + r")"
    r"|(?P<date2>" + _DATE_NC + r"))",
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
_MIRROR_DATE = re.compile(r"\bdate\s+first\s+published\s*:\s*(?P<when>" + _DATE_NC + r")", re.I)
# "Anti*Capitalist Resistance. 13 Oct 2022: https://…"  (a P.S. credit on a mirror site)
_PS_CREDIT = re.compile(
    r"^[\s•·*–—-]*(?P<name>[^\s.:•*–—-][^.:\n]{1,80}?)\.\s+(?P<date>" + _DATE_NC
    + r")\s*:?\s*(?P<url>https?://\S+)?\s*$",
    re.I,
)


_YEAR = re.compile(r"(?:the\s+)?(?:early\s+|late\s+|mid-?)?\d{4}s?", re.I)
_MAY_CREDIT = re.compile(r"publish|appeared|posted|printed|\bran\b", re.I)  # cheap pre-check
_DIGIT = re.compile(r"\d")


def _link_in(block: _Block, start: int, end: int) -> str | None:
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


def _credit_in_block(block: _Block) -> tuple[Source, int, int] | None:
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


def _ps_credit(blocks: list[_Block], i: int) -> Source | None:
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


def _merge(sources: list[Source]) -> Source | None:
    name = next((s.name for s in sources if s.name), None)
    url = next((s.url for s in sources if s.url), None)
    published = next((s.published for s in sources if s.published), None)
    if name is None and url is None and published is None:
        return None
    return Source(name=name, url=url, published=published)


def _find_credits(blocks: list[_Block]) -> tuple[Source | None, set[int]]:
    """The merged repost credit in ``blocks``, and the indexes of the credit blocks."""
    found: list[tuple[int, Source]] = []  # (priority, source)
    credit_blocks: set[int] = set()
    for i, block in enumerate(blocks):
        text = block.text
        if _MAY_CREDIT.search(text):
            hit = _credit_in_block(block)
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
    return _merge([s for _, s in found]), credit_blocks


def find_original(html: str, *, dc_source: str | None = None,
                  source_title: str | None = None, base_url: str = "") -> Source | None:
    """The original source of a reposted article, from its HTML and feed metadata.

    Text credits come first (their name, link and date), then ``dc_source``
    (a URL or a name) and ``source_title`` (Atom ``<source><title>``) fill in
    what the text did not say.  None when nothing credits another source.
    """
    body = _fragment(html)
    _sanitise_tree(body, base_url, [])
    credit, _ = _find_credits(_blocks(body))
    return _with_metadata(credit, dc_source, source_title, base_url)


def _with_metadata(credit: Source | None, dc_source: str | None, source_title: str | None,
                   base_url: str) -> Source | None:
    sources = [credit] if credit else []
    if dc_source and dc_source.strip():
        value = dc_source.strip()
        if value.lower().startswith(("http://", "https://")) or (base_url and value.startswith("/")):
            sources.append(Source(url=_clean_url(value, base_url, _SAFE_SCHEMES)))
        else:
            sources.append(Source(name=_name(html_to_text(value))))
    if source_title and source_title.strip():
        sources.append(Source(name=_name(html_to_text(source_title))))
    return _merge(sources)


# --- standfirst --------------------------------------------------------------

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
    if not _MAY_CREDIT.search(text):
        return text
    hit = _credit_in_block(_Block("", text))
    if hit and hit[1] == 0:
        return text[hit[2]:].strip()
    return text


def _bold_lead(blocks: list[_Block], skip: set[int]) -> str | None:
    seen = 0
    for i, block in enumerate(blocks):
        if i in skip:
            continue
        if block.tag in _HEADINGS:
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
    body = _fragment(description_html)
    for link in [a for a in body.iter("a") if _TAG_RELS & set((a.get("rel") or "").lower().split())]:
        link.drop_tree()  # SPIP's "- Africa / Kenya, Youth" names the section and tags, it is no summary
    blocks = _blocks(body)
    kept = [b for b in blocks if not _WP_FOOTER.match(b.flat) and not _ONLY_PUNCT.match(b.flat)]
    if not kept:
        return ""
    if len(kept) > 1 and sum(len(b.flat) for b in kept) > _DESC_MAX:
        kept = kept[:1]
    text = _no_tags(_WS.sub(" ", " ".join(b.flat for b in kept)).strip())
    text = _TRAILING_SEPARATORS.sub("", text)  # what separated the tags: "intro - / ,"
    text = _strip_credit_sentence(_trim_excerpt(text))
    return text


def _first_paragraph(blocks: list[_Block], skip: set[int]) -> str:
    fallback = ""
    for i, block in enumerate(blocks):
        if i in skip:
            continue
        first = block.text.split("\n\n", 1)[0].replace("\n", " ").strip()
        if not first:
            continue
        if (block.tag in _HEADINGS or block.tag == "li"
                or (block.wholly_bold and len(first) < _LEAD_MIN)):  # a heading in bold
            fallback = fallback or first
            continue
        return _no_tags(_trim_excerpt(first))
    return _no_tags(fallback)


def summarise(content_html: str, description_html: str = "", *, base_url: str = "",
              dc_source: str | None = None, source_title: str | None = None) -> Summary:
    """Read the standfirst, sanitised content, image and original source of an entry.

    ``content_html`` is the full article (``content:encoded``, Atom
    ``content``); ``description_html`` the feed's summary (RSS
    ``description``), if it differs.  ``base_url`` resolves relative links.
    ``dc_source`` / ``source_title`` come from the feed's ``dc:source`` and
    Atom ``<source>``.  Never raises; the standfirst is always plain text.
    """
    body = _fragment(content_html)
    images: list[tuple[str, str]] = []
    _sanitise_tree(body, base_url, images)
    _tidy_whitespace(body)
    blocks = _blocks(body)
    credit, credit_blocks = _find_credits(blocks)
    source = _with_metadata(credit, dc_source, source_title, base_url)

    standfirst = _bold_lead(blocks, credit_blocks)
    if not standfirst and description_html.strip():
        standfirst = _from_description(description_html)
        if standfirst and standfirst in _text_of(blocks):
            standfirst = ""  # an automatic excerpt: the content's own paragraphs say it better
    if not standfirst:
        standfirst = _first_paragraph(blocks, credit_blocks)
    standfirst = _no_tags(_strip_credit_sentence(standfirst or ""))
    if source is not None and source.url and web_url(source.url) is None:
        source = _merge([Source(name=source.name, published=source.published)])
    return Summary(
        standfirst=standfirst,
        content_html=_serialise(body),
        image=next((u for u in (web_url(src) for src, _alt in images) if u), None),
        source=source,
        image_alts={src: alt for src, alt in reversed(images) if alt},
    )
