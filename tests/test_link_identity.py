"""Link identity and the suspected-feed-migration hold (issue 11, item 7).

The same article at ``http://`` and ``https://``, with and without ``www.``, with and
without a trailing slash is one article: a site that moves to https must not repost its
feed.  And one poll that would queue more than ``hold_suspected_migration`` entries, none
newer than the newest already known, is held (recorded, not queued, one warning naming the
feed) until an editor runs ``syndicate release FEED``.

End to end over loopback: the feed from ``tests/servers/feeds.py``, the posts to the loopback
Mastodon server through the real Mastodon.py, the daemon as ``python -m syndicate``.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.fakes import mastodon, write_feeds_yaml
from tests.helpers import rss, run_cli
from tests.servers.mastodon import MastodonServer

TOKEN = "identity-token-7f3a91"
SITE = b"https://anticapitalistresistance.org"


@pytest.mark.parametrize(("a", "b"), [
    ("http://example.org/a/", "https://example.org/a/"),
    ("https://www.example.org/a/", "https://example.org/a/"),
    ("https://example.org/a", "https://example.org/a/"),
    ("https://WWW.Example.ORG/a/?p=1", "http://example.org/a?p=1"),
    ("https://example.org", "http://www.example.org/"),
])
def test_one_article_whatever_its_scheme_www_or_trailing_slash(a, b):
    from syndicate.links import link_identity

    assert link_identity(a) == link_identity(b)


@pytest.mark.parametrize(("a", "b"), [
    ("https://example.org/a/", "https://example.org/b/"),
    ("https://example.org/A/", "https://example.org/a/"),  # paths are case-sensitive
    ("https://example.org/a/?p=1", "https://example.org/a/?p=2"),
    ("https://blog.example.org/a/", "https://example.org/a/"),
    ("https://example.org:8443/a/", "https://example.org/a/"),
])
def test_different_articles_stay_different(a, b):
    from syndicate.links import link_identity

    assert link_identity(a) != link_identity(b)


def write_config(tmp_path, feed_url, masto_url, hold=None):
    feed = {"url": feed_url, **({"hold_suspected_migration": hold} if hold is not None else {})}
    return write_feeds_yaml(tmp_path, {"acr": feed}, targets={"mastodon": mastodon(masto_url)})


def moved(feed: bytes, to: bytes) -> bytes:
    """The same feed after the site moved: every link and guid under ``to``, no trailing slash."""
    return feed.replace(SITE, to).replace(b"/</link>", b"</link>")


@pytest.fixture
def masto():
    with MastodonServer(token=TOKEN, budget=10_000) as server:
        yield server
    assert not server.errors, server.errors[0]


def test_a_site_moving_to_www_and_http_without_slashes_reposts_nothing(tmp_path, feed_server, masto):
    feed_server.set_feed("/feed/", rss(range(1, 6)))
    config = write_config(tmp_path, feed_server.url("/feed/"), masto.url)
    env = {"SYNDICATE_MASTODON_TOKEN": TOKEN}
    assert run_cli("run", "--once", config_path=config, env=env).returncode == 0  # seeded

    feed_server.set_feed("/feed/", moved(rss(range(1, 7)), b"http://www.anticapitalistresistance.org"))
    result = run_cli("run", "--once", config_path=config, env=env)
    assert result.returncode == 0, result.stderr
    assert [s["text"].count("anticapitalistresistance.org/a6") for s in masto.statuses] == [1]
    assert "suspected feed migration" not in result.stderr

    shown = run_cli("preview", "http://anticapitalistresistance.org/a2", config_path=config, env=env)
    assert shown.returncode == 0 and "article: Article 2" in shown.stdout, shown.stderr  # found by identity

    feed_server.set_feed("/feed/", rss(range(1, 8)))  # and back to https with slashes
    assert run_cli("run", "--once", config_path=config, env=env).returncode == 0
    assert len(masto.statuses) == 2 and "anticapitalistresistance.org/a7/" in masto.statuses[1]["text"]


def test_a_feed_that_moved_is_held_until_an_editor_releases_it(tmp_path, feed_server, masto):
    feed_server.set_feed("/feed/", rss(range(5, 9)))
    config = write_config(tmp_path, feed_server.url("/feed/"), masto.url, hold=3)
    env = {"SYNDICATE_MASTODON_TOKEN": TOKEN}
    assert run_cli("run", "--once", config_path=config, env=env).returncode == 0  # seeded with 5..8

    # A new domain and a longer feed: 8 "new" entries, none newer than the newest known (8).
    feed_server.set_feed("/feed/", moved(rss(range(1, 9)), b"https://acr.example"))
    held = run_cli("run", "--once", config_path=config, env=env)
    assert held.returncode == 0, held.stderr
    assert masto.statuses == []
    warnings = [line for line in held.stderr.splitlines() if "suspected feed migration" in line]
    assert len(warnings) == 1 and "feed=acr" in warnings[0] and "held=8" in warnings[0], held.stderr
    assert "syndicate release acr" in warnings[0]

    status = json.loads(run_cli("status", "--json", config_path=config, env=env).stdout)
    states = [d["state"] for a in status["articles"] for d in a["deliveries"]]
    assert states.count("held") == 8
    table = run_cli("status", config_path=config, env=env).stdout
    assert "held" in table and "syndicate release acr" in table

    assert run_cli("run", "--once", config_path=config, env=env).returncode == 0
    assert masto.statuses == []  # still held: nothing new was queued meanwhile

    released = run_cli("release", "acr", config_path=config, env=env)
    assert released.returncode == 0, released.stderr
    assert "released 8 held deliveries of feed acr" in released.stdout
    assert run_cli("run", "--once", config_path=config, env=env).returncode == 0
    texts = [s["text"] for s in masto.statuses]
    assert len(texts) == 8
    assert [int(re.search(r"acr\.example/a(\d+)", t).group(1)) for t in texts] == list(range(1, 9))


def test_a_burst_of_genuinely_new_entries_is_not_held(tmp_path, feed_server, masto):
    feed_server.set_feed("/feed/", rss(range(1, 3)))
    config = write_config(tmp_path, feed_server.url("/feed/"), masto.url, hold=3)
    env = {"SYNDICATE_MASTODON_TOKEN": TOKEN}
    assert run_cli("run", "--once", config_path=config, env=env).returncode == 0
    feed_server.set_feed("/feed/", rss(range(1, 9)))  # six new ones, all newer than the newest known
    result = run_cli("run", "--once", config_path=config, env=env)
    assert result.returncode == 0 and "suspected feed migration" not in result.stderr
    assert len(masto.statuses) == 6



def test_held_deliveries_can_be_discarded_and_the_articles_stay_seen(tmp_path):
    from datetime import UTC, datetime

    from syndicate.models import Article
    from syndicate.store import Store

    store = Store(tmp_path / "s.db")
    arts = [Article(feed="acr", id=f"g{n}", link=f"https://acr.example/a{n}/", title=f"T{n}",
                    published=datetime(2024, 1, n, tzinfo=UTC)) for n in range(1, 4)]
    counts = store.ingest("acr", new=arts, updated=[], queue={}, held={a.id: ["masto"] for a in arts},
                          held_reason="held: suspected feed migration")
    assert counts.held == 3 and store.held_feeds() == {"acr": 3}
    assert [d.state for d in store.deliveries(1)] == ["held"]
    assert store.release_held(article_id=1) == 1 and store.held_count("acr") == 2
    assert [d.state for d in store.deliveries(1)] == ["pending"]
    assert store.discard_held(feed="acr") == 2 and store.held_feeds() == {}
    assert store.deliveries(2) == [] and store.known("acr", [("g2", "http://acr.example/a2")])
    store.close()


def test_metrics_show_held_deliveries_and_paused_targets(tmp_path):
    from datetime import UTC, datetime

    from syndicate.metrics import Metrics
    from syndicate.models import Article
    from syndicate.store import Store

    store = Store(tmp_path / "s.db")
    art = Article(feed="acr", id="g1", link="https://acr.example/a1/", title="T1",
                  published=datetime(2024, 1, 1, tzinfo=UTC))
    store.ingest("acr", new=[art], updated=[], queue={}, held={"g1": ["masto", "bsky"]}, held_reason="held")
    store.note_targets(["masto", "bsky"])
    store.pause_target("bsky", "logging in: 401", "SYNDICATE_BLUESKY_APP_PASSWORD", 0.0)
    text = Metrics(store).render().decode()
    assert 'syndicate_held_deliveries{feed="acr"} 2.0' in text
    assert 'syndicate_target_paused{target="bsky"} 1.0' in text
    assert 'syndicate_target_paused{target="masto"} 0.0' in text
    store.close()
