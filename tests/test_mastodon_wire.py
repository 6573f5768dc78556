"""The session under Mastodon.py (``targets.mastodon_wire``): through the real Mastodon.py and
the loopback Mastodon server, posts keep one connection and the answer still says it all.
(Media uploads, which go through requests itself, are tests/test_target_mastodon.py's.)"""

from __future__ import annotations

import pytest

from syndicate.config import MastodonTarget, Secret
from syndicate.models import PostDraft
from syndicate.targets.mastodon import MastodonAdapter
from syndicate.targets.mastodon_wire import WireSession
from tests.servers.mastodon import MastodonServer, status_length

TOKEN = "wire-token-value"


@pytest.fixture
def server():
    with MastodonServer(token=TOKEN, media_polls=0) as srv:
        yield srv
    assert not srv.errors, srv.errors[0]


def make(server, **options):
    fetch = options.pop("fetch_image", None)
    cfg = MastodonTarget(kind="mastodon", instance=server.url, timeout=5, **options)
    return MastodonAdapter("masto", cfg, Secret(TOKEN, "env TEST"), fetch_image=fetch, sleep=lambda s: None)


def draft(i):
    text = f"Post number {i} https://example.org/{i}"
    return PostDraft(target="masto", article_id=str(i), text=text, length=status_length(text))


def test_posts_keep_one_connection_and_read_the_status_they_made(server):
    adapter = make(server)
    try:
        posted = [adapter.deliver(draft(i), f"key-{i}") for i in range(5)]
        session = adapter.client().session
        assert isinstance(session, WireSession)
        assert len(session._pool.connections) == 1  # one kept-alive connection for every post
    finally:
        adapter.close()
    assert [s["text"] for s in server.statuses] == [draft(i).text for i in range(5)]
    for p, status in zip(posted, server.statuses, strict=True):
        assert p.remote_id == str(status["id"]) and p.url == status["url"]
        assert p.posted_at is not None
    keys = [{k.lower(): v for k, v in r.headers.items()}.get("idempotency-key")
            for r in server.requests if r.method == "POST"]
    assert keys == [f"key-{i}" for i in range(5)]


def test_the_certificates_requests_would_trust_are_the_ones_trusted(monkeypatch):
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    session = WireSession(5)
    try:
        assert session._pool._ssl_context.cert_store_stats()["x509_ca"] > 0
    finally:
        session.close()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    session = WireSession(5)  # a bundle that cannot be read: requests itself, which says so when asked
    try:
        with pytest.raises(OSError, match="CA certificate bundle"):
            session.request("GET", "https://mastodon.example/api/v1/instance")
    finally:
        session.close()
