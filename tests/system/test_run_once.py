"""`syndicate run --once` end to end against a loopback copy of an ACR-like feed."""

from __future__ import annotations

from pathlib import Path

import feedparser

from syndicate.store import Store
from tests.fakes import mastodon, write_feeds_yaml
from tests.helpers import run_cli


def write_config(tmp_path: Path, url: str, backfill: int = 0) -> Path:
    return write_feeds_yaml(tmp_path, {"acr": {"url": url, "backfill": backfill}},
                            targets={"mastodon": mastodon("https://mastodon.invalid", token_env="TEST_NO_SUCH_TOKEN")},
                            output={"title": "ACR mirror feed", "link": "https://anticapitalistresistance.org/"})


def test_run_once_records_writes_feed_and_second_run_costs_a_304(tmp_path, feed_server, acr_rss):
    feed_server.set_feed("/feed/", acr_rss)
    config = write_config(tmp_path, feed_server.url("/feed/"))

    first = run_cli("run", "--once", config_path=config)
    assert first.returncode == 0, first.stderr
    assert "target mastodon: skipped, no access token: set TEST_NO_SUCH_TOKEN" in first.stderr

    store = Store(tmp_path / "state.db")
    expected = len(feedparser.parse(acr_rss).entries)
    assert store.count_articles() == expected
    assert store.outbox_depth() == {}  # first sight with backfill 0: nothing queued
    store.close()

    rss = feedparser.parse((tmp_path / "public" / "feed.xml").read_bytes())
    assert rss.bozo == 0 and len(rss.entries) == expected
    assert all("First published on" in e.content[0].value for e in rss.entries)
    atom = feedparser.parse((tmp_path / "public" / "feed.atom").read_bytes())
    assert atom.bozo == 0 and len(atom.entries) == expected

    feed_server.clear_requests()
    second = run_cli("run", "--once", config_path=config)
    assert second.returncode == 0, second.stderr
    [request] = feed_server.requests_for("/feed/")
    assert request.headers.get("if-none-match")  # conditional: answered 304
    store = Store(tmp_path / "state.db")
    assert store.count_articles() == expected
    assert store.feed_state("acr").error_count == 0
    store.close()


def test_status_and_check_config_after_a_run(tmp_path, feed_server, acr_rss):
    feed_server.set_feed("/feed/", acr_rss)
    config = write_config(tmp_path, feed_server.url("/feed/"))
    assert run_cli("run", "--once", config_path=config).returncode == 0
    status = run_cli("status", config_path=config)
    assert status.returncode == 0, status.stderr
    assert "feed acr: last read" in status.stdout
    assert "Stalinist Realism and Open Communism" in status.stdout
    check = run_cli("check-config", config_path=config)
    assert check.returncode == 0
    assert "target mastodon: no credentials: set TEST_NO_SUCH_TOKEN" in check.stdout


def test_a_broken_feed_does_not_stop_the_others(tmp_path, feed_server, acr_rss):
    feed_server.set_feed("/feed/", acr_rss)
    feed_server.set_feed("/broken/", b"<html><body>Not a feed</body></html>", content_type="text/html")
    path = write_feeds_yaml(tmp_path, {"broken": feed_server.url("/broken/"), "gone": feed_server.url("/missing/"),
                                       "acr": feed_server.url("/feed/")}, output=True)
    result = run_cli("run", "--once", config_path=path)
    assert result.returncode == 1  # some feed failed
    lines = result.stderr.splitlines()
    assert any("feed failed" in line and "feed=broken" in line for line in lines), result.stderr
    assert any("feed failed" in line and "feed=gone" in line and "404" in line for line in lines)
    store = Store(tmp_path / "state.db")
    assert store.count_articles() == len(feedparser.parse(acr_rss).entries)
    assert store.feed_state("gone").error_count == 1
    store.close()


def test_bad_config_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - name: acr\n    url: https://x.example/feed\n    colour: red\n")
    result = run_cli("run", "--once", config_path=path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"syndicate: {path}:4: feeds[0].colour: unknown key (check the spelling; see feeds.yaml in the README)"
