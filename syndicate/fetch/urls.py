"""URLs as httpx 0.28's ``httpx.URL`` parses, normalises and joins them, without httpx.

``parse(text)`` gives the ``URL`` httpx.URL(text) would: scheme and host
lower-cased, a non-ASCII host IDNA-encoded (the ``idna`` package is imported
only then), path, query and fragment percent-encoded with httpx's safe sets
(existing ``%xx`` escapes kept), ``.`` and ``..`` segments removed when there
is a scheme or an authority, default ports dropped; its ``InvalidURL`` cases
raise ``failures.InvalidURL`` with httpx's messages.  ``str(url)`` is
``str(httpx.URL(text))`` and ``url.join(ref)`` is ``httpx.URL.join``
(``urllib.parse.urljoin`` over the two strings, re-parsed).
``tests/test_fetch_urls.py`` holds it to httpx.URL, differentially.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urljoin

from syndicate.fetch.failures import InvalidURL

__all__ = ["URL", "parse"]

MAX_URL_LENGTH = 65536

_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_SUB_DELIMS = "!$&'()*+,;="


def _printable_except(*excluded: int) -> str:
    return "".join(chr(i) for i in range(0x20, 0x7F) if i not in excluded)


# The WHATWG percent-encode sets httpx uses (https://url.spec.whatwg.org/#percent-encoded-bytes).
_FRAG_SAFE = _printable_except(0x20, 0x22, 0x3C, 0x3E, 0x60)
_QUERY_SAFE = _printable_except(0x20, 0x22, 0x23, 0x3C, 0x3E)
_PATH_SAFE = _printable_except(0x20, 0x22, 0x23, 0x3C, 0x3E, 0x3F, 0x60, 0x7B, 0x7D)
_USERINFO_SAFE = _printable_except(0x20, 0x22, 0x23, 0x3C, 0x3E, 0x3F, 0x60, 0x7B, 0x7D,
                                   0x2F, 0x3B, 0x3D, 0x40, 0x5B, 0x5C, 0x5D, 0x5E, 0x7C)
_HOST_SAFE = _SUB_DELIMS + '"`{}%|\\'

_ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SCHEME = _ALPHA + "0123456789+.-"
_DIGITS = "0123456789"
_percent_escape: re.Pattern[str] | None = None  # compiled when a part needs encoding (rare)
_DEFAULT_PORTS = {"ftp": 21, "http": 80, "https": 443, "ws": 80, "wss": 443}


class URL:
    """A parsed URL, its parts normalised (all ASCII).  Immutable by convention."""

    __slots__ = ("scheme", "userinfo", "host", "port", "path", "query", "fragment", "_text")

    def __init__(self, scheme: str, userinfo: str, host: str, port: int | None, path: str,
                 query: str | None, fragment: str | None) -> None:
        self.scheme = scheme  # lower-case; "" when relative
        self.userinfo = userinfo
        self.host = host  # lower-case, IDNA-encoded, an IPv6 address without its brackets
        self.port = port  # None for the scheme's default
        self.path = path
        self.query = query  # None without a "?"
        self.fragment = fragment  # None without a "#"
        self._text: str | None = None

    @property
    def netloc(self) -> str:
        """``host[:port]`` (an IPv6 host in brackets): the Host header."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def authority(self) -> str:
        return f"{self.userinfo}@{self.netloc}" if self.userinfo else self.netloc

    @property
    def target(self) -> str:
        """The request target: the path (``/`` when empty) and the query."""
        path = self.path or "/"
        return path if self.query is None else f"{path}?{self.query}"

    @property
    def is_absolute(self) -> bool:
        """A scheme and a host: somewhere to connect to (``httpx.URL.is_absolute_url``)."""
        return bool(self.scheme and self.host)

    @property
    def effective_port(self) -> int | None:
        return self.port if self.port is not None else _DEFAULT_PORTS.get(self.scheme)

    def display_host(self) -> str:
        """The host as ``httpx.URL.host`` shows it: an IDNA host decoded (importing idna then)."""
        if self.host.startswith("xn--"):
            import idna  # only for such a host

            decoded: str = idna.decode(self.host)
            return decoded
        return self.host

    def join(self, ref: str) -> URL:
        """``ref`` resolved against this URL, as ``httpx.URL.join``."""
        return parse(urljoin(str(self), str(parse(ref))))

    def __str__(self) -> str:
        text = self._text
        if text is None:
            authority = self.authority
            text = "".join((
                f"{self.scheme}:" if self.scheme else "",
                f"//{authority}" if authority else "",
                self.path,
                f"?{self.query}" if self.query is not None else "",
                f"#{self.fragment}" if self.fragment is not None else "",
            ))
            self._text = text
        return text

    def __repr__(self) -> str:
        return f"URL({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, URL) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


def parse(text: str) -> URL:
    """``text`` as httpx.URL(text) parses it; raises ``InvalidURL`` (httpx's messages)."""
    if len(text) > MAX_URL_LENGTH:
        raise InvalidURL("URL too long")
    if not text.isprintable() or not text.isascii():  # (a cheap test first: the usual URL passes)
        for index, char in enumerate(text):
            if char.isascii() and not char.isprintable():
                raise InvalidURL(f"Invalid non-printable ASCII character in URL, {char!r} "
                                 f"at position {index}.")
    scheme, authority, path, query, fragment = split(text)
    userinfo, host, port = split_authority(authority)
    raw_scheme, scheme = scheme, scheme.lower()
    userinfo = quote(userinfo, _USERINFO_SAFE)
    host = encode_host(host)
    number = normalize_port(port, raw_scheme)  # (as written: httpx drops http's :80, not HTTP's)
    has_authority = userinfo != "" or host != "" or number is not None
    validate_path(path, has_scheme=scheme != "", has_authority=has_authority)
    if scheme or has_authority:
        path = normalize_path(path)
    return URL(scheme, userinfo, host, number, quote(path, _PATH_SAFE),
               None if query is None else quote(query, _QUERY_SAFE),
               None if fragment is None else quote(fragment, _FRAG_SAFE))


def split(text: str) -> tuple[str, str, str, str | None, str | None]:
    """(scheme, authority, path, query, fragment) as httpx's URL_REGEX matches them, by hand (no
    regular expression to compile at start-up): ``[scheme:][//authority]path[?query][#fragment]``."""
    scheme = ""
    start = 0
    colon = text.find(":")
    if colon == 0:
        start = 1  # (an empty scheme: its regex matches ":" alone)
    elif colon > 0 and text[0] in _ALPHA and not text[1:colon].lstrip(_SCHEME):
        scheme, start = text[:colon], colon + 1
    authority = ""
    if text.startswith("//", start):
        end = _first_of(text, "/?#", start + 2)
        authority, start = text[start + 2:end], end
    end = _first_of(text, "?#", start)
    path = text[start:end]
    query = fragment = None
    if text.startswith("?", end):
        hash_at = text.find("#", end)
        if hash_at < 0:
            return scheme, authority, path, text[end + 1:], None
        query, end = text[end + 1:hash_at], hash_at
    if text.startswith("#", end):
        fragment = text[end + 1:]
    return scheme, authority, path, query, fragment


def _first_of(text: str, chars: str, start: int) -> int:
    """Where the first of ``chars`` is in ``text`` from ``start`` (its length if none)."""
    found = len(text)
    for char in chars:
        at = text.find(char, start, found)
        if at >= 0:
            found = at
    return found


def split_authority(authority: str) -> tuple[str, str, str]:
    """(userinfo, host, port) as httpx's AUTHORITY_REGEX matches them: ``[userinfo@]host[:port]``,
    the host an IPv6 literal up to the last ``]`` when it opens with ``[`` and has one."""
    userinfo, at, rest = authority.rpartition("@")
    if not at:
        userinfo, rest = "", authority
    if rest.startswith("[") and "]" in rest:
        close = rest.rindex("]") + 1
        host, port = rest[:close], rest[close:]
    else:
        host, colon, port = rest.partition(":")
        port = colon + port
    return userinfo, host, port.removeprefix(":")


def encode_host(host: str) -> str:
    if not host:
        return ""
    if _ipv4_style(host):
        try:
            ipaddress.IPv4Address(host)
        except ipaddress.AddressValueError:
            raise InvalidURL(f"Invalid IPv4 address: {host!r}") from None
        return host
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ipaddress.AddressValueError:
            raise InvalidURL(f"Invalid IPv6 address: {host!r}") from None
        return host[1:-1]
    if host.isascii():
        return quote(host.lower(), _HOST_SAFE)
    import idna  # a non-ASCII host only

    try:
        encoded: bytes = idna.encode(host.lower())
    except idna.IDNAError:
        raise InvalidURL(f"Invalid IDNA hostname: {host!r}") from None
    return encoded.decode("ascii")


def _ipv4_style(host: str) -> bool:
    """Four dot-separated runs of digits (httpx's ``^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$``)."""
    parts = host.split(".")
    return len(parts) == 4 and all(part and not part.lstrip(_DIGITS) for part in parts)


def normalize_port(port: str | None, scheme: str) -> int | None:
    if port is None or port == "":
        return None
    try:
        number = int(port)
    except ValueError:
        raise InvalidURL(f"Invalid port: {port!r}") from None
    return None if number == _DEFAULT_PORTS.get(scheme) else number


def validate_path(path: str, *, has_scheme: bool, has_authority: bool) -> None:
    """RFC 3986 §3.3's rules that depend on a scheme or an authority (httpx's messages)."""
    if has_authority and path and not path.startswith("/"):
        raise InvalidURL("For absolute URLs, path must be empty or begin with '/'")
    if not has_scheme and not has_authority:
        if path.startswith("//"):
            raise InvalidURL("Relative URLs cannot have a path starting with '//'")
        if path.startswith(":"):
            raise InvalidURL("Relative URLs cannot have a path starting with ':'")


def normalize_path(path: str) -> str:
    """Drop ``.`` and ``..`` segments (RFC 3986 §5.2.4), as httpx does."""
    if "." not in path:
        return path
    segments = path.split("/")
    if "." not in segments and ".." not in segments:
        return path
    output: list[str] = []
    for segment in segments:
        if segment == ".":
            pass
        elif segment == "..":
            if output and output != [""]:
                output.pop()
        else:
            output.append(segment)
    return "/".join(output)


def _percent_encoded(text: str, safe: str) -> str:
    allowed = _UNRESERVED + safe
    if not text.rstrip(allowed):
        return text
    return "".join(char if char in allowed else "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
                   for char in text)


def quote(text: str, safe: str) -> str:
    """Percent-encode what is not ``safe`` (or unreserved), keeping existing ``%xx`` escapes."""
    if not text.rstrip(_UNRESERVED + safe):  # the usual part: nothing to encode, no escapes to mind
        return text
    global _percent_escape
    if _percent_escape is None:
        _percent_escape = re.compile("%[A-Fa-f0-9]{2}")
    parts: list[str] = []
    position = 0
    for match in _percent_escape.finditer(text):
        start, end = match.span()
        if start != position:
            parts.append(_percent_encoded(text[position:start], safe))
        parts.append(match.group(0))
        position = end
    if position != len(text):
        parts.append(_percent_encoded(text[position:], safe))
    return "".join(parts)
