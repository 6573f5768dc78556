"""Issue 12.1: what a feed's content names is never fetched from inside the operator's network.

Every server here is on loopback, so every content fetch without
``security.allow_private_addresses`` must be refused *before a connection is
made*: each test asserts on the target server's own request log.
"""

from __future__ import annotations

import ipaddress

import pytest

from syndicate.config import parse_config
from syndicate.errors import FetchError
from syndicate.fetch import Fetcher
from syndicate.netguard import AddressPolicy, address_kind
from tests.servers.feeds import FeedServer, internal_service

UA = "syndicate-test/1.0 (+https://example.org/bot)"
ANY_PORT = AddressPolicy(ports=None)  # public addresses only, on any port: the address check alone


@pytest.fixture(scope="module")
def internal():
    """The "internal" service a feed would like us to reach."""
    with internal_service() as srv:
        yield srv


@pytest.fixture(scope="module")
def internal6():
    with FeedServer("::1") as srv:
        srv.set_feed("/secret.png", b"\x89PNG\r\n\x1a\nsecret", content_type="image/png")
        yield srv


# --- the address policy ------------------------------------------------------------------------


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "0.0.0.0", "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1", "::ffff:127.0.0.1",
    "::ffff:10.0.0.1", "::7f00:1", "2002:7f00:1::", "2002:a00:1::", "64:ff9b::a9fe:a9fe",
    "2001:db8::1", "100::1",
])
def test_not_a_public_address(address):
    assert address_kind(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", [
    "8.8.8.8", "93.184.215.14", "2606:4700::6810:84e5", "::ffff:8.8.8.8", "64:ff9b::808:808",
    "2002:808:808::1",
])
def test_a_public_address(address):
    assert address_kind(ipaddress.ip_address(address)) is None


# --- fetches -----------------------------------------------------------------------------------


@pytest.mark.parametrize("host, kind", [
    ("127.0.0.1", "loopback"),
    ("localhost", "loopback"),  # a name that resolves to loopback
    ("127.1", "loopback"),  # the short form getaddrinfo accepts
    ("0.0.0.0", "unspecified"),  # which Linux connects to loopback
    ("[::ffff:127.0.0.1]", "loopback"),  # IPv4 in IPv6 clothing
])
def test_content_fetches_to_loopback_are_refused_before_connecting(internal, host, kind):
    internal.clear_requests()
    url = f"http://{host}:{internal.port}/secret.png"
    with Fetcher(UA, content_policy=ANY_PORT) as fetcher, pytest.raises(FetchError) as err:
        fetcher.get_bytes(url, max_bytes=10_000, timeout=5, label=f"image {url}")
    assert f"a {kind} address" in str(err.value) or f"an {kind} address" in str(err.value)
    assert "security.allow_private_addresses" in str(err.value)
    assert internal.requests == []


def test_ipv6_loopback_is_refused(internal6):
    url = internal6.url("/secret.png")
    assert url.startswith("http://[::1]:")
    with Fetcher(UA, content_policy=ANY_PORT) as fetcher, pytest.raises(FetchError, match="loopback"):
        fetcher.get_bytes(url, max_bytes=10_000, timeout=5)
    assert internal6.requests == []


def test_allow_private_addresses_lets_content_reach_them(internal, internal6):
    policy = AddressPolicy(allow_private=True, ports=None)
    with Fetcher(UA, content_policy=policy) as fetcher:
        for url in (internal.url("/secret.png"), f"http://localhost:{internal.port}/secret.png",
                    internal6.url("/secret.png")):
            body, ctype = fetcher.get_bytes(url, max_bytes=10_000, timeout=5)
            assert (body, ctype) == (b"\x89PNG\r\n\x1a\nsecret", "image/png")


def test_every_redirect_hop_is_checked(internal):
    """The first hop is allowed (its port is), the second is not: it is never requested."""
    with FeedServer() as first:
        first.set_redirect("/img", internal.url("/secret.png"), status=302)
        internal.clear_requests()
        policy = AddressPolicy(allow_private=True, ports=frozenset({first.port}))
        with Fetcher(UA, content_policy=policy) as fetcher, pytest.raises(FetchError) as err:
            fetcher.get_bytes(first.url("/img"), max_bytes=10_000, timeout=5)
        assert (f"refused (redirected to {internal.url('/secret.png')}): port {internal.port} is not allowed"
                in str(err.value))
        assert [r.path for r in first.requests] == ["/img"]
        assert internal.requests == []


def test_only_ports_80_and_443_by_default(internal):
    internal.clear_requests()
    with Fetcher(UA, content_policy=AddressPolicy(allow_private=True)) as fetcher, \
            pytest.raises(FetchError, match=rf"port {internal.port} is not allowed .*allowed_ports: 80, 443"):
        fetcher.get_bytes(internal.url("/secret.png"), max_bytes=10_000, timeout=5)
    assert internal.requests == []


def test_the_operators_feed_urls_stay_allowed_and_share_no_connection_with_content(internal):
    """A feed on loopback is fetched; content from the same origin afterwards is still refused,
    so a kept-alive feed connection is never a way around the check."""
    internal.set_feed("/feed", b"<rss version='2.0'><channel><title>T</title></channel></rss>")
    internal.clear_requests()
    with Fetcher(UA) as fetcher:
        assert fetcher.fetch_feed("own", internal.url("/feed")).status == 200
        with pytest.raises(FetchError, match="loopback"):
            fetcher.get_bytes(internal.url("/secret.png"), max_bytes=10_000, timeout=5)
    assert [r.path for r in internal.requests] == ["/feed"]


def test_the_setting_is_off_by_default_and_validated():
    base = 'feeds: [{name: a, url: "https://example.org/feed"}]\n'
    security = parse_config(base).security
    assert (security.allow_private_addresses, security.allowed_ports) == (False, [80, 443])
    assert AddressPolicy.from_config(security) == AddressPolicy()
    relaxed = parse_config(base + "security: {allow_private_addresses: true, allowed_ports: any}\n")
    assert AddressPolicy.from_config(relaxed.security) == AddressPolicy(allow_private=True, ports=None)
    with pytest.raises(Exception, match=r"security\.allowed_ports: expected a list of port numbers"):
        parse_config(base + "security: {allowed_ports: 8080}\n")
