"""Moving a SQLite state to PostgreSQL (``syndicate copy-state``) loses nothing and doubles nothing.

A SQLite state made by the real App against the loopback Mastodon server holds a posted row, a
failed one, a row a killed daemon was sending (its post landed, the answer never came back) and
two pending rows.  ``copy-state`` (the real command) copies it into an empty PostgreSQL database;
then two workers (``syndicate run --once``, at once) on PostgreSQL post exactly the pending ones,
once each, find the landed one instead of posting it again, and leave the failed one alone.  The
feed's caching state came along: the workers' fetch is conditional.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syndicate.app import App
from syndicate.config import parse_config
from syndicate.lock import StateLock
from syndicate.retry import RetryPolicy
from syndicate.store import Store
from syndicate.store.copy import TABLES
from tests.helpers import rss
from tests.servers.mastodon import Fault, MastodonServer

TOKEN = "copy-state-token-0123456789"
CONFIG = """\
state: {state}
feeds:
  - name: acr
    url: {url}
    hashtags: {{enabled: false}}
targets:
  mastodon:
    kind: mastodon
    instance: {instance}
    timeout: 5
output:
  enabled: false
"""


def cli(*args: str, config: Path | None = None, env: dict[str, str] | None = None) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    full.update(env or {})
    cmd = [sys.executable, "-m", "syndicate", *(["--config", str(config)] if config else []), *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full)


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


@pytest.fixture
def mastodon():
    with MastodonServer(token=TOKEN, budget=100_000) as server:
        yield server
    assert not server.errors, server.errors[0]


def sqlite_state(tmp_path: Path, feed_server, mastodon) -> tuple[Path, dict[str, str]]:
    """The SQLite state: every article seen, and a repost of each queued and worked as described
    in the module docstring.  Returns the path and {article link: what became of its row}."""
    feed_server.set_feed("/feed/", rss(range(1, 6)))
    path = tmp_path / "state.db"
    cfg = parse_config(CONFIG.format(state=path, url=feed_server.url("/feed/"), instance=mastodon.url),
                       "feeds.yaml", environ={})
    app = App(cfg, environ={"SYNDICATE_MASTODON_TOKEN": TOKEN}, policy=RetryPolicy(attempts=1, jitter=0))
    try:
        app.run_cycle(all_feeds=True)  # the feed's first read: recorded as seen, nothing posted
        store = app.store
        ids = sorted(a.id for a in store.recent(10))
        assert len(ids) == 5 and store.outbox_depth() == {}
        for article_id in ids:
            assert store.queue_repost(article_id, ["mastodon"], requested_by="editor") == ["mastodon"]
        links = {article_id: store.article(article_id).link for article_id in ids}
        fate: dict[str, str] = {}

        def claim(owner: str = app.deliverer.owner):
            [item] = store.claim_due(owner, now=time.time(), lease_seconds=3600)
            return item

        assert app.deliverer.deliver_one(claim()).outcome == "sent"
        fate[links[ids[0]]] = "posted"
        mastodon.queue_faults(Fault(status=422, body={"error": "Validation failed: no"}, method="POST",
                                    path="/api/v1/statuses"))
        assert app.deliverer.deliver_one(claim()).outcome == "failed"
        fate[links[ids[1]]] = "failed"
        # a daemon claimed the third, sent it (it landed: the server has it), and was killed
        dying = "old-host:4242:dead"
        item = claim(dying)
        text = app.draft_for(item.article, "mastodon", item.intro).text
        assert store.begin_attempt(item.id, dying, now=time.time(), lease_seconds=3600, text=text)
        mastodon.post_as_account(text)
        fate[links[ids[2]]] = "landed"
        fate[links[ids[3]]] = fate[links[ids[4]]] = "pending"
    finally:
        app.close()
    return path, fate


def test_copy_state_then_two_workers_post_exactly_the_pending_rows_once(tmp_path, feed_server, mastodon,
                                                                         postgres_url):
    path, fate = sqlite_state(tmp_path, feed_server, mastodon)
    posted_before = [s["text"] for s in mastodon.statuses]
    assert len(posted_before) == 2  # the posted row, and the one that landed unheard

    code, out, err = finish(cli("copy-state", str(path), postgres_url))
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [table for table, _ in TABLES]  # one a table
    assert "articles: 5 rows" in lines and "outbox: 5 rows" in lines and "feeds: 1 row" in lines
    assert "1 lease(s) of the stopped daemon ended" in lines[-1]

    config = tmp_path / "pg.yaml"
    config.write_text(CONFIG.format(state=postgres_url, url=feed_server.url("/feed/"), instance=mastodon.url))
    feed_server.clear_requests()
    env = {"SYNDICATE_MASTODON_TOKEN": TOKEN}
    workers = [cli("run", "--once", config=config, env=env) for _ in range(2)]
    results = [finish(w) for w in workers]
    assert [r[0] for r in results] == [0, 0], [r[2] for r in results]

    # the server: every article once, but the failed one
    texts = [s["text"] for s in mastodon.statuses]
    for link, what in fate.items():
        assert sum(link in t for t in texts) == (0 if what == "failed" else 1), (link, what, texts)
    assert texts[:2] == posted_before
    # the state on PostgreSQL agrees, and says how each got there
    store = Store(postgres_url)
    try:
        rows = {store.article(a.id).link: a.deliveries[-1] for a in store.recent(10)}
        for link, what in fate.items():
            row = rows[link]
            assert row.state == ("failed" if what == "failed" else "sent"), (link, row)
            kinds = [e.kind for e in row.history]
            if what == "landed":
                assert "lease expired" in kinds and kinds[-1] == "found"
            elif what == "pending":
                assert kinds[-1] == "sent"
        assert {w.host for w in store.workers()} == {os.uname().nodename}
        assert len(store.workers()) == 2 and all(w.stopped_at for w in store.workers())
    finally:
        store.close()
    # the feed's validators came along: the workers asked for it conditionally
    fetches = feed_server.requests_for("/feed/")
    assert fetches and all("if-none-match" in r.headers for r in fetches)


def test_copy_state_refuses_a_target_that_is_not_empty(tmp_path, postgres_url):
    source = tmp_path / "state.db"
    Store(source).close()
    target = Store(postgres_url)
    target.set_meta("k", "v")
    target.close()
    code, out, err = finish(cli("copy-state", str(source), postgres_url))
    assert code == 1 and out == ""
    assert "is not empty (meta: 1 rows): copy-state only fills an empty database" in err


def test_copy_state_refuses_a_state_its_daemon_still_runs_on(tmp_path, postgres_url):
    source = tmp_path / "state.db"
    Store(source).close()
    with StateLock(source):
        code, _, err = finish(cli("copy-state", str(source), postgres_url))
    assert code == 3 and "is in use by another syndicate" in err
    target = Store(postgres_url)  # nothing was written
    assert target.outbox_depth() == {} and target.count_articles() == 0
    target.close()


def test_migrate_says_the_version_and_what_it_did(postgres_url):
    code, out, err = finish(cli("migrate", postgres_url))
    assert code == 0, err
    from syndicate.store.schema import LATEST

    assert out.strip().endswith(f"schema {LATEST} (migrated from 0)")
    code, out, _ = finish(cli("migrate", postgres_url))
    assert out.strip().endswith(f"schema {LATEST} (up to date)")
