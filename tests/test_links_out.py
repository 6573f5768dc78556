"""Issue 12.3: only http(s) links leave, whatever a page or a feed claims.

A canonical link, ``og:url``, ``og:image`` or credit link that is not http(s)
(``javascript:``, ``data:``, ``vbscript:``, ``file:``) is refused where it enters
(``page``, ``parse``/``summary``), with the fetched URL (or nothing) in its place,
and ``feed_out`` refuses one again before it could reach a mirror feed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from syndicate.config import OutputConfig
from syndicate.feed_out import render_feeds
from syndicate.models import Article, Source
from syndicate.page import article_from_page, page_image
from syndicate.parse import normalise, parse_feed
from syndicate.store import Store
from tests.cli_runner import invoke
from tests.servers.mastodon import MastodonServer

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
BAD = ["javascript:alert(document.domain)", "JavaScript:alert(1)", " java\tscript:alert(1)",
       "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "file:///etc/passwd",
       "http://", "https:///nohost"]
TOKEN = "links-token-0123456789"


def hostile_page(canonical: str, og_url: str, og_image: str) -> bytes:
    return f"""<!doctype html><html lang="en"><head>
<title>Hostile page</title>
<meta property="og:title" content="A page with hostile links">
<meta property="og:url" content="{og_url}">
<meta property="og:image" content="{og_image}">
<meta property="article:published_time" content="2024-05-04T09:00:00Z">
<link rel="canonical" href="{canonical}">
</head><body><article><p><strong>The lead of a page whose links are hostile.</strong></p>
<p>Body text.</p></article></body></html>""".encode()


@pytest.mark.parametrize("bad", BAD)
def test_web_url_refuses_all_but_http_and_https_with_a_host(bad):
    from syndicate.summary import web_url

    assert web_url(bad, "https://example.org/a/") is None
    assert web_url(bad) is None


def test_web_url_resolves_and_keeps_http_links():
    from syndicate.summary import web_url

    assert web_url("/img.png", "https://example.org/a/") == "https://example.org/img.png"
    assert web_url("HTTPS://Example.org/x") == "HTTPS://Example.org/x"
    assert web_url("img.png") is None  # relative, with nothing to resolve it against


@pytest.mark.parametrize("bad", BAD)
def test_a_page_with_hostile_links_keeps_the_fetched_url(bad):
    url = "https://example.org/old-piece/"
    article = article_from_page(url, hostile_page(bad, bad, bad), feed="manual", now=NOW)
    assert (article.link, article.id, article.image) == (url, url, None)
    assert page_image(hostile_page(bad, bad, bad), url) is None


def test_a_page_whose_canonical_link_is_hostile_falls_back_to_its_og_url():
    page = hostile_page("javascript:alert(1)", "https://example.org/real/", "/img/real.jpg")
    article = article_from_page("https://example.org/fetched/", page, feed="manual", now=NOW)
    assert article.link == "https://example.org/real/"
    assert article.image == "https://example.org/img/real.jpg"


def test_a_feed_carries_no_hostile_link_into_an_article():
    rss = b"""<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"
xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>T</title><link>javascript:alert(1)</link>
<item><title>Hostile links</title><link>https://example.org/a/</link>
<dc:source>javascript:alert(2)</dc:source>
<media:content url="javascript:alert(3)" medium="image"/>
<description><![CDATA[<p><img src="javascript:alert(4)"><img src="data:image/png;base64,AAAA"></p>
<p>First published in <a href="javascript:alert(5)">Red Pepper</a> on 3 March 2023.</p>]]></description>
</item></channel></rss>"""
    parsed = parse_feed("t", rss, base_url="https://example.org/feed")
    article = normalise("t", parsed.entries[0], parsed, now=NOW)
    assert article.image is None
    assert article.source is not None and article.source.url is None and article.source.name == "Red Pepper"
    assert "javascript:" not in article.content_html and "data:" not in article.content_html


def test_the_mirror_feeds_refuse_a_hostile_link_that_got_this_far():
    """The last line of defence: an article stored before this fix, or by another path."""
    hostile = Article(feed="acr", id="javascript:alert(1)", link="javascript:alert(2)",
                      title="Stored long ago", published=NOW, standfirst="A lead.",
                      image="data:image/svg+xml,<svg onload=alert(3)>",
                      source=Source(name="Elsewhere", url="javascript:alert(4)", published=NOW))
    files = render_feeds([hostile], OutputConfig(), now=NOW, site_names={"acr": "ACR"})
    for name, body in files.items():
        text = body.decode()
        for scheme in ("javascript:", "data:"):
            assert scheme not in text.lower(), (name, scheme)
    item = json.loads(files["feed.json"])["items"][0]
    assert "url" not in item and "image" not in item
    assert item["id"].startswith("urn:uuid:")
    assert "First published on 1 March 2025 by Elsewhere" in item["content_html"]


def test_a_page_with_a_javascript_canonical_link_leaves_none_in_any_output(tmp_path, feed_server, acr_rss):
    """The editor's `repost URL` of a hostile page: the post, the store and every mirror feed
    carry the fetched URL, and no `javascript:` anywhere."""
    feed_server.set_feed("/feed/", acr_rss)
    page = hostile_page("javascript:alert(document.cookie)", "javascript:alert(1)", "javascript:alert(2)")
    feed_server.set_feed("/old-piece/", page, content_type="text/html; charset=utf-8")
    url = feed_server.url("/old-piece/")
    with MastodonServer(token=TOKEN) as server:
        path = tmp_path / "feeds.yaml"
        path.write_text(f"""
state: {tmp_path / 'state.db'}
feeds:
  - {{name: acr, url: "{feed_server.url('/feed/')}"}}
targets:
  mastodon: {{kind: mastodon, instance: "{server.url}"}}
output:
  dir: {tmp_path / 'public'}
security: {{allow_private_addresses: true, allowed_ports: any}}  # the page is on loopback
""")

        def run(*args: str):
            result = invoke(["--config", str(path), *args], env={"SYNDICATE_MASTODON_TOKEN": TOKEN})
            assert result.exit_code == 0, result.output
            return result

        run("run", "--once")
        run("repost", url, "--target", "mastodon")
        run("run", "--once")
        run("feed")
        [status] = server.statuses
    assert url in status["text"] and "javascript" not in status["text"].lower()
    store = Store(tmp_path / "state.db")
    stored = store.article(store.find_article_id(url))
    store.close()
    assert (stored.link, stored.image) == (url, None)
    for name in ("feed.xml", "feed.atom", "feed.json"):
        text = (tmp_path / "public" / name).read_text()
        assert url in text, name
        assert "javascript" not in text.lower(), name


def test_no_post_is_composed_around_a_hostile_link():
    from syndicate.config import BlueskyTarget
    from syndicate.targets import draft_post

    bsky = BlueskyTarget(kind="bluesky", handle="acr.test")
    stored = Article(feed="acr", id="g1", link="javascript:alert(1)", title="Stored long ago", published=NOW)
    with pytest.raises(ValueError, match=r"article g1: its link 'javascript:alert\(1\)' is not an http"):
        draft_post(stored, "bsky", bsky)
    imaged = Article(feed="acr", id="g2", link="https://example.org/a/", title="An image",
                     published=NOW, image="javascript:alert(2)")
    draft = draft_post(imaged, "bsky", bsky)
    assert draft.card is not None and draft.card.thumb_url is None
