"""Issue 12.1 end to end: ``syndicate run --once`` on a hostile feed posts to both targets and
makes no request to the operator's internal server (``tests/test_ssrf.py`` has the fetcher's
and the address policy's own tests)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from tests.fakes import bluesky, mastodon, write_feeds_yaml
from tests.helpers import run_cli
from tests.servers.feeds import internal_service
from tests.servers.mastodon import MastodonServer


@pytest.fixture
def internal():
    """The "internal" service a feed would like us to reach."""
    with internal_service() as srv:
        yield srv


def _hostile_feed(image: str, link_with_image: str, link_without: str) -> bytes:
    when = format_datetime(datetime(2025, 3, 1, 8, 0, tzinfo=UTC))
    item = """<item><title>{title}</title><link>{link}</link><guid>{link}</guid><pubDate>{when}</pubDate>
{media}<description>A perfectly ordinary article.</description></item>"""
    items = [
        item.format(title="With an image", link=link_with_image, when=when,
                    media=f'<media:content url="{image}" medium="image"/>'),
        item.format(title="Without an image", link=link_without, when=when, media=""),
    ]
    return ('<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">'
            "<channel><title>Hostile</title><link>https://hostile.example/</link>"
            + "".join(items) + "</channel></rss>").encode()


@pytest.mark.pds
def test_a_hostile_feed_makes_no_request_to_the_internal_server(tmp_path, feed_server, internal, pds):
    """The feed (the operator's, on loopback) names an image that redirects to an internal
    address and article links on the internal server; the posts go out, nothing internal is hit."""
    internal.clear_requests()
    feed_server.set_redirect("/img.png", internal.url("/secret.png"), status=302)
    image = f"http://localhost:{feed_server.port}/img.png"
    feed_server.set_feed("/feed", _hostile_feed(image, internal.url("/admin/?do=delete"),
                                                internal.url("/admin/")))
    password = secrets.token_urlsafe(12)
    did, handle = pds.create_account(f"ssrf{secrets.token_hex(3)}.test", password)
    token = "ssrf-token-0123456789"
    with MastodonServer(token=token) as masto:
        path = write_feeds_yaml(tmp_path, {"hostile": {"url": feed_server.url("/feed"), "backfill": 2}}, output=True,
                                targets={"mastodon": mastodon(masto.url, thumbnail=True),
                                         "bluesky": bluesky(pds.url, handle)})
        env = {"SYNDICATE_MASTODON_TOKEN": token, "SYNDICATE_BLUESKY_APP_PASSWORD": password}
        done = run_cli("run", "--once", config_path=path, env=env)
        statuses, media = masto.statuses, masto.media
    assert done.returncode == 0, done.stderr
    assert internal.requests == []  # not the image behind the redirect, not the admin pages
    assert [r.path for r in feed_server.requests] == ["/feed"]  # nor the first hop, on localhost
    assert len(statuses) == 2 and media == []  # the posts went out, without thumbnails
    records = pds.list_records(did)
    assert len(records) == 2
    assert all("thumb" not in r["value"]["embed"]["external"] for r in records)
    assert f"{image}: refused: localhost resolves to 127.0.0.1, a loopback address" in done.stderr
    assert f"page {internal.url('/admin/')}: refused: 127.0.0.1 is a loopback address" in done.stderr
