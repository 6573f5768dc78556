"""Which URLs an article's HTML may keep: safe schemes, resolved, no trackers.

``web_url`` is the one test for a link that leaves us (a post's link, a
card's image, a mirror feed's link); ``clean_url`` and ``clean_srcset`` are
what the sanitiser does to every ``href``, ``src``, ``srcset`` and ``cite``;
``is_tracker`` knows the images and redirects that only count readers.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

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
SAFE_SCHEMES = frozenset({"http", "https"})
SAFE_HREF_SCHEMES = frozenset({"http", "https", "mailto"})
_URL_JUNK = re.compile(r"[\x00-\x20\x7f]+")
_URL_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]+")  # (browsers drop them too)


def clean_url(value: str, base_url: str, schemes: frozenset[str]) -> str | None:
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


def clean_srcset(value: str, base_url: str) -> str:
    """A ``srcset`` with each candidate's URL made absolute; unsafe candidates dropped.

    Candidates are split as the HTML standard does: a URL is a run of
    non-space characters (so ``?resize=300,200`` stays whole), its
    descriptors run to the next comma.
    """
    kept = []
    for m in _SRCSET_CANDIDATE.finditer(value):
        url = clean_url(m.group("url"), base_url, SAFE_SCHEMES)
        desc = "" if m.group("commas") else " ".join(m.group("desc").split())
        if url is not None and not is_tracker(url):
            kept.append(f"{url} {desc}" if desc else url)
    return ", ".join(kept)


def web_url(value: str | None, base_url: str = "") -> str | None:
    """``value`` as an absolute http(s) URL with a host (resolved against ``base_url``), else None.

    The one test for a link that leaves us (a post's link, a card's image, a
    mirror feed's link): ``javascript:``, ``data:``, ``file:``, a relative
    link with nothing to resolve it against, or ``http://`` with no host are
    all refused.
    """
    clean = clean_url(value or "", base_url, SAFE_SCHEMES)
    if clean is None:
        return None
    try:
        parts = urlsplit(clean)
        return clean if parts.scheme.lower() in SAFE_SCHEMES and parts.hostname else None
    except ValueError:
        return None


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def is_tracker(url: str) -> bool:
    host = _host(url)
    if host in _TRACKER_HOSTS:
        return True
    return bool(_TRACKER_PATH.search(url))

