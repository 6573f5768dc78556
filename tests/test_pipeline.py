"""Ingestion rules, end to end over loopback HTTP: no flood, edits, changed guids, shared links."""

from __future__ import annotations

import logging
import sqlite3

from syndicate.app import App
from syndicate.config import parse_config
from tests.fakes import ScriptedTarget
from tests.helpers import ITEM, RSS, rss


def make_app(tmp_path, feeds: dict[str, str], backfill: int = 0) -> App:
    feed_yaml = "".join(f"  - {{name: {n}, url: '{u}', backfill: {backfill}}}\n" for n, u in feeds.items())
    cfg = parse_config(f"""
state: {tmp_path / 's.db'}
feeds:
{feed_yaml}targets:
  masto: {{kind: mastodon, instance: "https://m.example"}}
output: {{enabled: false}}
""", environ={})
    return App(cfg, targets={"masto": ScriptedTarget(name="masto")})  # these tests never deliver


def queued(app: App) -> list[str]:
    return sorted(a.link for a in app.store.recent(100) if a.deliveries)


def test_first_sight_queues_only_the_backfill_newest(tmp_path, feed_server):
    feed_server.set_feed("/f", rss(range(1, 11)))
    app = make_app(tmp_path, {"acr": feed_server.url("/f")}, backfill=2)
    [result] = app.run_cycle(all_feeds=True).feeds
    assert (result.new, result.queued) == (10, 2)
    assert queued(app) == ["https://anticapitalistresistance.org/a10/", "https://anticapitalistresistance.org/a9/"]


def test_new_entries_after_seeding_are_queued_and_304_costs_nothing(tmp_path, feed_server):
    feed_server.set_feed("/f", rss(range(1, 4)))
    app = make_app(tmp_path, {"acr": feed_server.url("/f")})
    app.run_cycle(all_feeds=True)
    [again] = app.run_cycle(all_feeds=True).feeds
    assert again.status == "not-modified"
    feed_server.set_feed("/f", rss(range(1, 6)))
    [result] = app.run_cycle(all_feeds=True).feeds
    assert (result.new, result.queued) == (2, 2)


def test_an_edited_article_is_updated_not_posted_again(tmp_path, feed_server, caplog):
    feed_server.set_feed("/f", rss(range(1, 3)))
    app = make_app(tmp_path, {"acr": feed_server.url("/f")}, backfill=2)
    app.run_cycle(all_feeds=True)
    edited = rss(range(1, 3)).replace(b"<title>Article 2</title>", b"<title>Article 2 (corrected)</title>")
    feed_server.set_feed("/f", edited)
    with caplog.at_level(logging.INFO):
        [result] = app.run_cycle(all_feeds=True).feeds
    assert (result.new, result.updated, result.queued) == (0, 1, 0)
    aid = app.store.find_article_id("https://anticapitalistresistance.org/a2/")
    assert app.store.article(aid).title == "Article 2 (corrected)"
    assert len(app.store.deliveries(aid)) == 1  # still the one delivery from before the edit
    assert any(r.getMessage() == "article updated" for r in caplog.records)


def test_a_changed_guid_with_the_same_link_is_not_new(tmp_path, feed_server):
    feed_server.set_feed("/f", rss(range(1, 3)))
    app = make_app(tmp_path, {"acr": feed_server.url("/f")})
    app.run_cycle(all_feeds=True)
    feed_server.set_feed("/f", rss(range(1, 3)).replace(b"?p=2</guid>", b"?p=2&amp;v=2</guid>"))
    [result] = app.run_cycle(all_feeds=True).feeds
    assert (result.new, result.queued) == (0, 0)
    assert app.store.count_articles() == 2


def test_an_article_in_two_feeds_is_recorded_once_and_not_flip_flopped(tmp_path, feed_server, caplog):
    item = ITEM.format(n=7, day=7)
    feed_server.set_feed("/a", RSS.format(items=item).encode())
    feed_server.set_feed("/b", RSS.format(items=item.replace("Writer 7", "Someone else")).encode())
    app = make_app(tmp_path, {"a": feed_server.url("/a"), "b": feed_server.url("/b")})
    app.run_cycle(all_feeds=True)
    feed_server.set_feed("/a", RSS.format(items=item + " ").encode())  # new bytes, same entry
    feed_server.set_feed("/b", RSS.format(items=item.replace("Writer 7", "Someone else") + " ").encode())
    with caplog.at_level(logging.INFO):
        results = app.run_cycle(all_feeds=True).feeds
    assert [(r.new, r.updated) for r in results] == [(0, 0), (0, 0)]
    assert app.store.count_articles() == 1
    assert app.store.article(1).feed == "a" and app.store.article(1).author == "Writer 7"


def test_a_retry_after_years_away_is_capped_at_the_backoff_cap(tmp_path, feed_server):
    from tests.servers.feeds import Fault

    feed_server.set_feed("/f", rss(range(1, 3)))
    feed_server.queue_faults("/f", Fault(status=503, headers={"Retry-After": str(10 * 365 * 86400)}))
    t = [1_750_000_000.0]
    app = make_app(tmp_path, {"acr": feed_server.url("/f")})
    app.ingester.clock = lambda: t[0]
    [result] = app.run_cycle(all_feeds=True).feeds
    assert result.status == "error"
    assert result.next_fetch_at == t[0] + 6 * 3600  # a bogus wait never silences the feed for years


def test_a_poll_is_recorded_whole_or_not_at_all(tmp_path, feed_server):
    """A feed's articles, their deliveries and its bookkeeping (validators, body hash, seeded) are
    one transaction: a write the database refuses half way (here: the feed's row, as a full disk
    would) leaves none of them, so the next read seeds the feed once, not a second time."""
    feed_server.set_feed("/f", rss(range(1, 4)))
    app = make_app(tmp_path, {"acr": feed_server.url("/f")}, backfill=1)
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute("CREATE TRIGGER disk_full BEFORE INSERT ON feeds WHEN NEW.seeded = 1 "
               "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    db.commit()
    [failed] = app.run_cycle(all_feeds=True).feeds
    assert failed.status == "error" and "disk is full" in failed.error
    assert app.store.count_articles() == 0 and queued(app) == []
    assert not app.store.feed_state("acr").seeded

    db.execute("DROP TRIGGER disk_full")
    db.commit()
    db.close()
    feed_server.set_feed("/f", rss(range(1, 5)))
    [result] = app.run_cycle(all_feeds=True).feeds
    assert (result.status, result.new, result.queued) == ("fetched", 4, 1)
    assert queued(app) == ["https://anticapitalistresistance.org/a4/"]  # the backfill, once
