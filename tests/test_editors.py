"""The editors' service itself (``syndicate.editors``): the health formula, who can post, finding.

The CLI and the API are tested as faces over it in test_cli.py, test_web.py and
test_editors_parity.py; here are the rules they share, with an injected clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syndicate.config import parse_config
from syndicate.editors import Editors, NotFound
from syndicate.models import Article
from syndicate.store import Store
from tests.fakes import FakeClock

CONFIG = """
state: {tmp}/state.db
poll_interval: 10m
feeds:
  - name: acr
    url: {feed}
    poll_interval: 5m
  - name: rp
    url: {feed}
targets:
  mastodon:
    kind: mastodon
    instance: https://mastodon.example
    token_env: EDITORS_TEST_TOKEN
  bluesky:
    kind: bluesky
    handle: acr.bsky.social
    password_env: EDITORS_TEST_PASSWORD
"""


@pytest.fixture
def parts(tmp_path, feed_server, acr_rss):
    feed_server.set_feed("/feed/", acr_rss)
    config = parse_config(CONFIG.format(tmp=tmp_path, feed=feed_server.url("/feed/")), environ={})
    clock = FakeClock(1_800_000_000.0)
    store = Store(config.state, clock=clock)
    yield config, store, clock
    store.close()


def test_health_is_one_formula_three_shortest_polls_and_five_minutes(parts):
    config, store, clock = parts
    editors = Editors(config, store, clock=clock)
    assert editors.health_limit() == 3 * 300 + 300
    assert (editors.health().status, editors.health().reason) == ("unhealthy", "no cycle has run yet")
    store.set_meta("last_cycle_at", repr(clock.now - 1200))
    assert (editors.health().status, editors.health().last_cycle_age) == ("ok", 1200)
    clock.now += 1
    report = editors.health()
    assert (report.status, report.reason) == ("unhealthy", "last cycle 1201s ago (limit 1200s)")
    assert editors.health(max_age=2000).status == "ok"
    store.pause_target("mastodon", "HTTP 401: the access token is invalid", "EDITORS_TEST_TOKEN", clock.now)
    degraded = editors.health(max_age=2000)
    assert degraded.status == "degraded" and degraded.healthy
    assert degraded.reason == ("target mastodon paused, credentials refused: HTTP 401: the access token is "
                               "invalid; fix EDITORS_TEST_TOKEN")
    store.set_meta("last_cycle_at", "not a number")
    assert editors.health().reason == "bad last_cycle_at in the store: 'not a number'"


def test_who_can_post_is_the_daemons_record_else_this_process(parts):
    config, store, clock = parts
    here = {"EDITORS_TEST_TOKEN": "here"}  # this shell has a Mastodon token, no app password
    editors = Editors(config, store, clock=clock, environ=here)
    assert list(editors.cannot_post()) == ["bluesky"]  # no daemon yet: this environment decides
    store.record_daemon_targets({"bluesky": None, "mastodon": "no access token: set EDITORS_TEST_TOKEN"})
    assert editors.cannot_post() == {"mastodon": "no access token: set EDITORS_TEST_TOKEN"}
    store.record_daemon_targets({"mastodon": None})  # a daemon that does not know bluesky: ours decides
    assert list(editors.cannot_post()) == ["bluesky"]
    app_view = Editors(config, store, clock=clock, cannot_post_here={})
    store.set_meta("daemon_targets", "{broken")
    assert app_view.cannot_post() == {}  # an unreadable record counts as none


def test_record_keeps_a_feed_entry_as_seen_and_finds_it_again_by_number(parts):
    config, store, clock = parts
    editors = Editors(config, store, clock=clock)
    url = "https://anticapitalistresistance.org/stalinist-realism-and-open-communism-2/"
    found = editors.find(url)
    assert (found.origin, found.article_id) == ("feed", None)
    assert store.count_articles() == 0  # finding records nothing
    recorded = editors.record(url)
    assert recorded.origin == "feed" and recorded.article_id is not None
    assert store.deliveries(recorded.article_id) == []  # seen, not queued
    again = editors.find(str(recorded.article_id))
    assert (again.origin, again.article.link) == ("store", recorded.article.link)
    assert editors.record(url).article_id == recorded.article_id
    editors.close()


def test_not_found_says_where_it_looked(parts):
    config, store, clock = parts
    store.ingest("acr", new=[Article(feed="acr", id="g1", link="https://example.org/1/", title="One",
                                     published=datetime(2024, 1, 1, tzinfo=UTC))], updated=[], queue={})
    editors = Editors(config, store, clock=clock)
    with pytest.raises(NotFound, match=r"^article nope: not in the store nor in any configured feed$"):
        editors.find("nope")
    with pytest.raises(NotFound, match=r"^article nope: not in the store$"):
        editors.retry("nope")
    assert editors.recorded("https://example.org/1").article_id == 1
    editors.close()


# --- health is this worker's, on a fleet ------------------------------------------------------------


FLEET = """
state: {tmp}/state.db
feeds:
  - name: acr
    url: {feed}
    poll_interval: 5m
"""


def test_a_worker_whose_loop_stopped_is_unhealthy_though_another_worker_cycles(tmp_path, feed_server,
                                                                              acr_rss):
    """Two workers on one state, ``here`` on this host and ``there`` on another: the loop of
    ``here`` stops (hung; its heartbeat thread still says it is alive) while ``there`` goes on
    cycling.  The health check of ``here`` — ``syndicate health`` in its container, its
    listener's /healthz — must say so, not report the other worker's cycles as its own."""
    import socket

    import httpx

    from syndicate.app import App
    from syndicate.editors import state_health
    from syndicate.web import create_app, serve

    feed_server.set_feed("/feed/", acr_rss)
    config = parse_config(FLEET.format(tmp=tmp_path, feed=feed_server.url("/feed/")), environ={})
    clock = FakeClock(1_800_000_000.0)
    here = App(config, targets={}, clock=clock, owner="here:1:aaaa")
    there = App(config, targets={}, clock=clock, owner="there:2:bbbb")
    try:
        here.store.worker_started("here:1:aaaa", host=socket.gethostname(), pid=1)
        there.store.worker_started("there:2:bbbb", host="a-host-elsewhere", pid=2)
        here.run_cycle(all_feeds=True)
        there.run_cycle(all_feeds=True)
        assert state_health(config, clock=clock).status == "ok"
        clock.advance(1200 + 60)  # the limit is 3 × 5 min + 5 min; "here" cycled last that long ago
        assert here.store.worker_seen("here:1:aaaa") and there.store.worker_seen("there:2:bbbb")
        there.run_cycle()
        report = state_health(config, clock=clock)
        assert (report.status, report.reason) == ("unhealthy", "last cycle 1260s ago (limit 1200s)")
        with serve(create_app(here, api_token=None), "127.0.0.1", 0) as mine, \
                serve(create_app(there, api_token=None), "127.0.0.1", 0) as theirs:
            assert httpx.get(f"{mine.url}/healthz", timeout=10).status_code == 503
            assert httpx.get(f"{theirs.url}/healthz", timeout=10).json()["status"] == "ok"
        here.run_cycle()  # its loop goes on: healthy again
        assert state_health(config, clock=clock).status == "ok"
    finally:
        here.close()
        there.close()


def test_a_restarted_worker_is_healthy_until_its_first_cycle_is_overdue(tmp_path, feed_server, acr_rss):
    """A worker recorded (its daemon started) whose first cycle has not ended yet: it is as
    healthy as a worker whose last cycle ended when it started, so a restart is not reported
    unhealthy while its first cycle runs (that may wait out a rate limit), and a worker that
    never finishes one becomes unhealthy once the limit has passed since its start."""
    import socket

    from syndicate.app import App
    from syndicate.editors import state_health

    feed_server.set_feed("/feed/", acr_rss)
    config = parse_config(FLEET.format(tmp=tmp_path, feed=feed_server.url("/feed/")), environ={})
    clock = FakeClock(1_800_000_000.0)
    before = App(config, targets={}, clock=clock, owner="here:1:aaaa")
    try:
        before.store.worker_started("here:1:aaaa", host=socket.gethostname(), pid=1)
        before.run_cycle(all_feeds=True)
        before.store.worker_stopped("here:1:aaaa")
    finally:
        before.close()
    clock.advance(60)
    after = App(config, targets={}, clock=clock, owner="here:7:cccc")  # the restart
    try:
        after.store.worker_started("here:7:cccc", host=socket.gethostname(), pid=7)
        assert state_health(config, clock=clock).status == "ok"
        clock.advance(1200 + 1)  # the limit is 3 × 5 min + 5 min
        report = state_health(config, clock=clock)
        assert (report.status, report.reason) == ("unhealthy", "no cycle has ended in the 1201s since the worker "
                                                               "started (limit 1200s)")
    finally:
        after.close()
