"""Issue 12, item 8: a reload (SIGHUP) does not pull the floor from under requests.

A reload builds a new App (store, fetcher, targets); requests that arrive afterwards get it,
while a request already in flight keeps the App it started with, and that old App is closed
only once the last request (or delivery) using it is done.  So a request during a reload
never gets a 5xx.

The first test drives ``Daemon`` in this process, holding one request in flight on purpose
(the preview waits on the loopback Mastodon server, which hangs until released); the second
runs the real daemon and sends it SIGHUP over and over while clients keep asking.
"""

from __future__ import annotations

import re
import signal
import threading
from collections import Counter

import httpx
import pytest

from syndicate.app import App
from syndicate.config import load_config
from syndicate.daemon import Daemon
from syndicate.errors import StoreError
from tests.fakes import mastodon, write_feeds_yaml
from tests.helpers import wait_until
from tests.servers.mastodon import Fault, MastodonServer

API_TOKEN = "reload-api-token-0123456789"
MASTODON_TOKEN = "reload-mastodon-token-0123456789"


def closed(app: App) -> bool:
    try:
        app.store.get_meta("probe")
    except StoreError:
        return True
    return False


@pytest.fixture
def masto():
    with MastodonServer(token=MASTODON_TOKEN, budget=100_000) as server:
        yield server
    assert not server.errors, server.errors[0]


def write_config(tmp_path, feed_url: str, masto_url: str | None = None, *, poll: str = "1h"):
    targets = {"masto": mastodon(masto_url, token_env="TEST_MASTO_TOKEN", timeout=20)} if masto_url else None
    return write_feeds_yaml(tmp_path, {"review": feed_url}, poll_interval=poll, targets=targets, output=True,
                            listen={"enabled": True, "port": 0, "api_token_env": "TEST_API_TOKEN"})


def test_a_request_in_flight_during_a_reload_keeps_its_app_until_it_is_done(
        tmp_path, feed_server, masto, make_articles, rss_of):
    feed_server.set_feed("/feed", rss_of(make_articles(2)))
    path = write_config(tmp_path, feed_server.url("/feed"), masto.url)
    environ = {"TEST_API_TOKEN": API_TOKEN, "TEST_MASTO_TOKEN": MASTODON_TOKEN}
    daemon = Daemon(load_config(path, environ), config_path=str(path), environ=environ)
    runner = threading.Thread(target=daemon.run, name="daemon-under-test", daemon=True)
    runner.start()
    try:
        assert wait_until(lambda: daemon.listener is not None and daemon.app is not None
                          and daemon.app.store.count_articles() == 2)
        old = daemon.app
        article_id = old.store.recent(1)[0].id
        masto.queue_faults(Fault(hang=True, then_answer=True, method="GET", path="/api/v2/instance/?"))
        answer: dict[str, httpx.Response] = {}

        def ask() -> None:  # the preview asks the instance for its limits: held there
            answer["r"] = httpx.get(f"{daemon.listener.url}/api/articles/{article_id}", timeout=60,
                                    headers={"Authorization": f"Bearer {API_TOKEN}"})

        asking = threading.Thread(target=ask)
        asking.start()
        assert masto.wait_for_request(lambda r: r.path.rstrip("/") == "/api/v2/instance"), "the preview never asked"

        daemon.request_reload()  # what SIGHUP does
        assert wait_until(lambda: daemon.app is not old), "the reload did not happen"
        assert not closed(old), "the App of a request in flight was closed under it"
        during = httpx.get(f"{daemon.listener.url}/api/articles", timeout=10,
                           headers={"Authorization": f"Bearer {API_TOKEN}"})
        assert during.status_code == 200  # a new request meanwhile gets the new App

        masto.release_hangs()
        asking.join(30)
        assert not asking.is_alive()
        r = answer["r"]
        assert r.status_code == 200, r.text
        assert r.json()["preview"]["masto"]["limit"] == 500
        assert wait_until(lambda: closed(old)), "the old App was never closed"
        assert not closed(daemon.app)
    finally:
        daemon.stop.set()
        daemon.wake.set()
        runner.join(30)
    assert not runner.is_alive()


def test_a_reload_that_cannot_build_the_new_app_keeps_the_old_one(tmp_path, feed_server, rss_of,
                                                                   make_articles):
    feed_server.set_feed("/feed", rss_of(make_articles(1)))
    path = write_config(tmp_path, feed_server.url("/feed"))
    environ = {"TEST_API_TOKEN": API_TOKEN}
    built: list[App] = []

    def factory(config, stop):
        if built:  # the reload: as if the state database could not be opened
            raise StoreError(f"state database {config.state}: unable to open database file")
        built.append(App(config, environ=environ, stop=stop))
        return built[-1]

    daemon = Daemon(load_config(path, environ), config_path=str(path), environ=environ,
                    app_factory=factory)
    runner = threading.Thread(target=daemon.run, daemon=True)
    runner.start()
    try:
        assert wait_until(lambda: daemon.listener is not None and daemon.app is not None)
        first = daemon.app
        cycles = first.store.get_meta("last_cycle_at")
        daemon.request_reload()
        assert wait_until(lambda: first.store.get_meta("last_cycle_at") != cycles), \
            "no cycle ran after the failed reload"
        assert daemon.app is first and not closed(first)
        r = httpx.get(f"{daemon.listener.url}/api/articles", timeout=10,
                      headers={"Authorization": f"Bearer {API_TOKEN}"})
        assert r.status_code == 200 and len(r.json()["articles"]) == 1
    finally:
        daemon.stop.set()
        daemon.wake.set()
        runner.join(30)
    assert closed(first)  # closed on the way out


def test_many_requests_during_several_sighups_never_get_a_5xx(tmp_path, feed_server, masto, spawn_daemon,
                                                              make_articles, rss_of):
    feed_server.set_feed("/feed", rss_of(make_articles(5)))
    path = write_config(tmp_path, feed_server.url("/feed"), masto.url)
    daemon = spawn_daemon(path, "run", env={"TEST_API_TOKEN": API_TOKEN,
                                            "TEST_MASTO_TOKEN": MASTODON_TOKEN})
    line = daemon.wait_for_line("listening")
    assert line, daemon.output
    url = re.search(r"url=(\S+)", line).group(1)
    bearer = {"Authorization": f"Bearer {API_TOKEN}"}
    with httpx.Client(base_url=url, timeout=30, headers=bearer) as http:
        assert wait_until(lambda: http.get("/healthz").status_code == 200)  # the first cycle is done
        assert len(http.get("/api/articles").json()["articles"]) == 5
        ids = [a["id"] for a in http.get("/api/articles").json()["articles"]]

    statuses: Counter[int] = Counter()
    problems: list[str] = []
    lock = threading.Lock()
    done = threading.Event()

    def hammer(n: int) -> None:
        paths = ["/api/articles", f"/api/articles/{ids[n % len(ids)]}", "/metrics", "/healthz",
                 "/feed.xml", "/"]
        with httpx.Client(base_url=url, timeout=30, headers=bearer) as http:
            i = 0
            while not done.is_set():
                p = paths[i % len(paths)]
                i += 1
                try:
                    if i % 7 == 0:
                        r = http.post(f"/api/articles/{ids[i % len(ids)]}/retry", json={})
                    else:
                        r = http.get(p)
                except httpx.HTTPError as exc:
                    with lock:
                        problems.append(f"{p}: {type(exc).__name__}: {exc}")
                    continue
                with lock:
                    statuses[r.status_code] += 1
                    if r.status_code >= 500:
                        problems.append(f"{p}: {r.status_code} {r.text[:200]}")

    workers = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for w in workers:
        w.start()
    try:
        for _ in range(8):
            with lock:
                before = sum(statuses.values())
            # requests are flowing before each SIGHUP, so some are in flight when it lands
            assert wait_until(lambda b=before: sum(statuses.values()) >= b + 20), statuses
            mark = len(daemon.lines)
            daemon.signal(signal.SIGHUP)
            assert daemon.wait_for_line("configuration reloaded", start=mark), daemon.output
    finally:
        done.set()
        for w in workers:
            w.join(60)
    assert problems == [], problems[:5]
    assert daemon.count_lines("configuration reloaded") == 8
    assert statuses[200] >= 8 * 20
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(30) == 0
    assert "Traceback" not in daemon.output, daemon.output



class Recorded:
    """Something with a close(), for the holder's bookkeeping on its own."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    def close(self) -> None:
        self.log.append(self.name)


def test_the_holder_closes_each_replaced_app_after_its_last_user():
    from syndicate.app_holder import AppHolder

    closes: list[str] = []
    first, second, third = (Recorded(n, closes) for n in ("first", "second", "third"))
    holder = AppHolder(first)
    with holder.use() as a, holder.use() as b:
        assert a is b is first
        holder.replace(second)
        with holder.use() as c:
            assert c is second  # later users get the new one
            holder.replace(third)
            assert closes == [] and holder.in_use(first) == 2
        assert closes == ["second"]  # its only user is done; first still has two
    assert closes == ["second", "first"]
    holder.replace(Recorded("fourth", closes))  # nobody holds third: closed at once
    assert closes == ["second", "first", "third"]
