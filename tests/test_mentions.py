"""Issue 12.5: "@user@instance" or "@handle" in a feed never becomes a real mention.

A mention notifies a stranger, and with ``visibility: direct`` addresses the post to
them.  Mastodon makes one of whatever ``Account::MENTION_RE`` finds in the text (the
loopback server applies it faithfully and reports ``mentions``); Bluesky only of a
mention facet.  Text from a feed (title, standfirst, author, source) is defused; an
editor's intro line is the editor's own words and keeps its mentions.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndicate.config import BlueskyTarget, MastodonTarget
from syndicate.models import Article, Source
from syndicate.targets import draft_post
from syndicate.targets.bluesky_post import LIMITS as BLUESKY_LIMITS
from syndicate.targets.mastodon_post import LIMITS as MASTODON_LIMITS
from tests.helpers import run_cli
from tests.servers.mastodon import ACCOUNT_MENTION_RE, MastodonServer, mentions_in

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
TOKEN = "mentions-token-0123456789"
TITLE = "Interview with @someone@example.social about the strike"
CONFIGS = {"mastodon": MastodonTarget(kind="mastodon", instance="https://masto.example"),
           "bluesky": BlueskyTarget(kind="bluesky", handle="acr.test")}


def compose(article, *, target, platform, limits, **kw):
    """What ``article`` is drafted as on a target of ``platform`` within ``limits``."""
    return draft_post(article, target, CONFIGS[platform], limits=limits, **kw)


def article(**kw) -> Article:
    base = dict(feed="f", id="i", link="https://example.org/a/", title=TITLE, published=NOW,
                author="@writer@example.social", standfirst="Ask @alice.bsky.social or @bob, (@carol@x.org).",
                source=Source(name="@paper@news.example", published=NOW))
    base.update(kw)
    return Article(**base)


@pytest.mark.parametrize("platform, limits", [("mastodon", MASTODON_LIMITS), ("bluesky", BLUESKY_LIMITS)])
def test_feed_text_makes_no_mention_but_reads_the_same(platform, limits):
    draft = compose(article(), target="t", platform=platform, limits=limits,
                    template="{title}{by_author}\n{standfirst}\n{first_published}\n{link}")
    assert mentions_in(draft.text) == []
    visible = draft.text.replace("\u2060", "")
    for text in ("Interview with @someone@example.social", "by @writer@example.social",
                 "Ask @alice.bsky.social or @bob, (@carol@x.org).", "in @paper@news.example"):
        assert text in visible
    assert all(f.kind in ("link", "tag") for f in draft.facets)
    assert any("mentions:" in note for note in draft.notes)


def test_an_editors_intro_keeps_its_mention_and_other_text_is_untouched():
    draft = compose(article(standfirst="Write to me@example.org; see https://example.net/@dave."),
                    target="t", platform="mastodon", limits=MASTODON_LIMITS,
                    intro="Thanks to @friend@example.social:")
    assert mentions_in(draft.text) == [("friend", "example.social")]
    assert "me@example.org" in draft.text and "https://example.net/@dave" in draft.text  # no "@" to defuse


@given(title=st.text(st.sampled_from("@ab_.-=/x1\u00e9\u212a "), max_size=40),
       author=st.text(st.sampled_from("@ab.x "), max_size=12))
@settings(max_examples=300, deadline=None)
def test_no_feed_text_is_ever_a_mention(title, author):
    if not title.strip():
        title = "t"
    for platform, limits in (("mastodon", MASTODON_LIMITS), ("bluesky", BLUESKY_LIMITS)):
        draft = compose(article(title=title, author=author or None, standfirst=title), target="t",
                        platform=platform, limits=limits)  # type: ignore[arg-type]
        assert not ACCOUNT_MENTION_RE.search(draft.text), draft.text
        assert draft.length <= limits.max_length


# --- end to end: the daemon, Mastodon (direct visibility) and the PDS ----------------------------


def _feed() -> bytes:
    when = format_datetime(NOW)
    return (f'<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<channel><title>Mentions</title><link>https://mentions.example/</link>"
            f"<item><title>{TITLE}</title><link>https://mentions.example/a/</link>"
            f"<guid>https://mentions.example/a/</guid><pubDate>{when}</pubDate>"
            f"<dc:creator>@writer@example.social</dc:creator>"
            f"<description>Ask @alice.bsky.social what happened.</description></item>"
            f"</channel></rss>").encode()


@pytest.mark.pds
def test_a_feed_title_with_a_handle_posts_no_mention(tmp_path, feed_server, pds):
    feed_server.set_feed("/feed", _feed())
    password = secrets.token_urlsafe(12)
    did, handle = pds.create_account(f"men{secrets.token_hex(3)}.test", password)
    with MastodonServer(token=TOKEN) as masto:
        path = tmp_path / "feeds.yaml"
        path.write_text(f"""
state: {tmp_path / 'state.db'}
feeds:
  - {{name: mentions, url: "{feed_server.url('/feed')}", backfill: 1, settle: 0}}
targets:
  mastodon: {{kind: mastodon, instance: "{masto.url}", visibility: direct}}
  bluesky: {{kind: bluesky, service: "{pds.url}", handle: {handle}}}
output: {{enabled: false}}
""")
        env = {"SYNDICATE_MASTODON_TOKEN": TOKEN, "SYNDICATE_BLUESKY_APP_PASSWORD": password}
        done = run_cli("run", "--once", config_path=path, env=env)
        assert done.returncode == 0, done.stderr
        [status] = masto.statuses
        assert status["visibility"] == "direct" and status["mentions"] == []  # addressed to nobody
        assert "Interview with @someone@example.social" in status["text"].replace("\u2060", "")

        again = run_cli("repost", "https://mentions.example/a/", "--target", "mastodon", "--force",
                        "--text", "Thanks @friend@example.social:", config_path=path, env=env)
        assert again.returncode == 0, again.stderr
        assert run_cli("run", "--once", config_path=path, env=env).returncode == 0
        assert [s["mentions"] for s in masto.statuses] == [[], ["friend@example.social"]]

    [record] = pds.list_records(did)
    value = record["value"]
    assert "Interview with @someone@example.social" in value["text"].replace("\u2060", "")
    assert not ACCOUNT_MENTION_RE.search(value["text"])
    features = [feature["$type"] for facet in value.get("facets", []) for feature in facet["features"]]
    assert "app.bsky.richtext.facet#mention" not in features and features
