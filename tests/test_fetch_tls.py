"""The fetcher's SSL context: made at the first TLS connection, verifying as httpx's always did.

A plain-http feed makes no SSL context (loading the CA bundle is ≈20 ms of a
``run --once``: bench figure 5); an https one makes it once, from
``httpx.create_ssl_context`` (certifi, or SSL_CERT_FILE), and a certificate it
does not trust is refused.  The same for ``DeadlineTransport`` (atproto's).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from syndicate.deadline import LazySSLContext
from syndicate.deadline_httpcore import DeadlineTransport
from syndicate.errors import FetchError
from syndicate.fetch import Fetcher
from tests.servers.feeds import FeedServer

BODY = b"<rss version='2.0'><channel><title>t</title></channel></rss>"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    peers: set[tuple[str, int]] = set()  # the client ends of the connections served

    def do_GET(self) -> None:
        self.peers.add(self.client_address)
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no CA signed, and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def https(tmp_path) -> Iterator[tuple[str, Path]]:
    """(an https URL on loopback whose certificate is self-signed, that certificate)."""
    cert_file, key_file = _self_signed(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/feed/", cert_file
    finally:
        server.shutdown()
        server.server_close()


class Counting:
    """httpx.create_ssl_context, counted."""

    def __init__(self) -> None:
        self.made = 0

    def __call__(self) -> ssl.SSLContext:
        self.made += 1
        return httpx.create_ssl_context()


def test_a_plain_http_feed_makes_no_ssl_context(acr_rss):
    make = Counting()
    with FeedServer() as server, Fetcher("t/1", tls=LazySSLContext(make)) as fetcher:
        server.set_feed("/feed/", acr_rss)
        first = fetcher.fetch_feed("acr", server.url("/feed/"))
        again = fetcher.fetch_feed("acr", server.url("/feed/"), etag=first.etag,
                                   last_modified=first.last_modified)
        assert (first.status, again.status) == (200, 304)
        assert make.made == 0 and not fetcher.tls.made


def test_https_verifies_with_the_context_made_at_the_first_tls_connection(https, monkeypatch):
    url, cert = https
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with Fetcher("t/1") as fetcher, pytest.raises(FetchError, match="(?i)certificate"):
        fetcher.fetch_feed("self-signed", url)  # certifi does not trust it

    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # read when the context is made, as httpx does
    make = Counting()
    with Fetcher("t/1", tls=LazySSLContext(make)) as fetcher:
        assert make.made == 0
        _Handler.peers.clear()
        assert fetcher.fetch_feed("self-signed", url).content == BODY
        assert fetcher.fetch_feed("self-signed", url).content == BODY
        assert make.made == 1  # once, shared by every connection
        assert len(_Handler.peers) == 1  # the TLS connection kept alive and used again


def test_tls_names_the_host_it_connects_to(https, monkeypatch):
    """SNI and the certificate's check are the URL's host: a certificate for 127.0.0.1 is no
    certificate for localhost."""
    url, cert = https
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with Fetcher("t/1") as fetcher, pytest.raises(FetchError, match="(?i)TLS error connecting to localhost:.*"
                                                                    "(certificate|hostname|match)"):
        fetcher.fetch_feed("self-signed", url.replace("127.0.0.1", "localhost"))


def test_the_deadline_transport_makes_its_context_at_the_first_tls_connection(https, monkeypatch):
    url, cert = https
    with DeadlineTransport(5.0) as transport:
        assert not transport.tls.made
        with pytest.raises(httpx.ConnectError, match="(?i)certificate"), httpx.Client(transport=transport) as c:
            c.get(url)
        assert transport.tls.made
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with DeadlineTransport(5.0) as transport, httpx.Client(transport=transport) as client:
        assert client.get(url).content == BODY
