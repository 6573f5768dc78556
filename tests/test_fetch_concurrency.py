"""``fetch_concurrency``: how many feeds a cycle fetches at once (default 1, bench figure 2a)."""

from __future__ import annotations

import threading

import pytest

from syndicate.app import App
from syndicate.errors import ConfigError
from syndicate.fetch import Fetcher
from tests.fakes import make_config
from tests.helpers import rss


class ThreadNoting(Fetcher):
    """A fetcher that notes which threads its feed fetches ran in."""

    def __init__(self) -> None:
        super().__init__("syndicate-test")
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def fetch_feed(self, *args, **kwargs):
        with self._lock:
            self.threads.add(threading.current_thread().name)
        return super().fetch_feed(*args, **kwargs)


def test_the_default_is_one_fetch_at_a_time_in_the_cycles_own_thread(tmp_path, feed_server):
    for i in range(6):
        feed_server.set_feed(f"/f{i}", rss([i + 1]))
    cfg = make_config(tmp_path, {f"f{i}": feed_server.url(f"/f{i}") for i in range(6)})
    assert cfg.fetch_concurrency == 1
    fetcher = ThreadNoting()
    app = App(cfg, fetcher=fetcher, targets={})
    try:
        assert sorted(r.status for r in app.run_cycle(all_feeds=True).feeds) == ["fetched"] * 6
    finally:
        app.close()
    assert fetcher.threads == {threading.current_thread().name}


def test_a_higher_concurrency_fetches_in_that_many_threads(tmp_path, feed_server):
    for i in range(6):
        feed_server.set_feed(f"/f{i}", rss([i + 1]))
    cfg = make_config(tmp_path, {f"f{i}": feed_server.url(f"/f{i}") for i in range(6)}, fetch_concurrency=3)
    fetcher = ThreadNoting()
    app = App(cfg, fetcher=fetcher, targets={})
    try:
        assert sorted(r.status for r in app.run_cycle(all_feeds=True).feeds) == ["fetched"] * 6
    finally:
        app.close()
    assert fetcher.threads and all(name.startswith("fetch") for name in fetcher.threads)
    assert len(fetcher.threads) <= 3


def test_a_concurrency_below_one_is_refused_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match="fetch_concurrency"):
        make_config(tmp_path, {"f": "https://example.org/feed"}, fetch_concurrency=0)
