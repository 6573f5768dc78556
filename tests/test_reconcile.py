"""Reconciliation never mistakes another post for this one (issue 11, item 1).

A row whose earlier request may have landed is looked up on the target before
it is sent again.  These tests put, on the loopback Mastodon server, the posts
that an unguarded lookup takes for the row's own: the same article's earlier
post, a post of ``?p=123`` for ``?p=12``, an editor's own post with the same
link, a same-text post another row holds, and the row's real status buried
under 50 newer ones after its Idempotency-Key expired.  Time is one injected
clock shared with the server; nothing sleeps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syndicate.app import App
from syndicate.models import Article
from syndicate.retry import RetryPolicy
from tests.fakes import FakeClock, make_config, mastodon
from tests.servers.mastodon import Fault, MastodonServer

TOKEN = "reconcile-token-0123456789"
STATUSES = "/api/v1/statuses"
HOUR = 3600.0


@pytest.fixture
def clock():
    return FakeClock(1_750_000_000.0)


@pytest.fixture
def server(clock):
    with MastodonServer(token=TOKEN, clock=clock, budget=100_000) as srv:
        yield srv
    assert not srv.errors, srv.errors[0]


def make_app(state_db, server, clock, attempts=4):
    cfg = make_config(None, {"site": {"url": "https://site.example/feed/", "hashtags": {"enabled": False}}},
                      targets={"mastodon": mastodon(server.url, timeout=5)}, state=state_db)
    return App(cfg, environ={"SYNDICATE_MASTODON_TOKEN": TOKEN}, clock=clock, sleep=clock.sleep,
               policy=RetryPolicy(attempts=attempts, jitter=0, requeue_initial=60))


def article(p: int) -> Article:
    return Article(feed="site", id=f"https://site.example/?p={p}", link=f"https://site.example/?p={p}",
                   title=f"On the strike, part {p}", published=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=p),
                   standfirst="What is at stake, who is organising and what comes next.", language="en")


def queue(app: App, *articles: Article) -> None:
    app.store.ingest("site", new=list(articles), updated=[], queue={a.id: ["mastodon"] for a in articles})


def fail_posts(server, n: int, kind: str = "drop") -> None:
    """The next ``n`` status posts fail: dropped before the server did anything, or 503."""
    fault = Fault(drop=True) if kind == "drop" else Fault(status=503)
    server.queue_faults(*[Fault(**{**fault.__dict__, "method": "POST", "path": STATUSES})] * n)


def lookups(server) -> int:
    return sum(1 for r in server.requests if r.method == "GET" and r.path.endswith("/statuses")
               and "/accounts/" in r.path)


def test_a_repost_after_a_short_outage_is_posted_not_taken_for_the_earlier_post(state_db, server, clock):
    app = make_app(state_db, server, clock)
    a = article(7)
    queue(app, a)
    [first] = app.deliverer.deliver_due()
    assert first.outcome == "sent"
    clock.advance(2 * HOUR)
    app.store.queue_repost(1, ["mastodon"], requested_by="sam", intro="From our archive:")
    fail_posts(server, 4, "503")  # a short outage: the repost's first pass gives up
    [held] = app.deliverer.deliver_due()
    assert held.outcome == "rescheduled"
    clock.advance(HOUR)
    [again] = app.deliverer.deliver_due()
    assert again.outcome == "sent", again
    assert [s["text"].startswith("From our archive:") for s in server.statuses] == [False, True]
    original, repost = app.store.deliveries(1)
    assert repost.remote_url == server.statuses[1]["url"] != original.remote_url
    app.close()


@pytest.mark.parametrize("decoy", ["longer-link", "same-link-other-words"])
def test_a_post_that_only_contains_the_links_is_not_this_one(state_db, server, clock, decoy):
    app = make_app(state_db, server, clock, attempts=1)
    mine = article(12)
    queue(app, mine)
    fail_posts(server, 1)  # the request may have left: the row will be looked up
    [held] = app.deliverer.deliver_due()
    assert held.outcome == "rescheduled"
    clock.advance(30)
    if decoy == "longer-link":  # ?p=123 is another article; "?p=12" is a substring of it
        other = app.draft_for(article(123), "mastodon").text
    else:  # an editor's own words around the same link
        other = f"Great piece, read it: {mine.link}"
    server.post_as_account(other)
    clock.advance(HOUR)
    [result] = app.deliverer.deliver_due()
    assert result.outcome == "sent", result
    assert [s["text"] for s in server.statuses] == [other, app.draft_for(mine, "mastodon").text]
    app.close()


def test_the_same_text_posted_before_the_first_attempt_is_not_this_one(state_db, server, clock):
    app = make_app(state_db, server, clock, attempts=1)
    a = article(5)
    server.post_as_account(app.draft_for(a, "mastodon").text)  # an editor posted it by hand, earlier
    clock.advance(HOUR)
    queue(app, a)
    fail_posts(server, 1)
    assert app.deliverer.deliver_due()[0].outcome == "rescheduled"
    clock.advance(HOUR)
    [result] = app.deliverer.deliver_due()
    assert result.outcome == "sent" and len(server.statuses) == 2
    [row] = app.store.deliveries(1)
    assert row.remote_url == server.statuses[1]["url"]
    app.close()


def test_a_post_another_row_holds_is_never_recorded_for_this_one(state_db, server, clock):
    app = make_app(state_db, server, clock, attempts=1)
    a = article(9)
    queue(app, a)
    app.store.queue_repost(1, ["mastodon"], requested_by="sam")  # the same text, a second row
    original, repost = app.store.claim_due(app.deliverer.owner, now=clock(), lease_seconds=600, limit=2)
    fail_posts(server, 1)
    assert app.deliverer.deliver_one(repost).outcome == "rescheduled"  # may have landed
    clock.advance(60)
    assert app.deliverer.deliver_one(original).outcome == "sent"  # same text, after the repost's try
    clock.advance(HOUR)
    [result] = app.deliverer.deliver_due()
    assert result.outcome == "sent", result
    assert len(server.statuses) == 2
    urls = [d.remote_url for d in app.store.deliveries(1)]
    assert sorted(urls) == sorted(s["url"] for s in server.statuses)
    app.close()


def test_an_expired_key_and_a_busy_account_cannot_double_a_post(state_db, server, clock):
    app = make_app(state_db, server, clock, attempts=1)
    queue(app, article(3))
    server.queue_faults(Fault(accept_then_drop=True, method="POST", path=STATUSES))
    assert app.deliverer.deliver_due()[0].outcome == "rescheduled"
    assert len(server.statuses) == 1  # it landed; the answer was lost
    clock.advance(2 * HOUR)
    server.forget_idempotency_keys()  # Mastodon keeps a key for an hour
    server.post_as_account(*[f"Unrelated note {i}" for i in range(50)])  # 50 newer statuses
    [result] = app.deliverer.deliver_due()
    assert result.outcome == "found", result
    assert len(server.statuses) == 51
    [row] = app.store.deliveries(1)
    assert row.state == "sent" and row.remote_url == server.statuses[0]["url"]
    app.close()


def test_no_lookup_when_no_request_can_have_left(state_db, server, clock):
    app = make_app(state_db, server, clock)
    queue(app, article(4))
    app.store.claim_due("dead-worker", now=clock(), lease_seconds=60)  # claimed, then died before sending
    clock.advance(61)
    [result] = app.deliverer.deliver_due()
    assert result.outcome == "sent"
    assert lookups(server) == 0 and len(server.statuses) == 1
    app.close()
