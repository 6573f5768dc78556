"""Mirror sites are told (issue 15, item 4): the real update date, the posts made of each item,
and a tombstone (RFC 6721) for an article gone at source, in files that still validate.

Real parts: the feed and its pages over loopback HTTP, the App writing the three files from a
real store, read back with feedparser, feedsmith (npm) and the JSON Feed 1.1 schema, and checked
by ``feed --check``'s rules; time is a ``FakeClock``.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from lxml import etree

from syndicate.app import App
from syndicate.feed_out.changes import TOMBSTONE_DAYS, TOMBSTONES_NS
from syndicate.feed_out.check import check_file
from tests.fakes import FakeClock, ScriptedTarget, make_config, mastodon
from tests.test_feed_mirror import feedsmith, parsed, validate_json_feed

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"
FILES = ("feed.xml", "feed.atom", "feed.json")


def rss(server, titles: dict[str, str], about: dict[str, str] | None = None) -> bytes:
    items = []
    for slug, title in titles.items():
        link = server.url(f"/{slug}")
        published = T0 - timedelta(days=10 - int(slug[1:]))
        items.append(f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
                     f"<pubDate>{format_datetime(published)}</pubDate>"
                     f"<description>{(about or {}).get(slug, f'About {slug}.')}</description></item>")
    return ("<?xml version='1.0' encoding='UTF-8'?><rss version='2.0'><channel><title>Review</title>"
            f"<link>{server.url('/')}</link><description>d</description>{''.join(items)}</channel></rss>"
            ).encode()


TITLES = {"a1": "First", "a2": "Second", "a3": "Third"}


@pytest.fixture
def app(tmp_path, feed_server):
    clock = FakeClock(T0)
    for slug in TITLES:
        feed_server.set_feed(f"/{slug}", b"<html>page</html>", content_type="text/html")
    feed_server.set_feed("/feed", rss(feed_server, TITLES))
    config = make_config(tmp_path, {"review": {"url": feed_server.url("/feed"), "backfill": 3}},
                         targets={"t": mastodon("https://m.example")}, output={"self_url": "https://m.example/f/"},
                         security={"allow_private_addresses": True, "allowed_ports": "any"}, poll_interval="10m")
    made = App(config, targets={"t": ScriptedTarget(name="t")}, clock=clock)
    made.unpublisher.rng = random.Random(3)
    made.run_cycle(all_feeds=True)
    yield made
    made.close()


def files(app: App) -> dict[str, bytes]:
    out = {name: (app.config.output.dir / name).read_bytes() for name in FILES}
    for name, data in out.items():
        report = check_file(name, data)
        assert report.valid, report.line()
    for name in ("feed.xml", "feed.atom"):
        parsed(out[name])
    validate_json_feed(json.loads(out["feed.json"]))
    return out


def run(app: App, minutes: float) -> None:
    clock = app.clock
    assert isinstance(clock, FakeClock)
    end = clock() + minutes * 60
    while clock() < end:
        clock.advance(300)
        app.run_cycle()


def atom_entry(data: bytes, link: str) -> etree._Element:
    root = etree.fromstring(data)
    [entry] = [e for e in root.findall(ATOM + "entry")
               if e.find(ATOM + "link[@rel='alternate']").get("href") == link]
    return entry


def test_atom_updated_and_json_date_modified_move_on_an_edit(app, feed_server, tmp_path):
    link = feed_server.url("/a2")
    before = files(app)
    entry = atom_entry(before["feed.atom"], link)
    assert entry.findtext(ATOM + "updated") == entry.findtext(ATOM + "published")
    # an edit of nothing a reader sees (whitespace, how a character is written) moves nothing
    app.clock.advance(3600)  # type: ignore[attr-defined]
    feed_server.set_feed("/feed", rss(feed_server, TITLES, {"a2": "About  a2.\n  "}))
    result = app.run_cycle(all_feeds=True)
    assert [r.updated for r in result.feeds] == [1]  # recorded as an edit: the feed said something else
    entry = atom_entry(files(app)["feed.atom"], link)
    assert entry.findtext(ATOM + "updated") == entry.findtext(ATOM + "published")
    app.clock.advance(2 * 3600)  # type: ignore[attr-defined]
    edited_at = datetime.fromtimestamp(app.clock(), UTC)
    feed_server.set_feed("/feed", rss(feed_server, {**TITLES, "a2": "Second, with its typo fixed"}))
    result = app.run_cycle(all_feeds=True)
    assert {p.name for p in result.written} >= {"feed.atom", "feed.json"}
    after = files(app)
    entry = atom_entry(after["feed.atom"], link)
    assert datetime.fromisoformat(entry.findtext(ATOM + "updated")) == edited_at
    assert entry.findtext(ATOM + "title") == "Second, with its typo fixed"
    [item] = [i for i in json.loads(after["feed.json"])["items"] if i["url"] == link]
    assert datetime.fromisoformat(item["date_modified"]) == edited_at
    assert datetime.fromisoformat(item["date_published"]) < edited_at
    # an independent consumer sees it move too
    [smith] = [e for e in feedsmith(after["feed.atom"], "feed.atom", tmp_path)["feed"]["items"]
               if e["link"] == link]
    assert datetime.fromisoformat(smith["updated"]) == edited_at
    # the others did not move
    other = atom_entry(after["feed.atom"], feed_server.url("/a1"))
    assert other.findtext(ATOM + "updated") == other.findtext(ATOM + "published")


def test_each_item_links_to_the_posts_made_of_it(app, feed_server, tmp_path):
    out = files(app)
    posts = {d.remote_url for d in app.store.deliveries(app.store.find_article_id(feed_server.url("/a2")) or 0)}
    assert len(posts) == 1 and None not in posts
    entry = atom_entry(out["feed.atom"], feed_server.url("/a2"))
    assert {link.get("href") for link in entry.findall(ATOM + "link[@rel='syndication']")} == posts
    [item] = [i for i in json.loads(out["feed.json"])["items"] if i["url"] == feed_server.url("/a2")]
    assert set(item["_syndicate"]["posts"]) == posts
    assert parsed(out["feed.atom"]).entries[1].links[-1]["rel"] == "syndication"


def test_an_article_gone_at_source_leaves_the_feeds_and_leaves_a_tombstone_for_30_days(
        app, feed_server, tmp_path):
    gone_link = feed_server.url("/a2")
    feed_server.set_feed("/feed", rss(feed_server, {"a1": "First", "a3": "Third"}))
    feed_server.remove("/a2")
    run(app, 150)
    assert len(app.store.gone()) == 1
    out = files(app)
    for name in FILES:
        assert gone_link.encode() not in out[name].split(b"deleted-entry")[0], name  # no item for it
    assert [e.link for e in parsed(out["feed.xml"]).entries] == [feed_server.url("/a3"), feed_server.url("/a1")]
    root = etree.fromstring(out["feed.atom"])
    [stone] = root.findall(f"{{{TOMBSTONES_NS}}}deleted-entry")
    assert stone.get("ref") == gone_link  # the id its entry had
    [gone_at] = app.store.gone().values()
    assert datetime.fromisoformat(stone.get("when")) == datetime.fromtimestamp(int(gone_at), UTC)
    assert stone.find(ATOM + "link").get("href") == gone_link
    assert [i["link"] for i in feedsmith(out["feed.atom"], "feed.atom", tmp_path)["feed"]["items"]] == [
        feed_server.url("/a3"), feed_server.url("/a1")]
    # listed again: back in the feeds, no tombstone
    feed_server.set_feed("/feed", rss(feed_server, TITLES))
    app.run_cycle(all_feeds=True)
    back = files(app)
    assert b"deleted-entry" not in back["feed.atom"]
    assert gone_link in [e.link for e in parsed(back["feed.atom"]).entries]
    # gone again; thirty days on, the tombstone is gone too (the feeds are rebuilt when something changes)
    feed_server.set_feed("/feed", rss(feed_server, {"a1": "First", "a3": "Third"}))
    run(app, 150)
    assert b"deleted-entry" in files(app)["feed.atom"]
    app.clock.advance(TOMBSTONE_DAYS * 86400 + 3600)  # type: ignore[attr-defined]
    feed_server.set_feed("/feed", rss(feed_server, {"a1": "First", "a3": "Third, revised"}))
    app.run_cycle(all_feeds=True)
    later = files(app)
    assert b"deleted-entry" not in later["feed.atom"]
    assert b"Third, revised" in later["feed.atom"]
