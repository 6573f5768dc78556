"""The daemon never spins: what it sleeps for counts only what can be worked (issue 11, item 8).

``Daemon._sleep_for`` is the loop's one decision about time; it is asked here
with an injected clock, after a real cycle against the loopback Mastodon server.
"""

from __future__ import annotations

from datetime import UTC, datetime

from syndicate.app import App
from syndicate.daemon import MAX_SLEEP, Daemon
from syndicate.models import Article
from tests.fakes import FakeClock, make_config, mastodon
from tests.servers.mastodon import MastodonServer

TOKEN = "wake-token-0123456789"


def config(tmp_path, instance="https://m.example"):
    return make_config(tmp_path, {"f": "https://e.org/feed"}, poll_interval="15m",
                       targets={"masto": mastodon(instance, token_env="WAKE_TEST_TOKEN")})


def daemon_for(cfg, environ, clock) -> Daemon:
    daemon = Daemon(cfg, environ=environ, clock=clock)
    daemon.app = App(cfg, environ=environ, clock=clock)
    daemon.app.store.record_fetch_ok("f", "https://e.org/feed", etag=None, last_modified=None,
                                     body_hash=None, final_url=None, next_fetch_at=clock() + 900)
    return daemon


def queue_one(app: App) -> None:
    app.store.ingest("f", new=[Article(feed="f", id="g", link="https://e.org/1", title="One",
                                       published=datetime(2025, 1, 1, tzinfo=UTC))],
                     updated=[], queue={"g": ["masto"]})


def test_rows_for_a_target_without_credentials_never_wake_the_daemon(tmp_path):
    clock = FakeClock(1_750_000_000.0)
    daemon = daemon_for(config(tmp_path), {}, clock)
    assert daemon.app.targets == {}  # no token: this target cannot post
    queue_one(daemon.app)  # a row queued while it still had one
    assert daemon._sleep_for() == MAX_SLEEP  # not 0.5 s, over and over, for ever
    daemon.app.close()


def test_a_target_whose_rate_limit_is_spent_for_hours_does_not_wake_the_daemon(tmp_path):
    clock = FakeClock(1_750_000_000.0)
    with MastodonServer(token=TOKEN, clock=clock, budget=2, window=2 * 3600) as server:
        server.reset_window()
        daemon = daemon_for(config(tmp_path, server.url), {"WAKE_TEST_TOKEN": TOKEN}, clock)
        queue_one(daemon.app)
        [sent] = daemon.app.deliverer.deliver_due()  # the instance, then the post: the budget is spent
        assert sent.outcome == "sent" and server.remaining == 0
        daemon.app.store.ingest("f", new=[Article(feed="f", id="g2", link="https://e.org/2", title="Two",
                                                  published=datetime(2025, 1, 2, tzinfo=UTC))],
                                updated=[], queue={"g2": ["masto"]})
        assert daemon.app.deliverer.deliver_due() == []  # left out until the reset, 2 h away
        assert daemon._sleep_for() == MAX_SLEEP
        daemon.app.close()


def test_a_stop_signal_that_reaches_another_thread_still_stops_the_idle_daemon(tmp_path, feed_server):
    """The kernel hands a process's signal to any of its threads that does not block it.  When it
    is not the main thread, the main thread's sleep between cycles (an hour here) is not cut
    short; the stop must still come at once.  The signal is sent to a thread of the test's own,
    once the daemon's main thread is in that sleep; if the daemon has not stopped within a bounded
    wait, the test wakes it by hand and fails."""
    import signal
    import sys
    import threading

    from tests.helpers import wait_until

    feed_server.set_feed("/feed/", b"<rss version='2.0'><channel><title>t</title></channel></rss>")
    cfg = make_config(tmp_path, {"f": feed_server.url("/feed/")}, poll_interval="1h")
    daemon = Daemon(cfg, environ={})
    main = threading.get_ident()
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    woken_by_hand = threading.Event()

    def sleeping() -> bool:  # the main thread is in the loop's wait between cycles
        frame = sys._current_frames().get(main)
        names = []
        while frame is not None:
            names.append(frame.f_code.co_name)
            frame = frame.f_back
        return "_run" in names and "wait" in names

    def send() -> None:
        wait_until(sleeping, timeout=30)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)  # to this thread, not the main one
        if not daemon.stop.wait(10):
            woken_by_hand.set()
            daemon.stop.set()
            daemon.wake.set()

    try:
        daemon.install_signals()
        sender = threading.Thread(target=send)
        sender.start()
        assert daemon.run() == 0
        sender.join()
    finally:
        signal.set_wakeup_fd(-1)
        for s, handler in saved.items():
            signal.signal(s, handler)
    assert not woken_by_hand.is_set(), "SIGTERM delivered to another thread did not stop the daemon"
