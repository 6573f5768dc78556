"""Article links: the canonical link we post, and the identity we dedupe on.

``canonical_url`` is what an article's ``link`` is stored and posted as:
absolute, scheme and host lower-cased, default port, fragment and tracking
parameters dropped.  It keeps the scheme, ``www.`` and the trailing slash,
because that is the address the site gives.

``link_identity`` is coarser, and only for recognising an article we
already have: the same article at ``http://`` and ``https://``, with and
without ``www.``, with and without a trailing slash has one identity, so a
site that moves to https (or drops ``www.``) does not repost its feed::

    link_identity("http://www.Example.org/a/?p=1") == "example.org/a?p=1"
                                                   == link_identity("https://example.org/a?p=1")

Pure and cheap (no feedparser): the store imports it.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

__all__ = ["CONTROL_CHARS", "canonical_url", "link_identity"]

_TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid",
    "igshid", "mc_cid", "mc_eid", "ref", "ref_src", "ref_url", "_hsenc", "_hsmi",
    "hsctatracking", "mkt_tok", "vero_id", "vero_conv", "oly_anon_id", "oly_enc_id",
    "rb_clickid", "s_kwcid", "wt.mc_id", "_ga", "_gl", "spm", "cmpid", "ncid", "sr_share",
    "at_medium", "at_campaign", "share",
})
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hmb_")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
CONTROL_CHARS = re.compile("[\x00-\x1f\x7f]+")  # dropped, as browsers do


def _tracking(param: str) -> bool:
    name = param.split("=", 1)[0]
    if "%" in name or "+" in name:
        name = unquote_plus(name)
    name = name.lower()
    return name in _TRACKING_PARAMS or name.startswith(_TRACKING_PREFIXES)


def canonical_url(url: str, base: str | None = None) -> str:
    """``url`` made absolute (against ``base``) and canonical.

    Scheme and host are lower-cased, default ports, the fragment and tracking
    parameters (``utm_*``, ``fbclid``, ``gclid``, ``mc_cid``, ``ref`` …) are
    dropped; the other query parameters keep their order and encoding.  A
    URL that cannot be parsed is returned stripped but otherwise unchanged.
    """
    url = CONTROL_CHARS.sub("", url).strip().replace(" ", "%20")
    try:
        if base:
            url = urljoin(CONTROL_CHARS.sub("", base).strip(), url)
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return url
    try:
        port = parts.port
    except ValueError:
        return url
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"  # IPv6
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + host
    if port is not None and str(port) != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    query = parts.query
    if query:
        query = "&".join(p for p in query.split("&") if p and not _tracking(p))
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))



def link_identity(url: str) -> str:
    """What makes two links the same article: ``host[:port]path[?query]``.

    Of the canonical URL: no scheme, no userinfo, no leading ``www.``, no
    trailing slash on the path.  Case in the path and query, a port that is
    not the default, and any other subdomain still tell articles apart.  A
    link that is not http(s) is its own identity.
    """
    link = canonical_url(url)
    try:
        parts = urlsplit(link)
        port = parts.port
    except ValueError:
        return link
    if parts.scheme not in ("http", "https"):
        return link
    host = (parts.hostname or "").removeprefix("www.")
    if ":" in host:
        host = f"[{host}]"  # IPv6
    if port is not None:  # canonical_url left only a port that is not the scheme's default
        host += f":{port}"
    path = parts.path.rstrip("/")
    return host + path + (f"?{parts.query}" if parts.query else "")
