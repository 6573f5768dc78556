"""Issue 4 end to end: `syndicate run --once` posts each new article once to each target.

Mastodon is the loopback API server; Bluesky is the real reference PDS.
"""

from __future__ import annotations

import json
import re
import secrets

import pytest

from tests.fakes import bluesky, mastodon, write_feeds_yaml
from tests.helpers import record_links, rss, run_cli
from tests.servers.mastodon import MastodonServer

pytestmark = pytest.mark.pds

TOKEN = "both-targets-token-0123456789"


def test_run_once_posts_to_both_and_status_shows_bsky_urls(tmp_path, feed_server, pds):
    password = secrets.token_urlsafe(12)
    did, handle = pds.create_account(f"acr{secrets.token_hex(3)}.test", password)
    with MastodonServer(token=TOKEN) as masto:
        feed_server.set_feed("/feed/", rss(range(1, 3)))
        path = write_feeds_yaml(tmp_path, {"acr": {"url": feed_server.url("/feed/"), "language": "en"}},
                                targets={"mastodon": mastodon(masto.url), "bluesky": bluesky(pds.url, handle)},
                                output=True)
        env = {"SYNDICATE_MASTODON_TOKEN": TOKEN, "SYNDICATE_BLUESKY_APP_PASSWORD": password}
        first = run_cli("run", "--once", config_path=path, env=env)
        assert first.returncode == 0, first.stderr

        feed_server.set_feed("/feed/", rss(range(1, 7)))  # four new articles
        second = run_cli("run", "--once", config_path=path, env=env)
        assert second.returncode == 0, second.stderr
        third = run_cli("run", "--once", config_path=path, env=env)
        assert third.returncode == 0, third.stderr

        links = [f"https://anticapitalistresistance.org/a{n}/" for n in range(3, 7)]
        records = pds.list_records(did)
        for link in links:
            assert sum(link in s["text"] for s in masto.statuses) == 1
            assert sum(link in record_links(r["value"]) for r in records) == 1
        assert len(masto.statuses) == 4 and len(records) == 4
        for record in records:
            value = record["value"]
            assert value["langs"] == ["en"]
            [link_facet] = [f for f in value["facets"]
                            if f["features"][0]["$type"] == "app.bsky.richtext.facet#link"]
            start, end = link_facet["index"]["byteStart"], link_facet["index"]["byteEnd"]
            shown = value["text"].encode()[start:end].decode()  # the app's short form of the link
            uri = link_facet["features"][0]["uri"]
            assert uri.split("://", 1)[1].startswith(shown.removesuffix("…")), (shown, uri)
            assert value["embed"]["external"]["uri"] == link_facet["features"][0]["uri"]

        data = json.loads(run_cli("status", "--json", config_path=path, env=env).stdout)
        bsky = [d for a in data["articles"] for d in a["deliveries"] if d["target"] == "bluesky"]
        assert len(bsky) == 4
        for d in bsky:
            assert d["state"] == "sent"
            assert re.fullmatch(rf"https://bsky\.app/profile/{re.escape(did)}/post/[a-z2-7]{{13}}", d["url"])
        rkeys = {r["uri"].rsplit("/", 1)[1] for r in records}
        assert {d["url"].rsplit("/", 1)[1] for d in bsky} == rkeys
        table = run_cli("status", config_path=path, env=env).stdout
        assert all(d["url"] in table for d in bsky)
        for out in (first, second, third):
            assert password not in out.stderr and TOKEN not in out.stderr
