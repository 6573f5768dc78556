"""Where a fetch that a feed asked for may connect: no server-side request forgery.

Feeds, article pages and images are written by strangers.  A feed can name
``http://127.0.0.1:8080/admin``, ``http://169.254.169.254/`` (a cloud's
metadata service) or ``http://router.lan/`` as an article's image, and we
would fetch it from inside the operator's network.  So every fetch that
content triggers (article pages, ``og:image``, images in content, card and
Mastodon thumbnails) goes through an ``AddressPolicy``:

- only to public addresses: loopback, private, link-local, site-local,
  multicast, unspecified, reserved and other not-publicly-routable addresses
  are refused, IPv4 and IPv6 alike, and an IPv6 address that carries an IPv4
  one (``::ffff:127.0.0.1``, 6to4 ``2002:7f00:1::``, NAT64
  ``64:ff9b::7f00:1``) is judged by the IPv4 address inside it;
- a host name is resolved *here*, every address it resolves to is checked
  (one bad answer refuses the name: no DNS-rebinding lottery), and the
  connection is made to a checked address, never by name again, so nothing
  can change between the check and the connect;
- only to ports 80 and 443, unless configured.

``fetch.Fetcher`` applies the policy where its wire opens a connection
(``fetch.http11.connect``), so it holds for every redirect hop and every new
connection, whatever the URL looked like.  The operator's own feed URLs are trusted and
use no policy.  ``security.allow_private_addresses`` (off by default) lets an
intranet deployment, or the tests on 127.0.0.1, reach private addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING

from syndicate.value import valueclass

if TYPE_CHECKING:
    from syndicate.config import SecurityConfig

__all__ = ["AddressPolicy", "AddressRefused", "address_kind"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

WEB_PORTS = frozenset({80, 443})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052's well-known prefix


class AddressRefused(Exception):
    """A connection the policy does not allow; ``str()`` is the one-line reason."""


def _embedded_v4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address | None, bool]:
    """The IPv4 address an IPv6 one carries, and whether it alone decides."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, True  # the socket connects to that IPv4 address
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF), True  # a NAT64 gateway connects to it
    if ip.sixtofour is not None:
        return ip.sixtofour, False  # a 6to4 relay delivers to it
    return None, False


def address_kind(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address (``"loopback"``, ``"private"``, …), or None if it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner, decides = _embedded_v4(ip)
        if inner is not None:
            kind = address_kind(inner)
            if kind is not None or decides:
                return kind
        if ip.is_site_local:
            return "site-local"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "not publicly routable"
    return None


@valueclass
class AddressPolicy:
    """Which addresses and ports a content fetch may connect to."""

    allow_private: bool = False  # loopback, private, link-local, … allowed too
    ports: frozenset[int] | None = WEB_PORTS  # None: any port

    @classmethod
    def from_config(cls, security: SecurityConfig) -> AddressPolicy:
        ports = security.allowed_ports
        return cls(allow_private=security.allow_private_addresses,
                   ports=None if ports == "any" else frozenset(ports))

    def check_port(self, port: int) -> None:
        if self.ports is not None and port not in self.ports:
            allowed = ", ".join(str(p) for p in sorted(self.ports))
            raise AddressRefused(f"port {port} is not allowed for content from feeds "
                                 f"(security.allowed_ports: {allowed})")

    def check_address(self, host: str, address: str) -> None:
        """Raise ``AddressRefused`` when ``address`` (which ``host`` resolved to) is not allowed."""
        if self.allow_private:
            return
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # fe80::1%eth0: the zone is no part of it
        kind = address_kind(ip)
        if kind is None:
            return
        article = "an" if kind[0] in "aeiou" else "a"
        where = f"{ip} is" if host.strip("[]") == str(ip) else f"{host} resolves to {ip},"
        raise AddressRefused(f"{where} {article} {kind} address: content from feeds may only reach "
                             "public addresses (security.allow_private_addresses allows others)")

    def addresses(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` and return the addresses to connect to, in order, every one checked.

        Raises ``AddressRefused`` when the port or any resolved address is not
        allowed, and ``OSError`` (``socket.gaierror``) when the name does not resolve.
        """
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
        found = _unique(str(info[4][0]) for info in infos)
        for address in found:
            self.check_address(host, address)
        self.check_port(port)
        return found


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
