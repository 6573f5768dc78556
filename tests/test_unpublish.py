"""Unpublishing (issue 15, item 3): an article that left its feed and whose page answers 404/410
on checks spread over at least an hour is gone at source; nothing else marks it.

Real parts: the feed and the article pages over loopback HTTP (``tests/servers/feeds.py``),
fetched by the real ``Fetcher`` through its content pool and address policy; a real store (SQLite
and PostgreSQL); time is a ``FakeClock``, so an hour of checks takes no time at all.
"""

from __future__ import annotations

import logging
import random
import socket
from datetime import UTC, datetime, timedelta

import pytest

from syndicate.app import App
from syndicate.editors import Editors
from syndicate.errors import TransientError
from syndicate.store.unpublished import PageCheck
from syndicate.unpublish import GONE_AFTER, MIN_NOT_FOUND, REQUESTED_BY, Answer, judge
from tests.fakes import FakeClock, ScriptedTarget, make_config, mastodon
from tests.servers.feeds import Fault

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
STEP = 5 * 60.0  # a cycle every five minutes


def rss(server, slugs: list[str], *, links: dict[str, str] | None = None) -> bytes:
    """An RSS feed of the articles ``slugs`` (oldest first, a day apart), each linking to its page."""
    from email.utils import format_datetime

    items = []
    for slug in slugs:
        n = int(slug[1:])  # its date is its own, wherever it is listed
        link = (links or {}).get(slug) or server.url(f"/{slug}")
        items.append(f"<item><title>Article {slug}</title><link>{link}</link><guid>{link}</guid>"
                     f"<pubDate>{format_datetime(T0 - timedelta(days=10 - n))}</pubDate></item>")
    return ("<?xml version='1.0' encoding='UTF-8'?><rss version='2.0'><channel><title>Review</title>"
            f"<link>{server.url('/')}</link><description>d</description>{''.join(items)}</channel></rss>"
            ).encode()


def page(server, slug: str) -> None:
    server.set_feed(f"/{slug}", f"<html><body>{slug}</body></html>".encode(), content_type="text/html")


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/a2"


@pytest.fixture
def setup(tmp_path, feed_server, state_db):
    """A feed of three articles, all posted; ``run(minutes)`` runs a cycle every five minutes."""
    clock = FakeClock(T0)
    made: list[App] = []

    def start(policy: str = "delete", links: dict[str, str] | None = None) -> App:
        for slug in ("a1", "a2", "a3"):
            page(feed_server, slug)
        feed_server.set_feed("/feed", rss(feed_server, ["a1", "a2", "a3"], links=links))
        config = make_config(tmp_path, {"review": {"url": feed_server.url("/feed"), "backfill": 3}},
                             targets={"t": mastodon("https://m.example", unpublished=policy)},
                             security={"allow_private_addresses": True, "allowed_ports": "any"}, state=state_db, poll_interval="10m")
        app = App(config, targets={"t": ScriptedTarget(name="t")}, clock=clock, sleep=clock.sleep)
        made.append(app)
        app.unpublisher.rng = random.Random(7)
        app.run_cycle(all_feeds=True)
        assert sum(d.outcome == "sent" for d in app.run_cycle().deliveries) == 0  # all sent in the first
        return app

    def run(app: App, minutes: float) -> None:
        end = clock() + minutes * 60
        while clock() < end:
            clock.advance(STEP)
            app.run_cycle()

    yield start, run, clock
    for app in made:
        app.close()


def article_id(app: App, slug: str, server) -> int:
    found = app.store.find_article_id(server.url(f"/{slug}"))
    assert found is not None
    return found


def page_requests(server, slug: str) -> int:
    return sum(1 for r in server.requests if r.path == f"/{slug}")


def test_an_article_taken_out_of_its_feed_whose_page_is_404_for_an_hour_is_gone_and_deleted(
        setup, feed_server, caplog):
    start, run, clock = setup
    app = start("delete")
    a2 = article_id(app, "a2", feed_server)
    assert {d.target: d.state for d in app.store.deliveries(a2)} == {"t": "sent"}
    feed_server.set_feed("/feed", rss(feed_server, ["a1", "a3"]))  # taken out of the middle
    feed_server.remove("/a2")  # 404
    caplog.set_level(logging.INFO, logger="syndicate.unpublish")
    run(app, 11)  # the feed read again; no page check yet: the first waits a quarter of an hour
    state = app.store.unpublish_state(a2)
    assert state["missing_since"] is not None
    assert page_requests(feed_server, "a2") == 0
    assert app.next_due_at() <= state["next_check_at"]  # the daemon wakes for it
    run(app, 60)  # 404 for less than the hour since the first check: not gone yet
    assert app.store.gone() == {}
    assert 2 <= page_requests(feed_server, "a2") <= 4  # spread out, not every cycle
    run(app, 60)
    assert set(app.store.gone()) == {a2}
    state = app.store.unpublish_state(a2)
    assert state["not_found"] >= MIN_NOT_FOUND
    assert state["gone_at"] - state["not_found_since"] >= GONE_AFTER
    assert app.store.deletes_requested(a2) == {"t": REQUESTED_BY}
    [target] = app.targets.values()
    assert "delete" in target.calls and len(target.posts) == 2  # a2's post deleted, a1's and a3's kept
    assert [r.getMessage() for r in caplog.records if "gone at source" in r.getMessage()] == [
        "article gone at source"]
    others = [article_id(app, s, feed_server) for s in ("a1", "a3")]
    assert all(app.store.unpublish_state(i) is None for i in others)  # still listed: never checked
    assert page_requests(feed_server, "a1") == page_requests(feed_server, "a3") == 0
    # editors are told: status, and the why-lines of the previews
    editors = Editors(app.config, app.store, composer=app)
    row = next(a for a in editors.status(10).articles if a.id == a2)
    assert any("gone at source" in note and "post deleted on t" in note for note in row.notes)
    assert any("gone at source" in why for p in editors.previews(a2) for why in p.why)


def test_keep_tells_the_editors_and_deletes_nothing_and_410_counts_as_404(setup, feed_server):
    start, run, _clock = setup
    app = start("keep")
    a2 = article_id(app, "a2", feed_server)
    feed_server.set_feed("/feed", rss(feed_server, ["a1", "a3"]))
    feed_server.queue_faults("/a2", *[Fault(status=410)] * 50)
    run(app, 150)
    assert set(app.store.gone()) == {a2}
    assert app.store.deletes_requested(a2) == {}
    row = next(a for a in Editors(app.config, app.store).status(10).articles if a.id == a2)
    assert any("gone at source" in note and "post kept on t" in note for note in row.notes)


@pytest.mark.parametrize("answer", ["503", "connection refused"])
def test_a_flaky_503_or_a_connection_error_marks_nothing(setup, feed_server, answer):
    start, run, _clock = setup
    links = {"a2": closed_port_url()} if answer == "connection refused" else None
    app = start("delete", links)
    feed_server.set_feed("/feed", rss(feed_server, ["a1", "a3"], links=links))
    if answer == "503":
        feed_server.queue_faults("/a2", *[Fault(status=503)] * 100)
    run(app, 4 * 60)
    assert app.store.gone() == {}
    a2 = app.store.find_article_id(links["a2"] if links else feed_server.url("/a2"))
    assert a2 is not None
    state = app.store.unpublish_state(a2)
    assert state["checks"] >= 4 and state["not_found"] == 0  # checked, and nothing counted
    assert app.store.deletes_requested(a2) == {}
    if answer == "503":
        assert 4 <= page_requests(feed_server, "a2") <= 12


def test_a_single_404_marks_nothing_and_503s_between_404s_neither_count_nor_break_the_run(
        setup, feed_server):
    start, run, _clock = setup
    app = start("delete")
    a2 = article_id(app, "a2", feed_server)
    feed_server.set_feed("/feed", rss(feed_server, ["a1", "a3"]))
    feed_server.queue_faults("/a2", Fault(status=404))  # once, then the page again
    run(app, 3 * 60)
    assert app.store.gone() == {}
    assert app.store.unpublish_state(a2)["not_found"] == 0


def test_an_article_that_comes_back_is_no_longer_gone(setup, feed_server):
    start, run, _clock = setup
    app = start("keep")
    a2 = article_id(app, "a2", feed_server)
    feed_server.set_feed("/feed", rss(feed_server, ["a1", "a3"]))
    feed_server.remove("/a2")
    run(app, 150)
    assert set(app.store.gone()) == {a2}
    feed_server.set_feed("/feed", rss(feed_server, ["a1", "a2", "a3"]))  # back in the feed
    run(app, 15)
    assert app.store.gone() == {}
    assert app.store.unpublish_state(a2)["missing_since"] is None
    # gone again, then its page answers again (still out of the feed): no longer gone
    feed_server.set_feed("/feed", rss(feed_server, ["a1", "a3"]))
    run(app, 150)
    assert set(app.store.gone()) == {a2}
    page(feed_server, "a2")
    run(app, 7 * 60)
    assert app.store.gone() == {}


def test_an_article_that_aged_off_the_end_of_the_feed_is_not_checked(setup, feed_server):
    start, run, _clock = setup
    app = start("delete")
    feed_server.set_feed("/feed", rss(feed_server, ["a2", "a3"]))  # a1, the oldest, fell off the end
    feed_server.remove("/a1")
    run(app, 3 * 60)
    assert app.store.unpublish_state(article_id(app, "a1", feed_server)) is None
    assert page_requests(feed_server, "a1") == 0


# --- the rules, pure ---------------------------------------------------------------------------

NOW = T0.timestamp()


def check(**kw: object) -> PageCheck:
    values: dict[str, object] = {"article_id": 1, "feed": "f", "link": "https://e.org/a", "missing_since": NOW,
                                 "not_found": 0, "not_found_since": None, "gone_at": None}
    values.update(kw)
    return PageCheck(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("run", "span", "gone"), [
    (MIN_NOT_FOUND - 2, 2 * GONE_AFTER, None),  # long enough, too few answers
    (MIN_NOT_FOUND + 3, GONE_AFTER - 1, None),  # many answers, under the hour
    (MIN_NOT_FOUND - 1, GONE_AFTER, True),  # this answer is the last one needed
])
def test_judge_needs_answers_spread_over_an_hour(run, span, gone):
    verdict = judge(check(not_found=run, not_found_since=NOW - span), Answer("not-found", "HTTP 404"), NOW,
                    random.Random(1))
    assert verdict.gone is gone
    assert verdict.not_found == run + 1 and verdict.next_check_at is not None


def test_judge_an_answer_that_says_nothing_keeps_the_run_and_a_page_ends_it():
    before = check(not_found=2, not_found_since=NOW - 100)
    kept = judge(before, Answer("no-answer", "HTTP 503"), NOW, random.Random(1))
    assert (kept.not_found, kept.not_found_since, kept.gone) == (2, NOW - 100, None)
    ended = judge(before, Answer("page", "HTTP 2xx"), NOW, random.Random(1))
    assert (ended.not_found, ended.not_found_since, ended.gone) == (0, None, False)


def test_the_api_and_the_editors_page_tell_the_editors(setup, feed_server):
    import httpx

    from syndicate.web import create_app
    from syndicate.web.server import serve

    start, run, _clock = setup
    app = start("keep")
    a2 = article_id(app, "a2", feed_server)
    feed_server.set_feed("/feed", rss(feed_server, ["a1", "a3"]))
    feed_server.remove("/a2")
    run(app, 150)
    assert set(app.store.gone()) == {a2}
    token = "t" * 32
    handle = serve(create_app(app, api_token=token), "127.0.0.1", 0)
    try:
        with httpx.Client(base_url=handle.url, timeout=10) as c:
            status = c.get("/api/status", headers={"Authorization": f"Bearer {token}"}).json()
            [row] = [a for a in status["articles"] if a["id"] == a2]
            assert len(row["notes"]) == 1 and "gone at source since" in row["notes"][0]
            assert all(a["notes"] == [] for a in status["articles"] if a["id"] != a2)
            assert c.post("/login", data={"token": token}).status_code == 303
            page = c.get("/").text
            assert page.count('<div class="note">gone at source since') == 1
    finally:
        handle.stop()


def test_a_post_not_sent_yet_of_an_article_gone_at_source_is_withdrawn_under_delete(setup, feed_server):
    """``unpublished: delete`` deletes what was posted and withdraws what was not sent yet (here a
    repost waiting out an outage): the article is never posted again once gone at source."""
    start, run, _clock = setup
    app = start("delete")
    a2 = article_id(app, "a2", feed_server)
    [target] = app.targets.values()
    assert isinstance(target, ScriptedTarget)
    target.script = [TransientError("HTTP 503: down")] * 1000  # the target is down from now on
    assert app.store.request_repost(a2, ["t"], requested_by="sam", force=True).queued == ("t",)
    feed_server.set_feed("/feed", rss(feed_server, ["a1", "a3"]))
    feed_server.remove("/a2")
    run(app, 150)
    assert set(app.store.gone()) == {a2}
    target.script = []  # back up: the delete goes out, the withdrawn repost does not
    run(app, 60)
    assert not [text for text in target.posts.values() if "Article a2" in text]
    states = sorted(d.state for d in app.store.deliveries(a2))
    assert "pending" not in states and "sending" not in states, states


def test_an_article_gone_at_source_before_its_first_post_is_never_posted_under_delete(setup, feed_server):
    """Gone at source while its target was down: under ``unpublished: delete`` its post is withdrawn,
    never sent once the target is back."""
    start, run, _clock = setup
    app = start("delete")
    [target] = app.targets.values()
    assert isinstance(target, ScriptedTarget)
    target.script = [TransientError("HTTP 503: down")] * 1000
    page(feed_server, "a4")
    feed_server.set_feed("/feed", rss(feed_server, ["a1", "a2", "a3", "a4"]))
    run(app, 15)  # read, queued, tried: the target is down
    a4 = article_id(app, "a4", feed_server)
    assert [d.state for d in app.store.deliveries(a4)] == ["pending"]
    feed_server.set_feed("/feed", rss(feed_server, ["a1", "a2", "a3"]))
    feed_server.remove("/a4")
    run(app, 150)
    assert set(app.store.gone()) == {a4}
    target.script = []
    run(app, 60)
    assert not [text for text in target.posts.values() if "Article a4" in text]
    assert [d.state for d in app.store.deliveries(a4)] == ["failed"]  # withdrawn, saying why
