"""The Bluesky session follows the config; retries reuse the thumbnail (issue 11, item 9).

Against the reference PDS, with ``servers.fault_proxy`` in front of it where a fault or a
second "service" address is needed, and the real state database as the session store.

- A stored session is used only for the service and handle it was made for: a changed
  ``service`` (or a session stored before sessions recorded theirs) logs in afresh there.
- A retry of a delivery reuses the thumbnail blob it uploaded and the article page it read
  for ``og:image``, instead of fetching and uploading again; a blob the PDS no longer has is
  uploaded again.
"""

from __future__ import annotations

import secrets
import sqlite3

import pytest

from syndicate.config import BlueskyTarget, Secret
from syndicate.errors import TransientError
from syndicate.models import LinkCard
from syndicate.store import Store
from syndicate.targets.bluesky import BlueskyAdapter
from tests.fakes import FakeClock
from tests.servers.fault_proxy import Fault, FaultProxy
from tests.test_target_bluesky import Account, draft, new_key, png

pytestmark = pytest.mark.pds

LOGIN = "com.atproto.server.createSession"
CREATE = "com.atproto.repo.createRecord"
UPLOAD = "com.atproto.repo.uploadBlob"


@pytest.fixture
def account(pds) -> Account:
    password = secrets.token_urlsafe(12)
    did, handle = pds.create_account(f"s{secrets.token_hex(5)}.test", password)
    return Account(did, handle, password)


@pytest.fixture
def proxy(pds):
    with FaultProxy(pds.url) as p:
        yield p


def adapter_for(service: str, account: Account, store=None, **kw) -> BlueskyAdapter:
    cfg = BlueskyTarget(kind="bluesky", service=service, handle=account.handle, timeout=10)
    return BlueskyAdapter("bsky", cfg, Secret(account.password, "test"), session_store=store, **kw)


# -- the session follows the config ------------------------------------------------------------


def test_a_changed_service_logs_in_afresh_there(pds, account, tmp_path):
    store = Store(tmp_path / "state.db")
    with FaultProxy(pds.url) as old, FaultProxy(pds.url) as new:
        first = adapter_for(old.url, account, store)
        first.deliver(draft("through the old service"), new_key())
        first.close()
        assert old.count(LOGIN) == 1

        moved = adapter_for(new.url, account, store)  # the operator changed `service:`
        key = new_key()
        moved.deliver(draft("through the new service"), key)
        moved.close()
        assert new.count(LOGIN) == 1  # a fresh login at the new service ...
        assert new.count(CREATE) == 1 and old.count(CREATE) == 1  # ... and the post went there

        again = adapter_for(new.url, account, store)  # its session is reused from now on
        again.deliver(draft("and again"), new_key())
        again.close()
        assert new.count(LOGIN) == 1 and old.count(LOGIN) == 1
    assert pds.get_record(account.did, key) is not None
    store.close()


def test_a_session_stored_without_its_service_and_handle_is_not_trusted(proxy, account, tmp_path):
    """A session saved by an earlier syndicate does not say where it was made: log in afresh."""
    store = Store(tmp_path / "state.db")
    first = adapter_for(proxy.url, account, store)
    first.deliver(draft("first"), new_key())
    first.close()
    db = sqlite3.connect(tmp_path / "state.db")
    [(data,)] = db.execute("SELECT data FROM sessions").fetchall()
    db.execute("DELETE FROM sessions")
    db.execute("INSERT INTO sessions (target, data, updated_at) VALUES ('bsky', ?, 0)", (data,))
    db.commit()
    db.close()

    second = adapter_for(proxy.url, account, store)
    second.deliver(draft("second"), new_key())
    second.close()
    assert proxy.count(LOGIN) == 2
    store.close()


# -- retries reuse the thumbnail and the page --------------------------------------------------


class Fetches:
    """The image fetcher and the page reader, counting what they were asked."""

    def __init__(self, feed_server, image: bytes) -> None:
        self.feed_server = feed_server
        self.image = image
        self.images: list[str] = []
        self.pages: list[str] = []

    def fetch_image(self, url: str) -> tuple[bytes, str]:
        self.images.append(url)
        return self.image, "image/png"

    def page_image(self, url: str) -> str | None:
        import httpx

        from syndicate.page import page_image

        self.pages.append(url)
        return page_image(httpx.get(url).content, url)


@pytest.fixture
def article_page(feed_server):
    feed_server.set_feed("/article/", b'<html><head><meta property="og:image" content="/og.png">'
                         b"</head><body>x</body></html>", content_type="text/html")
    return feed_server.url("/article/")


def test_a_retry_reuses_the_uploaded_thumbnail_and_the_page_it_read(pds, proxy, account, feed_server,
                                                                     article_page):
    fetches = Fetches(feed_server, png())
    adapter = adapter_for(proxy.url, account, fetch_image=fetches.fetch_image,
                          page_image=fetches.page_image)
    card = LinkCard(uri=article_page, title="T", description="D", thumb_url=None)
    post, key = draft(f"T {article_page}", card=card), new_key()
    proxy.add_faults(CREATE, Fault(status=503), Fault(status=502))
    for _ in range(2):
        with pytest.raises(TransientError):
            adapter.deliver(post, key)
    adapter.deliver(post, key)
    adapter.close()
    assert proxy.count(CREATE) == 3
    assert proxy.count(UPLOAD) == 1  # uploaded once, reused by both retries
    assert fetches.images == [feed_server.url("/og.png")] and fetches.pages == [article_page]
    thumb = pds.get_record(account.did, key)["value"]["embed"]["external"]["thumb"]
    assert thumb["mimeType"] == "image/png" and thumb["size"] == len(fetches.image)


def test_a_blob_the_pds_no_longer_has_is_uploaded_again(pds, proxy, account, feed_server):
    fetches = Fetches(feed_server, png())
    adapter = adapter_for(proxy.url, account, fetch_image=fetches.fetch_image)
    card = LinkCard(uri="https://example.org/a", title="A", description="", thumb_url="https://x.test/i")
    post, key = draft("A https://example.org/a", card=card), new_key()
    gone = b'{"error": "BlobNotFound", "message": "Could not find blob: bafkrei..."}'
    proxy.add_faults(CREATE, Fault(status=503), Fault(status=400, body=gone,
                                                       headers={"content-type": "application/json"}))
    with pytest.raises(TransientError):
        adapter.deliver(post, key)  # uploaded, then the post failed
    with pytest.raises(TransientError, match="BlobNotFound"):
        adapter.deliver(post, key)  # the reused blob was gone: not a permanent failure
    adapter.deliver(post, key)
    adapter.close()
    assert proxy.count(UPLOAD) == 2 and len(fetches.images) == 2
    assert "thumb" in pds.get_record(account.did, key)["value"]["embed"]["external"]


def test_a_thumbnail_is_reused_only_for_a_while(pds, proxy, account, feed_server):
    """An unreferenced blob may be collected by the PDS: past BLOB_REUSE it is uploaded again."""
    from syndicate.targets.bluesky.cards import BLOB_REUSE

    clock = FakeClock(1_000_000.0)
    fetches = Fetches(feed_server, png())
    adapter = adapter_for(proxy.url, account, fetch_image=fetches.fetch_image, clock=clock)
    card = LinkCard(uri="https://example.org/b", title="B", description="", thumb_url="https://x.test/j")
    post, key = draft("B https://example.org/b", card=card), new_key()
    proxy.add_faults(CREATE, Fault(status=503), Fault(status=503))
    with pytest.raises(TransientError):
        adapter.deliver(post, key)
    clock.advance(BLOB_REUSE - 1)
    with pytest.raises(TransientError):
        adapter.deliver(post, key)
    assert proxy.count(UPLOAD) == 1
    clock.advance(2)
    adapter.deliver(post, key)
    adapter.close()
    assert proxy.count(UPLOAD) == 2
