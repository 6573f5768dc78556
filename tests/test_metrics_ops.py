"""/metrics counts posts and the edits and deletes of posts apart.

An edit or a delete is an outbox row too, and its delivery ends ``sent`` like a post's; an
operator's "posts sent" must not go up when an article is edited or unpublished.  Real parts:
the feed over loopback HTTP, the loopback Mastodon server through Mastodon.py, the daemon's
``Metrics`` fed each cycle's result as the daemon feeds it.  Time is a FakeClock; nothing sleeps.
"""

from __future__ import annotations

import pytest

from syndicate.app import App
from syndicate.metrics import Metrics
from syndicate.retry import RetryPolicy
from tests.fakes import FakeClock, make_config, mastodon
from tests.servers.mastodon import MastodonServer
from tests.test_article_life import START, TOKEN
from tests.test_article_life import feed as article_feed


def feed(title: str) -> bytes:
    """The feed with its one article titled ``title`` (none if empty)."""
    return article_feed((1, title)) if title else article_feed()


@pytest.fixture
def clock():
    return FakeClock(START)


@pytest.fixture
def server(clock):
    with MastodonServer(token=TOKEN, clock=clock) as srv:
        yield srv
    assert not srv.errors, srv.errors[0]


def test_an_edit_and_a_delete_are_no_posts_sent(tmp_path, feed_server, server, clock):
    cfg = make_config(tmp_path, {"acr": {"url": feed_server.url("/f"), "settle": 0}},
                      targets={"mastodon": mastodon(server.url, timeout=5)})
    app = App(cfg, environ={"SYNDICATE_MASTODON_TOKEN": TOKEN}, clock=clock, sleep=clock.sleep,
              policy=RetryPolicy(jitter=0))
    metrics = Metrics(app.store)

    def cycle(title: str | None = None) -> None:
        if title is not None:  # None: the feed as it was
            feed_server.set_feed("/f", feed(title))
        metrics.observe_cycle(app.run_cycle(all_feeds=True))  # as the daemon does after each cycle

    cycle("")  # the feed read once, empty: what comes next is new
    cycle("Tpyo in the tilte")
    [status] = server.statuses
    cycle("Typo in the title, fixed")
    assert server.statuses[0]["edits"] == 1
    article = app.store.find_article_id("guid-1")
    assert app.store.request_delete(article, ["mastodon"], requested_by="Ann").queued == ("mastodon",)
    cycle()
    assert server.statuses == [] and server.deleted == [status["id"]]
    assert [(d.op, d.state) for d in app.store.deliveries(article)] == [
        ("post", "sent"), ("edit", "sent"), ("delete", "sent")]
    text = metrics.render().decode()
    assert 'syndicate_posts_sent_total{target="mastodon"} 1.0' in text  # the one post, not 3
    assert 'syndicate_deliveries_total{op="post",outcome="sent",target="mastodon"} 1.0' in text
    assert 'syndicate_deliveries_total{op="edit",outcome="sent",target="mastodon"} 1.0' in text
    assert 'syndicate_deliveries_total{op="delete",outcome="sent",target="mastodon"} 1.0' in text
    app.close()
