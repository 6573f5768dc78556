"""The daemon under signals, as an operator's supervisor sends them.

- SIGTERM (or SIGINT) while a post is in flight: the process exits 0 promptly and no outbox
  row is left in ``sending`` — the post either finishes (recorded ``sent``) or is released
  (back to ``pending``, due at once for the next start).
- SIGHUP reloads feeds.yaml: a broken file is refused with one clear line and the old
  configuration keeps running; a valid one takes effect (a new feed is polled).
- ``syndicate health``: non-zero before any cycle, with an unreadable store, or when the
  last cycle is too old; zero after a cycle.

The daemon is the real ``python -m syndicate run`` in a subprocess; every wait is bounded
and waits for an event (a request reaching a server, a log line), never for a fixed time.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes import mastodon, write_feeds_yaml
from tests.helpers import run_cli, wait_until
from tests.servers.feeds import Fault as FeedFault
from tests.servers.mastodon import Fault, MastodonServer

TOKEN = "signals-token-4f1c9a2e"
STATUSES = "/api/v1/statuses"
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def write_config(tmp_path: Path, feeds: dict[str, str], masto_url: str | None = None, *,
                 path: Path | None = None, poll: str = "1s", **feed_keys: object) -> Path:
    """feeds.yaml for the daemon: each feed with backfill 10 (and ``feed_keys``), quick retries."""
    targets = {"masto": mastodon(masto_url, token_env="TEST_MASTO_TOKEN", timeout=10)} if masto_url else None
    return write_feeds_yaml(
        tmp_path, {name: {"url": url, "backfill": 10, **feed_keys} for name, url in feeds.items()},
        path=path, poll_interval=poll, targets=targets, output=True,
        delivery={"attempts": 2, "backoff": 0.05, "max_backoff": 0.2, "requeue": 0.2, "max_requeue": 1,
                  "max_rate_wait": 10, "lease": 30})


def outbox_states(tmp_path: Path) -> dict[str, int]:
    db = sqlite3.connect(tmp_path / "state.db")
    try:
        return dict(db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())
    finally:
        db.close()


def last_cycle_at(tmp_path: Path) -> str | None:
    db = sqlite3.connect(tmp_path / "state.db")
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'last_cycle_at'").fetchone()
        return row[0] if row else None
    except sqlite3.OperationalError:  # not created yet
        return None
    finally:
        db.close()



@pytest.fixture
def masto():
    with MastodonServer(token=TOKEN, budget=10_000) as server:
        yield server
    assert not server.errors, server.errors[0]


# --- graceful stop --------------------------------------------------------------------------


@pytest.mark.parametrize("then_answer", [False, True], ids=["post-dropped-row-released", "post-finishes"])
def test_sigterm_during_a_delivery_exits_0_and_leaves_no_row_sending(
        tmp_path, feed_server, masto, spawn_daemon, make_articles, rss_of, then_answer):
    feed_server.set_feed("/feed", rss_of(make_articles(3)))
    config = write_config(tmp_path, {"review": feed_server.url("/feed")}, masto.url)
    masto.queue_faults(Fault(hang=True, hang_for=60, then_answer=then_answer, method="POST", path=STATUSES))

    daemon = spawn_daemon(config, env={"TEST_MASTO_TOKEN": TOKEN})
    in_flight = masto.wait_for_request(lambda r: r.method == "POST" and r.path == STATUSES, timeout=30)
    assert in_flight is not None, daemon.output
    assert outbox_states(tmp_path) == {"sending": 1, "pending": 2}  # mid-delivery, for real

    daemon.signal(signal.SIGTERM)
    assert daemon.wait_for_line("stopping", timeout=10), daemon.output  # the handler ran mid-request
    masto.release_hangs()  # the server now drops (or answers) the request in flight
    assert daemon.wait(timeout=15) == 0, daemon.output  # how soon: bench figure 8e

    states = outbox_states(tmp_path)
    assert "sending" not in states, states
    posts = [r for r in masto.requests if r.method == "POST" and r.path == STATUSES]
    assert len(posts) == 1  # nothing new was started after the stop
    if then_answer:
        assert states == {"sent": 1, "pending": 2}
        assert len(masto.statuses) == 1
        assert daemon.count_lines("delivered") == 1
    else:
        assert states == {"pending": 3}
        assert masto.statuses == []
        assert daemon.count_lines("delivery released on shutdown") == 1
    assert daemon.stderr_lines[-1].endswith(" stopped")

    # The next start sends all three, the released one exactly once.
    again = spawn_daemon(config, env={"TEST_MASTO_TOKEN": TOKEN})
    assert wait_until(lambda: outbox_states(tmp_path) == {"sent": 3}, timeout=30), again.output
    again.signal(signal.SIGTERM)
    assert again.wait(timeout=15) == 0
    assert len(masto.statuses) == 3
    assert len({s["idempotency_key"] for s in masto.statuses}) == 3


def test_sigint_while_idle_exits_0_at_once(tmp_path, feed_server, spawn_daemon, make_articles, rss_of):
    feed_server.set_feed("/feed", rss_of(make_articles(2)))
    config = write_config(tmp_path, {"review": feed_server.url("/feed")}, poll="1h")
    daemon = spawn_daemon(config)
    assert daemon.wait_for_line("started", timeout=20), daemon.output
    assert wait_until(lambda: feed_server.requests_for("/feed"), timeout=20)
    daemon.signal(signal.SIGINT)
    # the sleep until the next poll (an hour) is cut short; how soon: bench figure 8d
    assert daemon.wait(timeout=10) == 0, daemon.output
    assert "Traceback" not in daemon.output


# --- SIGHUP ---------------------------------------------------------------------------------


def test_sighup_with_a_broken_file_keeps_the_running_config(tmp_path, feed_server, spawn_daemon,
                                                            make_articles, rss_of):
    feed_server.set_feed("/a", rss_of(make_articles(2)))
    config = write_config(tmp_path, {"a": feed_server.url("/a")})
    daemon = spawn_daemon(config)
    assert wait_until(lambda: len(feed_server.requests_for("/a")) >= 1, timeout=20), daemon.output

    write_config(tmp_path, {"a": feed_server.url("/a")}, colour="red")
    mark = len(daemon.lines)
    daemon.signal(signal.SIGHUP)
    refused = daemon.wait_for_line("reload refused", timeout=10, start=mark)
    assert refused is not None, daemon.output
    assert "feeds[0].colour" in refused and "unknown key" in refused and str(config) in refused
    assert daemon.count_lines("reload refused") == 1
    assert daemon.count_lines("configuration reloaded") == 0

    polls = len(feed_server.requests_for("/a"))
    assert wait_until(lambda: len(feed_server.requests_for("/a")) >= polls + 2, timeout=15), \
        "the old configuration stopped polling"
    assert daemon.proc.poll() is None

    # Invalid YAML is refused the same way.
    config.write_text("feeds: [\n")
    mark = len(daemon.lines)
    daemon.signal(signal.SIGHUP)
    line = daemon.wait_for_line("reload refused", timeout=10, start=mark)
    assert line is not None and "invalid YAML" in line
    polls = len(feed_server.requests_for("/a"))
    assert wait_until(lambda: len(feed_server.requests_for("/a")) > polls, timeout=15)

    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=15) == 0, daemon.output
    assert "Traceback" not in daemon.output


def test_sighup_with_a_new_feed_polls_it(tmp_path, feed_server, spawn_daemon, make_articles, rss_of):
    feed_server.set_feed("/a", rss_of(make_articles(2)))
    feed_server.set_feed("/b", rss_of(make_articles(2, base="https://other.example/news")))
    config = write_config(tmp_path, {"a": feed_server.url("/a")}, poll="1h")
    daemon = spawn_daemon(config)
    assert wait_until(lambda: len(feed_server.requests_for("/a")) == 1, timeout=20), daemon.output
    assert wait_until(lambda: last_cycle_at(tmp_path) is not None, timeout=10), daemon.output  # idle now

    write_config(tmp_path, {"a": feed_server.url("/a"), "b": feed_server.url("/b")}, poll="1h")
    mark = len(daemon.lines)
    daemon.signal(signal.SIGHUP)
    reloaded = daemon.wait_for_line("configuration reloaded", timeout=10, start=mark)
    assert reloaded is not None and "feeds=2" in reloaded, daemon.output
    # The new feed is polled at once, though the poll interval is an hour.
    assert wait_until(lambda: len(feed_server.requests_for("/b")) == 1, timeout=15), daemon.output
    assert len(feed_server.requests_for("/a")) == 1  # the old feed keeps its schedule

    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=15) == 0, daemon.output
    db = sqlite3.connect(tmp_path / "state.db")
    try:
        assert {r[0] for r in db.execute("SELECT name FROM feeds")} == {"a", "b"}
        assert db.execute("SELECT COUNT(*) FROM articles WHERE feed = 'b'").fetchone()[0] == 2
    finally:
        db.close()
    assert "Traceback" not in daemon.output


def test_sighup_during_a_cycle_is_not_lost(tmp_path, feed_server, spawn_daemon, make_articles, rss_of):
    """A SIGHUP that lands while a cycle runs (here: a feed that does not answer) is acted on
    when the cycle ends, not after the next sleep (up to a minute)."""
    feed_server.set_feed("/a", rss_of(make_articles(2)))
    feed_server.set_feed("/b", rss_of(make_articles(2, base="https://other.example/news")))
    feed_server.queue_faults("/a", FeedFault(hang=True))
    config = write_config(tmp_path, {"a": feed_server.url("/a")}, poll="1h", timeout=2)
    daemon = spawn_daemon(config)
    assert wait_until(lambda: len(feed_server.requests_for("/a")) == 1, timeout=20), daemon.output

    write_config(tmp_path, {"a": feed_server.url("/a"), "b": feed_server.url("/b")}, poll="1h")
    daemon.signal(signal.SIGHUP)  # mid-cycle: the fetch of /a hangs until its 2 s timeout
    assert daemon.wait_for_line("feed failed", timeout=15), daemon.output
    reloaded = daemon.wait_for_line("configuration reloaded", timeout=10)
    assert reloaded is not None and "feeds=2" in reloaded, daemon.output
    assert wait_until(lambda: len(feed_server.requests_for("/b")) == 1, timeout=15), daemon.output
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=15) == 0, daemon.output


# --- health ---------------------------------------------------------------------------------


def health(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("health", *args, config_path=config)


def test_health_before_a_cycle_after_one_and_with_an_unreadable_store(tmp_path, feed_server,
                                                                      spawn_daemon, make_articles, rss_of):
    feed_server.set_feed("/feed", rss_of(make_articles(2)))
    config = write_config(tmp_path, {"review": feed_server.url("/feed")})

    before = health(config)
    assert before.returncode != 0
    assert "unhealthy: no state database at" in before.stderr
    assert not (tmp_path / "state.db").exists()  # health only looks; it creates nothing

    daemon = spawn_daemon(config)
    assert wait_until(lambda: health(config).returncode == 0, timeout=30), daemon.output
    ok = health(config)
    assert ok.stdout.startswith("healthy: last cycle")
    too_old = health(config, "--max-age", "0.001")
    assert too_old.returncode != 0 and "unhealthy: last cycle" in too_old.stderr
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=15) == 0

    state = tmp_path / "state.db"
    for extra in ("-wal", "-shm"):
        Path(f"{state}{extra}").unlink(missing_ok=True)
    state.write_bytes(b"this is not a SQLite database, it is a text file that got in the way\n" * 100)
    broken = health(config)
    assert broken.returncode != 0
    assert broken.stderr.startswith("syndicate: unhealthy:"), broken.stderr
    assert "Traceback" not in broken.stderr
