"""A PostgreSQL state: chosen by URL, its password kept secret, several workers sharing it.

``run`` on PostgreSQL takes no flock and ends no lease at start (another live worker may hold
it): a dead worker's rows come back when their leases run out.  It records itself in
``workers``.  SQLite commands never load psycopg.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syndicate.config import parse_config
from syndicate.errors import ConfigError, StoreError
from syndicate.models import Article
from syndicate.store import Store
from syndicate.store.location import is_database_url, password_from_environment, redacted
from tests.helpers import rss, wait_until
from tests.servers.mastodon import MastodonServer

BASE = """\
feeds:
  - name: acr
    url: https://example.org/feed/
"""


def test_a_url_selects_postgresql_and_a_path_sqlite():
    assert is_database_url("postgresql://u@db/x") and is_database_url("postgres://db/x")
    assert not is_database_url("state/syndicate.db") and not is_database_url(Path("postgresql://x"))
    cfg = parse_config(BASE, "f.yaml", environ={"SYNDICATE_STATE": "postgresql://syndicate@db:5432/synd"})
    assert cfg.state == "postgresql://syndicate@db:5432/synd"
    assert parse_config("state: s/x.db\n" + BASE, "f.yaml", environ={}).state == Path("s/x.db")


def test_the_password_is_never_shown(tmp_path):
    url = "postgresql://syndicate:hunter2-secret@db.example:5433/synd?sslmode=require"
    assert redacted(url) == "postgresql://syndicate@db.example:5433/synd?sslmode=require"
    assert redacted("postgresql://[::1]/x") == "postgresql://[::1]/x"
    secret_file = tmp_path / "dsn"
    secret_file.write_text(url + "\n")
    cfg = parse_config(BASE, "f.yaml", environ={"SYNDICATE_STATE_FILE": str(secret_file)})
    assert cfg.state == url
    assert "hunter2" not in cfg.dump() and "postgresql://syndicate@db.example:5433/synd" in cfg.dump()
    with pytest.raises(ConfigError, match=r"f.yaml: state: cannot read SYNDICATE_STATE_FILE .*/nope"):
        parse_config(BASE, "f.yaml", environ={"SYNDICATE_STATE_FILE": str(tmp_path / "nope")})


def test_the_password_from_a_file_beside_a_url_without_one(tmp_path):
    (tmp_path / "pw").write_text("s3cret\n")
    env = {"PGPASSWORD_FILE": str(tmp_path / "pw")}
    assert password_from_environment("postgresql://u@db/x", env) == "s3cret"
    assert password_from_environment("postgresql://u:inurl@db/x", env) is None  # the URL's own wins
    assert password_from_environment("postgresql://u@db/x", {**env, "PGPASSWORD": "x"}) is None  # libpq's
    with pytest.raises(StoreError, match="cannot read PGPASSWORD_FILE"):
        password_from_environment("postgresql://u@db/x", {"PGPASSWORD_FILE": str(tmp_path / "none")})


def test_an_unreachable_server_is_one_line_without_the_password():
    with pytest.raises(StoreError) as info:
        Store("postgresql://syndicate:hunter2-secret@127.0.0.1:1/synd")
    message = str(info.value)
    assert message.startswith("state database postgresql://syndicate@127.0.0.1:1/synd: ")
    assert "hunter2" not in message and "\n" not in message


def test_sqlite_commands_never_load_psycopg(tmp_path):
    code = ("import sys\n"
            "from syndicate.cli import main\n"
            "from syndicate.daemon import Daemon\n"
            "from syndicate.store import Store\n"
            f"Store({str(tmp_path / 's.db')!r}).close()\n"
            "assert not [m for m in sys.modules if m.startswith('psycopg')], 'psycopg loaded'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_rows_read_by_position_and_name_and_percent_signs_are_literal(postgres_url):
    store = Store(postgres_url)
    try:
        [row] = store.backend.query("SELECT 'a%b' AS text, ? AS n, '?' AS mark", (7,))
        assert (row[0], row["n"], row["mark"], row.keys()) == ("a%b", 7, "?", ["text", "n", "mark"])
        assert list(row) == ["a%b", 7, "?"]
    finally:
        store.close()


# --- run on PostgreSQL ------------------------------------------------------------------------------


def test_run_on_postgresql_takes_no_lock_ends_no_live_lease_and_records_itself(tmp_path, feed_server,
                                                                                postgres_url):
    """Another worker, alive on another machine, is sending the oldest row: ``run --once`` leaves
    its lease alone (and the rows behind it wait for it), where a SQLite daemon would end it."""
    token = "run-postgres-token-0123456789"
    feed_server.set_feed("/feed/", rss(range(1, 3)))
    with MastodonServer(token=token, budget=10_000) as mastodon:
        config = tmp_path / "feeds.yaml"
        config.write_text(f"""\
state: {postgres_url}
feeds:
  - name: acr
    url: {feed_server.url('/feed/')}
targets:
  mastodon:
    kind: mastodon
    instance: {mastodon.url}
output:
  enabled: false
""")
        store = Store(postgres_url)
        arts = [Article(feed="acr", id=f"g{n}", link=f"https://e.org/{n}", title=f"T{n}",
                        published=datetime(2024, 1, n, tzinfo=UTC)) for n in (1, 2)]
        store.ingest("acr", new=arts, updated=[], queue={"g1": ["mastodon"], "g2": ["mastodon"]})
        [item] = store.claim_due("web-2:77:alive", now=time.time(), lease_seconds=3600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
        env["SYNDICATE_MASTODON_TOKEN"] = token
        done = subprocess.run([sys.executable, "-m", "syndicate", "--config", str(config), "run", "--once"],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "recovered deliveries" not in done.stderr
        [first, second] = [store.deliveries(i)[0] for i in (1, 2)]
        assert (first.state, first.history) == ("sending", ())  # the live worker's lease, untouched
        assert second.state == "pending"  # behind it, in order
        assert mastodon.statuses == []
        assert not list(tmp_path.glob("*.lock"))
        [worker] = store.workers()
        assert worker.host == os.uname().nodename and worker.stopped_at is not None
        assert worker.pid != os.getpid() and worker.owner.startswith(f"{worker.host}:{worker.pid}:")
        store.close()


def test_a_worker_heartbeat_keeps_its_row_fresh(postgres_url, tmp_path):
    """The daemon says it is alive every ``heartbeat`` seconds from a thread of its own."""
    from syndicate.config import load_config
    from syndicate.daemon import Daemon

    config = tmp_path / "feeds.yaml"
    config.write_text(f"state: {postgres_url}\nfeeds:\n  - name: acr\n    url: http://127.0.0.1:1/feed/\n"
                      "output:\n  enabled: false\n")
    daemon = Daemon(load_config(config, environ={}), environ={}, heartbeat=0.05)
    runner = threading.Thread(target=daemon.run)
    runner.start()
    store = Store(postgres_url)
    try:
        assert wait_until(lambda: len(store.workers()) == 1)
        first = store.workers()[0].last_seen_at
        assert wait_until(lambda: store.workers()[0].last_seen_at > first)
        assert store.workers()[0].stopped_at is None
    finally:
        daemon.stop.set()
        daemon.wake.set()
        runner.join(30)
        store.close()
    check = Store(postgres_url)
    assert check.workers()[0].stopped_at is not None
    check.close()
