"""``syndicate.fetch.urls`` against httpx.URL, differentially: the same string, parts and errors.

The fetcher parses, normalises and joins URLs itself (httpx is not imported on
its path), and promises to do so exactly as httpx 0.28's ``httpx.URL`` did:
what it sends (the Host field, the request target), what it reports (the
result's URL, the redirect chain) and the ``InvalidURL`` lines.  Hypothesis
builds URLs out of awkward parts (cases, escapes, dot segments, IPv4/IPv6
literals, IDNA hosts, ports, stray delimiters) and raw text; each must give
the same outcome through both.
"""

from __future__ import annotations

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from syndicate.fetch.failures import InvalidURL
from syndicate.fetch.urls import parse


def theirs(text: str) -> tuple[str, ...]:
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        return ("invalid", str(exc))
    try:
        host = url.host
    except UnicodeError:  # an xn-- label idna cannot decode
        host = "?"
    return ("ok", str(url), url.scheme, url.raw_host.decode(), str(url.port), url.netloc.decode(),
            url.raw_path.decode(), str(url.is_absolute_url), host)


def ours(text: str) -> tuple[str, ...]:
    try:
        url = parse(text)
    except InvalidURL as exc:
        return ("invalid", str(exc))
    try:
        host = url.display_host()
    except UnicodeError:
        host = "?"
    return ("ok", str(url), url.scheme, url.host, str(url.port), url.netloc, url.target, str(url.is_absolute), host)


def joined_theirs(base: str, ref: str) -> tuple[str, str]:
    try:
        return ("ok", str(httpx.URL(base).join(ref)))
    except httpx.InvalidURL as exc:
        return ("invalid", str(exc))


def joined_ours(base: str, ref: str) -> tuple[str, str]:
    try:
        return ("ok", str(parse(base).join(ref)))
    except InvalidURL as exc:
        return ("invalid", str(exc))


TRICKY = [
    "", "/", "//", "///", ":", "::", ":foo", "a:", "1a:b", "+x:y", "HTTP://EXAMPLE.ORG", "http://Example.ORG:80/",
    "https://example.org:443", "https://example.org:80", "http://example.org:", "http://example.org:abc/",
    "http://[::1]/", "http://[::1]:8080/x", "http://[::1", "http://[::1/feed", "http://[zz::1]/", "http://[::1]x/",
    "http://1.2.3.4/", "http://999.1.1.1/", "http://1.2.3/", "http://01.2.3.4/", "http://u:p@h/", "http://u@p@h/",
    "http://u:p:q@h:1/", "http://h/a/./b/../../c/..", "http://h/../..", "http://h/a%2fb%zz%4", "http://h/é?é#é",
    "http://h/a b?c d#e f", "http://h/{x}|<y>`z`\"q\"", "http://h?x", "http://h#f", "http://h/?", "http://h/#",
    "http://h/?#", "//h/p", "/p?q#f", "p/./q", "./p", "../p", "?q", "#f", "mailto:x@y", "ftp://h/f",
    "http://exa mple.org/", "http://ex\tample.org/", "http://e\u0301.org/", "http://xn--fiqs8s.icom.museum/",
    "http://中国.icom.museum/", "http://BÜCHER.example/", "http://xn--a.com/", "http://-bad-.invalid/",
    "http://a..b/", "http://h:99999/", "http://h:-1/", "http://h:+1/", "http://h: 1/", "http://h/\u2028",
    "http://%41.example/", "http://h/%", "h:/p", "http:/p", "http:p", "http:", "https:", "x://",
    "http://h/p;params?q=1&r=2", "HTTPS://H/P", "http://[::ffff:1.2.3.4]/", "http://[fe80::1%25eth0]/",
    "http://@h/", "http://:@h/", "http://h@/", "http://@/", "wss://h:443/", "ws://h:80/", "ftp://h:21/",
    "HtTpS://example:443/", "HTTP://h:80/", "http://h:080/", "http://h:0080/",
]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_urls_parse_as_httpx_parses_them(text):
    assert ours(text) == theirs(text)


_SCHEMES = st.sampled_from(["http", "https", "HTTP", "HtTpS", "ftp", "ws", "", "x+y.z-1", "1x"])
_HOST_LABELS = st.sampled_from(["example", "EXAMPLE", "xn--fiqs8s", "bücher", "中国", "a-b", "-x", "1", "255",
                                "256", "0", "a_b", "%41", "", "ex ample", "h\u00e9"])
_IPV6 = st.sampled_from(["[::1]", "[::ffff:1.2.3.4]", "[2001:db8::1]", "[zz::1]", "[::1", "::1", "[]"])
_HOSTS = st.one_of(st.lists(_HOST_LABELS, min_size=1, max_size=4).map(".".join), _IPV6,
                   st.lists(st.integers(0, 999).map(str), min_size=3, max_size=5).map(".".join))
_PORTS = st.one_of(st.just(""), st.integers(0, 70000).map(lambda p: f":{p}"),
                   st.sampled_from([":80", ":443", ":", ":x", ": 1", ":-1", ":+5", "::1"]))
_USERINFO = st.sampled_from(["", "u@", "u:p@", "u p:q@", "@", "a@b@", "%41:%zz@", "é@"])
_SEGMENT = st.one_of(
    st.sampled_from([".", "..", "", "a", "A", "%2F", "%zz", "%", "é", "a b", "{x}", "<>", "`", "\"", ";p=1",
                     ":", "@", "!$&'()*+,;=", "~._-", "\u2028", "%e9"]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=4),
)
_PATHS = st.lists(_SEGMENT, max_size=5).map(lambda s: "/" + "/".join(s))
_QUERIES = st.one_of(st.none(), st.lists(_SEGMENT, max_size=3).map("&".join))
_FRAGMENTS = st.one_of(st.none(), _SEGMENT)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(_SCHEMES)
    authority = draw(st.booleans())
    text = f"{scheme}:" if scheme else ""
    if authority:
        text += "//" + draw(_USERINFO) + draw(_HOSTS) + draw(_PORTS)
    path = draw(_PATHS)
    text += path if authority or draw(st.booleans()) else path.lstrip("/")
    query, fragment = draw(_QUERIES), draw(_FRAGMENTS)
    if query is not None:
        text += "?" + query
    if fragment is not None:
        text += "#" + fragment
    return text


@settings(max_examples=600, deadline=None)
@given(st.one_of(urls(), st.text(max_size=40), st.text(alphabet=":/?#[]@%.!$&'()*+,;=aA1 é", max_size=30)))
@example("http://[::1]:80/")
def test_a_url_parses_as_httpx_parses_it(text):
    assert ours(text) == theirs(text)


_REFS = st.one_of(
    urls(),
    st.sampled_from(["", ".", "..", "./", "../", "../../../x", "/x", "//other/x", "?q", "#f", "g;x?y#s", "g?y/./x",
                     "g#s/../x", "http:g", "HTTP:g", "https:g", "ftp:g", ";x", "g/", "/./g", "/../g", "g.", ".g",
                     "g..", "..g", "./../g", "./g/.", "g/./h", "g/../h", "//h:81", "///x", "x:y", "%zz", "a b",
                     "é", ":x", "//[::1]/", "//[::1/"]),
    st.text(alphabet="./?#:ghé%;", max_size=12),
)
_BASES = st.one_of(
    st.sampled_from(["http://a/b/c/d;p?q", "https://a/", "http://a", "http://a/b/", "http://u:p@a:81/b/c?q#f",
                     "http://[::1]:8080/x/y", "http://a/b/c/../d"]),
    urls().filter(lambda u: theirs(u)[0] == "ok" and httpx.URL(u).is_absolute_url),
)


@settings(max_examples=600, deadline=None)
@given(_BASES, _REFS)
def test_a_redirect_joins_as_httpx_joins_it(base, ref):
    assert joined_ours(base, ref) == joined_theirs(base, ref)
