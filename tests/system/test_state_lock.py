"""One daemon per state database (issue 11, item 3).

Two ``syndicate run`` on one state would lease and post from the same outbox and trust each
other's leases to be dead or alive by pid — wrong across containers that share a hostname
(both pid 1).  The first takes an exclusive ``flock`` on ``<state>.lock`` for its whole life;
a second ``run`` (or ``run --once``) says in one line who holds it and exits 3; the kernel
drops the lock when the holder dies, even by SIGKILL.  With the lock held, every lease left in
``sending`` belongs to a process that is gone, so recovery expires them all at start.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syndicate.app import App
from syndicate.daemon import Daemon
from syndicate.models import Article
from syndicate.store import Store
from tests.fakes import ScriptedTarget, make_config, mastodon, write_feeds_yaml

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock")


def write_config(tmp_path: Path, feed_url: str) -> Path:
    return write_feeds_yaml(tmp_path, {"acr": feed_url}, poll_interval="1h", output=True)


def test_a_second_run_on_the_same_state_refuses_in_one_line(tmp_path, feed_server, acr_rss,
                                                             spawn_daemon):
    feed_server.set_feed("/feed/", acr_rss)
    config = write_config(tmp_path, feed_server.url("/feed/"))
    first = spawn_daemon(config, "run")
    assert first.wait_for_line("started"), first.output

    for args in (("run",), ("run", "--once")):
        second = spawn_daemon(config, *args)
        code = second.wait(30)
        assert code == 3, (args, second.output)
        assert second.stdout_lines == []
        [line] = second.stderr_lines  # one line, nothing else (no "started", no traceback)
        assert line.startswith(f"syndicate: state {tmp_path / 'state.db'} is in use by another syndicate")
        assert f"(pid {first.pid} on host {socket.gethostname()}, since " in line, line
    assert first.proc.poll() is None  # the first one was not disturbed
    lock = tmp_path / "state.db.lock"
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600

    first.kill()  # SIGKILL: the kernel releases the lock with the process
    after = spawn_daemon(config, "run", "--once")
    assert after.wait(30) == 0, after.output


def test_the_lock_is_exclusive_within_one_process_too(tmp_path):
    from syndicate.errors import StateLocked
    from syndicate.lock import StateLock

    state = tmp_path / "state.db"
    with StateLock(state):
        with pytest.raises(StateLocked, match=f"pid {os.getpid()}"):
            StateLock(state).acquire()
    with StateLock(state):  # released on exit, free again
        pass


@pytest.mark.parametrize("owner", [
    f"{socket.gethostname()}:1:0badcafe",  # another container with this hostname, pid 1 there too
    "some-other-host:4242:0badcafe",  # another host altogether
    f"{socket.gethostname()}:{os.getpid()}:0badcafe",  # an earlier life of this very pid
], ids=["same-host-pid-1", "other-host", "same-pid"])
def test_leases_of_an_earlier_holder_are_recovered_at_start_whatever_the_host_or_pid(tmp_path, owner):
    now = datetime.now(UTC).timestamp()
    cfg = make_config(tmp_path, {"acr": "http://127.0.0.1:9/feed/"}, targets={"t": mastodon("http://127.0.0.1:9")})
    store = Store(cfg.state, clock=lambda: now)
    art = Article(feed="acr", id="g1", link="https://e.org/1", title="T1",
                  published=datetime(2024, 1, 1, tzinfo=UTC))
    store.ingest("acr", new=[art], updated=[], queue={"g1": ["t"]})
    [item] = store.claim_due(owner, now=now, lease_seconds=3600)  # leased for an hour,
    assert store.begin_attempt(item.id, owner, now=now, lease_seconds=3600, text="T1 https://e.org/1")
    store.close()  # then "crashed" while sending

    target = ScriptedTarget()
    stop = threading.Event()

    def factory(config, stop_event):
        return App(config, targets={"t": target}, stop=stop_event)

    daemon = Daemon(cfg, app_factory=factory)
    daemon.stop = stop
    daemon.run(once=True)  # the feed is unreachable (exit 1); the outbox is worked all the same
    assert target.calls == ["lookup", "deliver"]  # reconciled first, then sent once
    assert target.lookups == [item.key] and [d.article_id for _, d in target.drafts] == ["g1"]
    store = Store(cfg.state)
    [row] = store.deliveries(item.article_id)
    assert row.state == "sent"
    store.close()
