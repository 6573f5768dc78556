"""The daemon never spins: what it sleeps for counts only what can be worked (issue 11, item 8).

``Daemon._sleep_for`` is the loop's one decision about time; it is asked here
with an injected clock, after a real cycle against the loopback Mastodon server.
"""

from __future__ import annotations

from datetime import UTC, datetime

from syndicate.app import App
from syndicate.daemon import MAX_SLEEP, Daemon
from syndicate.models import Article
from tests.fakes import FakeClock, make_config, mastodon
from tests.servers.mastodon import MastodonServer

TOKEN = "wake-token-0123456789"


def config(tmp_path, instance="https://m.example"):
    return make_config(tmp_path, {"f": "https://e.org/feed"}, poll_interval="15m",
                       targets={"masto": mastodon(instance, token_env="WAKE_TEST_TOKEN")})


def daemon_for(cfg, environ, clock) -> Daemon:
    daemon = Daemon(cfg, environ=environ, clock=clock)
    daemon.app = App(cfg, environ=environ, clock=clock)
    daemon.app.store.record_fetch_ok("f", "https://e.org/feed", etag=None, last_modified=None,
                                     body_hash=None, final_url=None, next_fetch_at=clock() + 900)
    return daemon


def queue_one(app: App) -> None:
    app.store.ingest("f", new=[Article(feed="f", id="g", link="https://e.org/1", title="One",
                                       published=datetime(2025, 1, 1, tzinfo=UTC))],
                     updated=[], queue={"g": ["masto"]})


def test_rows_for_a_target_without_credentials_never_wake_the_daemon(tmp_path):
    clock = FakeClock(1_750_000_000.0)
    daemon = daemon_for(config(tmp_path), {}, clock)
    assert daemon.app.targets == {}  # no token: this target cannot post
    queue_one(daemon.app)  # a row queued while it still had one
    assert daemon._sleep_for() == MAX_SLEEP  # not 0.5 s, over and over, for ever
    daemon.app.close()


def test_a_target_whose_rate_limit_is_spent_for_hours_does_not_wake_the_daemon(tmp_path):
    clock = FakeClock(1_750_000_000.0)
    with MastodonServer(token=TOKEN, clock=clock, budget=2, window=2 * 3600) as server:
        server.reset_window()
        daemon = daemon_for(config(tmp_path, server.url), {"WAKE_TEST_TOKEN": TOKEN}, clock)
        queue_one(daemon.app)
        [sent] = daemon.app.deliverer.deliver_due()  # the instance, then the post: the budget is spent
        assert sent.outcome == "sent" and server.remaining == 0
        daemon.app.store.ingest("f", new=[Article(feed="f", id="g2", link="https://e.org/2", title="Two",
                                                  published=datetime(2025, 1, 2, tzinfo=UTC))],
                                updated=[], queue={"g2": ["masto"]})
        assert daemon.app.deliverer.deliver_due() == []  # left out until the reset, 2 h away
        assert daemon._sleep_for() == MAX_SLEEP
        daemon.app.close()
