"""The crash test for edits and deletes: SIGKILL the real daemon while an edit or a delete is at
the server, between its acceptance and its record.

The loopback Mastodon server (in this process) holds the answer to the next ``PUT`` (an
edit) or ``DELETE`` of a status (``Fault(accept_then_hang)``: the server has done it, the
answer waits), and the daemon is SIGKILLed while it waits.  Each next life reclaims the
killed row and must find the work done (the status already says the new text; the status is
gone) instead of doing it again.  Between lives the account posts unrelated statuses, which
nothing may touch.  At the end: every status edited exactly once (0 doubled), the asked
statuses deleted once each, and nothing else edited or deleted (0 wrong posts touched).

Kill moments follow the server's state (a request is held), not the clock.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.fakes import bluesky, mastodon, write_feeds_yaml
from tests.helpers import record_links, run_cli, wait_until
from tests.servers import fault_proxy
from tests.servers.fault_proxy import FaultProxy
from tests.servers.mastodon import Fault, MastodonServer

pytestmark = [pytest.mark.slow]

ARTICLES = 6
EDIT_KILLS = 3
DELETED = 3  # the first articles' posts are deleted
DELETE_KILLS = 2
TOKEN = "edit-crash-token-5d1e"
STATUS = r"/api/v1/statuses/\d+"
DRAIN_TIMEOUT = 60.0


def rows(state: Path, op: str) -> list[tuple[str, str, str | None]]:
    """(link, state, remote_url) of every outbox row of ``op``."""
    db = sqlite3.connect(state, timeout=30)
    try:
        return db.execute("SELECT a.link, o.state, o.remote_url FROM outbox o JOIN articles a "
                          "ON a.id = o.article_id WHERE o.op = ? ORDER BY o.id", (op,)).fetchall()
    except sqlite3.OperationalError:  # no schema yet
        return []
    finally:
        db.close()


def kill_while_held(masto, spawn_daemon, config, env, method: str, lives: int, logs: list[str]) -> None:
    for life in range(lives):
        masto.queue_faults(Fault(accept_then_hang=True, hang_for=60, method=method, path=STATUS))
        daemon = spawn_daemon(config, env=env)
        held = masto.wait_until_held(1, timeout=30)
        daemon.kill()  # the server has done it; the daemon never heard
        logs.append(daemon.output)
        assert held, f"{method} life {life}: nothing was held\n{daemon.output[-3000:]}"
        masto.release_hangs()
        assert wait_until(lambda: masto.held == 0, timeout=10)
        masto.post_as_account(*[f"{method} life {life}: an unrelated note {i}" for i in range(5)])


def drain(spawn_daemon, config, env, done, logs: list[str]) -> None:
    final = spawn_daemon(config, env=env)
    ok = wait_until(done, timeout=DRAIN_TIMEOUT)
    final.kill()
    logs.append(final.output)
    assert ok, final.output[-5000:]


def test_sigkill_during_edits_and_deletes_applies_each_once_to_its_own_post(
        tmp_path, feed_server, spawn_daemon, make_articles, rss_of):
    articles = make_articles(ARTICLES, base=feed_server.url("/2025"))
    links = [a["link"] for a in articles]
    feed_server.set_feed("/feed", rss_of(articles))
    state = tmp_path / "state.db"
    logs: list[str] = []

    with MastodonServer(token=TOKEN, budget=1_000_000) as masto:
        config = write_feeds_yaml(
            tmp_path, {"review": {"url": feed_server.url("/feed"), "backfill": ARTICLES, "language": "en"}},
            state=state, poll_interval="2s", targets={"mastodon": mastodon(masto.url, timeout=10)},
            delivery={"attempts": 2, "backoff": 0.05, "max_backoff": 0.2, "requeue": 0.2, "max_requeue": 1,
                      "max_rate_wait": 10, "lease": 30})
        env = {"SYNDICATE_MASTODON_TOKEN": TOKEN}

        # 1. every article posted once
        drain(spawn_daemon, config, env,
              lambda: len(r := rows(state, "post")) == ARTICLES and all(s == "sent" for _, s, _ in r), logs)
        posted = {s["id"]: s for s in masto.statuses}
        ours = {link: next(sid for sid, s in posted.items() if link in s["text"]) for link in links}

        # 2. every title fixed; the daemon killed while three of the edits are at the server
        feed_server.set_feed("/feed", rss_of([dict(a, title=a["title"] + ", corrected") for a in articles]))
        kill_while_held(masto, spawn_daemon, config, env, "PUT", EDIT_KILLS, logs)
        drain(spawn_daemon, config, env,
              lambda: len(r := rows(state, "edit")) == ARTICLES and all(s == "sent" for _, s, _ in r), logs)

        # 3. the first articles' posts deleted by an editor; killed while two deletes are at the server
        for link in links[:DELETED]:
            done = run_cli("delete", link, "--yes", "--by", "chaos", config_path=config, env=env)
            assert done.returncode == 0, done.stderr
            assert "delete queued for mastodon (requested by chaos)" in done.stdout
        again = run_cli("delete", links[0], "--yes", "--by", "twice", config_path=config, env=env)
        assert "a delete was queued already" in again.stdout
        kill_while_held(masto, spawn_daemon, config, env, "DELETE", DELETE_KILLS, logs)
        drain(spawn_daemon, config, env,
              lambda: len(r := rows(state, "delete")) == DELETED and all(s == "sent" for _, s, _ in r), logs)
        statuses = {s["id"]: s for s in masto.statuses}
        deleted = list(masto.deleted)
        edit_puts = [r for r in masto.requests if r.method == "PUT"]
        assert not masto.errors, masto.errors[0]

    everything = "\n".join(logs)
    # 0 doubled: each of our statuses edited exactly once, though EDIT_KILLS edits were killed
    kept = [ours[link] for link in links[DELETED:]]
    assert [statuses[sid]["edits"] for sid in kept] == [1] * len(kept)
    assert all(", corrected" in statuses[sid]["text"] for sid in kept)
    assert len(edit_puts) == ARTICLES  # a reclaimed edit found its text there: never sent twice
    # 0 wrong posts touched: exactly the asked statuses deleted, once each; the rest as they were
    assert sorted(deleted) == sorted(ours[link] for link in links[:DELETED])
    unrelated = [s for s in statuses.values() if not s["idempotency_key"]]
    assert len(unrelated) == (EDIT_KILLS + DELETE_KILLS) * 5 and all(s["edits"] == 0 for s in unrelated)
    assert set(statuses) == set(kept) | {s["id"] for s in unrelated}
    # every kill left its row leased, and the next life found the work done instead of redoing it
    assert everything.count("edit: unchanged") == EDIT_KILLS, everything[-5000:]
    assert everything.count("delete: gone") == DELETE_KILLS, everything[-5000:]
    assert "Traceback" not in everything and "delivery crashed" not in everything
    assert "operation crashed" not in everything


CREATE = "com.atproto.repo.createRecord"


@pytest.mark.pds
def test_sigkill_between_a_bluesky_replacements_delete_and_create_leaves_one_post(
        tmp_path, feed_server, pds, spawn_daemon, make_articles, rss_of):
    """``edits: replace`` deletes the old record, then makes the new one: a daemon killed between
    the two leaves no post for a moment, never two, and its next life makes the replacement once."""
    import secrets
    import threading

    password = secrets.token_urlsafe(12)
    did, handle = pds.create_account(f"edit{secrets.token_hex(4)}.test", password)
    articles = make_articles(2, base=feed_server.url("/2025"))
    feed_server.set_feed("/feed", rss_of(articles))
    state = tmp_path / "state.db"
    logs: list[str] = []
    with FaultProxy(pds.url) as proxy:
        config = write_feeds_yaml(
            tmp_path, {"review": {"url": feed_server.url("/feed"), "backfill": 2, "language": "en"}},
            state=state, poll_interval="2s",
            targets={"bluesky": bluesky(proxy.url, handle, timeout=10, edits="replace", link_card=False)},
            delivery={"attempts": 2, "backoff": 0.05, "max_backoff": 0.2, "requeue": 0.2, "max_requeue": 1,
                      "max_rate_wait": 10, "lease": 30})
        env = {"SYNDICATE_BLUESKY_APP_PASSWORD": password}
        drain(spawn_daemon, config, env,
              lambda: len(r := rows(state, "post")) == 2 and all(s == "sent" for _, s, _ in r), logs)
        before = {r["uri"]: r for r in pds.list_records(did)}
        assert len(before) == 2

        # the replacement's create is held (then dropped, never forwarded): the old record is gone
        creating = threading.Event()
        proxy.add_faults(CREATE, fault_proxy.Fault(drop=True, delay=20))
        proxy.on_request = lambda method, nsid: creating.set() if nsid == CREATE else None
        feed_server.set_feed("/feed", rss_of([dict(articles[0], title=articles[0]["title"] + ", corrected"),
                                              articles[1]]))
        daemon = spawn_daemon(config, env=env)
        assert creating.wait(30), daemon.output[-3000:]
        daemon.kill()
        logs.append(daemon.output)
        proxy.on_request = None
        assert len(pds.list_records(did)) == 1  # the crash window: the old one deleted, the new not made

        drain(spawn_daemon, config, env,
              lambda: len(r := rows(state, "edit")) == 1 and all(s == "sent" for _, s, _ in r), logs)
        after = pds.list_records(did)

    everything = "\n".join(logs)
    assert len(after) == 2  # never two of one article, never none once done
    fixed = [r for r in after if ", corrected" in r["value"]["text"]]
    assert len(fixed) == 1 and fixed[0]["uri"] not in before
    untouched = [r for r in after if r["uri"] in before]
    assert len(untouched) == 1 and articles[1]["link"] in record_links(untouched[0]["value"])
    [(_, _, post_url)] = [r for r in rows(state, "post") if r[0] == articles[0]["link"]]
    assert post_url.endswith(fixed[0]["uri"].rsplit("/", 1)[-1])  # its row holds the replacement
    assert "Traceback" not in everything and "operation crashed" not in everything
