"""Issue 12, item 7: every network call of a delivery has a total deadline.

Mastodon.py's and atproto's timeouts are per socket operation: a server that sends one byte
of its answer at a time, each well within the timeout, would hold a delivery thread for ever.
The target's ``timeout`` is a *total* deadline per request on both adapters.  The servers here
trickle for ever (until the client goes away), so only a total deadline can end the call: a
test without one would not finish (the bounded join below fails it instead).

The configured timeout is short (1 s) to keep the tests quick; no elapsed time is asserted.
"""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime

import pytest

from syndicate.app import App
from syndicate.config import BlueskyTarget, Secret
from syndicate.errors import TransientError
from syndicate.models import Article, PostDraft
from syndicate.retry import RetryPolicy
from syndicate.targets.bluesky import BlueskyAdapter, tid_for
from tests.fakes import FakeClock, make_config, mastodon
from tests.helpers import wait_until
from tests.servers.fault_proxy import Fault as ProxyFault
from tests.servers.fault_proxy import FaultProxy
from tests.servers.mastodon import Fault, MastodonServer

TOKEN = "deadline-token-0123456789"
STATUSES = "/api/v1/statuses"
BOUND = 30.0  # seconds a test waits for the call to come back before calling it stuck


def in_thread(fn):
    """Run ``fn`` in a thread; ``(thread, box)`` where box gets its result or exception."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, name="delivery-under-test", daemon=True)
    thread.start()
    return thread, box


def article(n: int = 1) -> Article:
    return Article(feed="acr", id=f"guid-{n}", link=f"https://example.org/articles/{n}/",
                   title=f"Article {n}", published=datetime(2025, 1, n, tzinfo=UTC),
                   fingerprint=f"h{n}", standfirst="What it is about.", language="en")


def test_a_trickling_mastodon_server_is_abandoned_at_the_deadline(tmp_path):
    clock = FakeClock(1_750_000_000.0)
    with MastodonServer(token=TOKEN, clock=clock) as server:
        config = make_config(tmp_path, {"acr": "https://example.org/feed/"},
                             targets={"mastodon": mastodon(server.url, timeout=1)})
        app = App(config, environ={"SYNDICATE_MASTODON_TOKEN": TOKEN}, clock=clock, sleep=clock.sleep,
                  policy=RetryPolicy(attempts=1, jitter=0))
        try:
            app.store.ingest("acr", new=[article()], updated=[], queue={"guid-1": ["mastodon"]})
            server.queue_faults(Fault(trickle=0.05, method="POST", path=STATUSES))
            thread, box = in_thread(app.deliverer.deliver_due)
            thread.join(BOUND)
            assert not thread.is_alive(), "the delivery thread is still held by the trickling server"
            assert "error" not in box, box
            [result] = box["result"]
            assert result.outcome == "rescheduled"
            assert "no answer within 1s" in result.error
            # The connection was given up, so the server's trickle ended too.
            assert wait_until(lambda: server.trickling == 0, timeout=BOUND)

            # The status was made before the answer trickled: the next attempt finds it (or,
            # with the same Idempotency-Key, gets it back) instead of posting twice.
            clock.advance(3600)
            [again] = app.deliverer.deliver_due()
            assert again.outcome in ("found", "sent"), again
            assert len(server.statuses) == 1
            assert again.url == server.statuses[0]["url"]
        finally:
            app.close()
        assert not server.errors, server.errors[0]


@pytest.mark.pds
def test_a_trickling_pds_answer_is_abandoned_at_the_deadline(pds):
    password = secrets.token_urlsafe(12)
    did, handle = pds.create_account(f"d{secrets.token_hex(5)}.test", password)
    with FaultProxy(pds.url) as proxy:
        target = BlueskyTarget(kind="bluesky", service=proxy.url, handle=handle, timeout=1)
        adapter = BlueskyAdapter("bsky", target, Secret(password, "test"))
        key = tid_for(1_750_000_000_000_001 + secrets.randbelow(10**9))
        draft = PostDraft(target="bsky", article_id="guid-1", text="A post whose answer trickles",
                          length=28, language="en")
        try:
            proxy.add_faults("com.atproto.repo.createRecord", ProxyFault(trickle=0.05))
            thread, box = in_thread(lambda: adapter.deliver(draft, key))
            thread.join(BOUND)
            assert not thread.is_alive(), "the delivery thread is still held by the trickling PDS"
            error = box.get("error")
            assert isinstance(error, TransientError), box
            assert "posting: timed out after 1s" in str(error)
            assert wait_until(lambda: proxy.trickling == 0, timeout=BOUND)

            # The PDS made the record: the next attempt finds it at its key, posts nothing new.
            posted = adapter.deliver(draft, key)
            assert posted.remote_id.endswith(f"/{key}")
            assert [r["uri"].rsplit("/", 1)[-1] for r in pds.list_records(did)] == [key]
            assert proxy.count("com.atproto.repo.createRecord") == 1
        finally:
            adapter.close()
