"""Sanitising an article's HTML for republishing, in place on its lxml tree.

Dropped with their content: script, style, iframe, form, object, embed and
the like (``DROP``), WordPress share and related-post blocks, tracking
images (1×1 or hidden pixels, tracker hosts) and the "The post … appeared
first on …" footer.  Kept: a list of harmless elements (``_KEEP``) with a
short allow-list of attributes, their URLs made absolute and safe
(``syndicate.summary.urls``); any other element is unwrapped, its text kept.
"""

from __future__ import annotations

import re

import lxml.html

from syndicate.summary.tree import WS, fragment, serialise
from syndicate.summary.urls import SAFE_HREF_SCHEMES, SAFE_SCHEMES, clean_srcset, clean_url, is_tracker

# Dropped with everything inside them.
DROP = frozenset({
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
# An image hidden by its style: a tracking pixel.
_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)

WP_FOOTER = re.compile(r"^\s*The post .{1,400}? appeared first on .{1,200}?\.?\s*$", re.S)


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
    return ident is not None and ident.lower() in _SHARE_IDS


def sanitise_tree(el: lxml.html.HtmlElement, base_url: str, images: list[tuple[str, str]]) -> None:
    """Sanitise ``el``'s children in place; collect kept images' (URL, alt) in ``images``."""
    for child in list(el):
        tag = child.tag
        if not isinstance(tag, str):  # a comment or processing instruction
            child.drop_tree()
            continue
        tag = tag.lower()
        if tag in DROP or _is_share_block(child):
            child.drop_tree()
            continue
        if tag == "img":
            src = clean_url(_img_src(child), base_url, SAFE_SCHEMES)
            if (src is None or is_tracker(src)
                    or (_tiny(child.get("width")) and _tiny(child.get("height")))
                    or _HIDDEN.search(child.get("style") or "")):
                child.drop_tree()
                continue
            child.set("src", src)
            srcset = clean_srcset(child.get("srcset") or "", base_url)
            if srcset:
                child.set("srcset", srcset)
            elif "srcset" in child.attrib:
                del child.attrib["srcset"]
            images.append((src, WS.sub(" ", child.get("alt") or "").strip()))
        elif tag == "a":
            href = child.get("href")
            if href is not None:
                clean = clean_url(href, base_url, SAFE_HREF_SCHEMES)
                if clean is not None and is_tracker(clean):
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
            if WP_FOOTER.match(WS.sub(" ", child.text_content())):
                child.drop_tree()
                continue
        if len(child):
            sanitise_tree(child, base_url, images)
        if tag not in _KEEP:
            child.drop_tag()  # keep its text and children
            continue
        allowed = _ATTRS.get(tag)
        for name in list(child.attrib):
            if name in _GLOBAL_ATTRS or (allowed is not None and name in allowed):
                if name in _URL_ATTRS and tag != "img" and tag != "a":
                    clean = clean_url(child.get(name) or "", base_url, SAFE_SCHEMES)
                    if clean is None:
                        del child.attrib[name]
                    else:
                        child.set(name, clean)
                continue
            del child.attrib[name]
        if (tag not in _EMPTY_OK and not len(child)
                and not (child.text and child.text.strip())):
            child.drop_tree()  # an empty <p>, or a <figure> whose video was dropped


def tidy_whitespace(body: lxml.html.HtmlElement) -> None:
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
    body = fragment(html)
    sanitise_tree(body, base_url, [])
    tidy_whitespace(body)
    return serialise(body)
