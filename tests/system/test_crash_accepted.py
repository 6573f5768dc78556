"""The crash test, aimed: SIGKILL the real daemon between the server's acceptance and its record.

``test_crash.py`` kills the daemon at random moments; this one kills it at the worst one, every
time.  The loopback Mastodon server (in this process) holds the answer to the next status post
(``Fault(accept_then_hang)``: the status is created, the answer waits), and the daemon is
SIGKILLed while it waits for it.  Before the next start, the server forgets every
Idempotency-Key (as Mastodon does after an hour) and the account posts 50 unrelated statuses,
so the killed row's status is neither protected by its key nor among the 40 newest.  Every
life after a kill must find that status (a lookup that pages back to the row's first attempt)
and post the next article once; at the end each article is on the server exactly once, and
each row records the status that carries it.

Kill moments follow the server's state (a request is held), not the clock, so the run is the
same every time.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from tests.fakes import mastodon, write_feeds_yaml
from tests.helpers import wait_until
from tests.servers.mastodon import Fault, MastodonServer

pytestmark = [pytest.mark.slow]

ARTICLES = 12
KILLS = 8
UNRELATED = 50  # statuses the account posts between a kill and the next start
TOKEN = "aimed-crash-token-71c2"
STATUSES = "/api/v1/statuses"
DRAIN_TIMEOUT = 60.0


def outbox(state: Path) -> dict[str, str | None]:
    """link → remote_url of every outbox row (None while unsent)."""
    db = sqlite3.connect(state, timeout=30)
    try:
        return dict(db.execute("SELECT a.link, o.remote_url FROM outbox o JOIN articles a ON a.id = o.article_id")
                    .fetchall())
    except sqlite3.OperationalError:  # no schema yet
        return {}
    finally:
        db.close()


def test_sigkill_after_acceptance_with_expired_keys_and_a_busy_account_posts_each_once(
        tmp_path, feed_server, spawn_daemon, make_articles, rss_of):
    articles = make_articles(ARTICLES, base=feed_server.url("/2025"))
    links = [a["link"] for a in articles]
    feed_server.set_feed("/feed", rss_of(articles))
    state = tmp_path / "state.db"

    with MastodonServer(token=TOKEN, budget=1_000_000) as masto:
        config = write_feeds_yaml(
            tmp_path, {"review": {"url": feed_server.url("/feed"), "backfill": ARTICLES, "language": "en"}},
            state=state, poll_interval="2s", targets={"mastodon": mastodon(masto.url, timeout=10)}, output=True,
            delivery={"attempts": 2, "backoff": 0.05, "max_backoff": 0.2, "requeue": 0.2, "max_requeue": 1,
                      "max_rate_wait": 10, "lease": 30})
        env = {"SYNDICATE_MASTODON_TOKEN": TOKEN}
        logs = []
        for life in range(KILLS):
            masto.queue_faults(Fault(accept_then_hang=True, hang_for=60, method="POST", path=STATUSES))
            daemon = spawn_daemon(config, env=env)
            held = masto.wait_until_held(1, timeout=30)
            created = len(masto.statuses)
            daemon.kill()  # the status exists; the daemon never heard of it
            logs.append(daemon.output)
            assert held, f"life {life}: no status post was held\n{daemon.output[-3000:]}"
            masto.release_hangs()
            assert wait_until(lambda: masto.held == 0, timeout=10)
            assert len(masto.statuses) == created
            masto.forget_idempotency_keys()  # an hour has passed, as far as the server knows
            masto.post_as_account(*[f"Life {life}: an unrelated note, number {i}" for i in range(UNRELATED)])

        final = spawn_daemon(config, env=env)
        assert wait_until(lambda: (rows := outbox(state)) and len(rows) == ARTICLES and all(rows.values()),
                          timeout=DRAIN_TIMEOUT), f"not drained: {outbox(state)}\n{final.output[-5000:]}"
        final.kill()
        logs.append(final.output)
        statuses = masto.statuses
        assert not masto.errors, masto.errors[0]

    everything = "\n".join(logs)
    ours = [s for s in statuses if s["idempotency_key"]]
    on_mastodon = Counter(link for s in ours for link in links if link in s["text"])
    assert [link for link in links if on_mastodon[link] != 1] == [], f"not exactly once: {on_mastodon}"
    assert len(ours) == ARTICLES and len(statuses) == ARTICLES + KILLS * UNRELATED
    rows = outbox(state)
    by_link = {link: s["url"] for s in ours for link in links if link in s["text"]}
    assert rows == by_link  # every row records the status that carries its article
    # every kill left a status unrecorded, and the next life found it by paging back
    assert everything.count("delivery found already posted") == KILLS, everything[-5000:]
    assert "Traceback" not in everything and "delivery crashed" not in everything
    pages = [r for r in masto.requests if r.method == "GET" and r.path.endswith("/statuses") and r.query.get("max_id")]
    assert pages, "the lookups paged past the newest 40"

