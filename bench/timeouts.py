"""Figure 8: how soon a deadline or a stop takes effect (wall time).

The tests prove that each of these ends at all (a hang that only the timeout can end, a
trickle that no per-read timeout would end, a daemon told to stop in an hour-long sleep or
mid-request); how soon is measured here, where a slow machine only makes a figure worse:

- 8a a feed that never answers, fetched with ``timeout=0.5``: the fetch ends after (floor 0.5 s)
- 8b a feed trickling a byte every 0.4 s, ``timeout=0.5``: the total deadline ends it after
- 8c eight feeds from one shared Fetcher in eight threads, the first hanging (timeout 1 s):
  the seven others are all fetched after (they must not wait for the hanging one)
- 8d SIGINT to an idle daemon (poll interval 1 h): the process exits after
- 8e SIGTERM to a daemon whose status post hangs on the Mastodon server, which lets the
  request go as soon as the daemon logs ``stopping``: the process exits after

Servers are the loopback ones of ``tests/servers`` in this process (wall time, not CPU, is
measured); the daemon is ``python -m syndicate run``.  Each is the slowest of the repetitions.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import Line, child_env
from bench.context import Context
from bench.gen import wordpress_feed

FEED_TIMEOUT = 0.5
DEADLINE_BOUND = 1.5  # a deadline may end a call this many times its length, at most
HANG_TIMEOUT = 1.0
IDLE_STOP, BUSY_STOP = 5.0, 10.0  # the bounds test_signals.py once asserted
TOKEN = "bench-timeouts-token-0123456789"
UA = "syndicate-bench/1.0 (+https://example.org/bot)"


class Daemon:
    """``python -m syndicate --config CONFIG -v run``, its stderr lines watched (bounded waits)."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "syndicate", "--config", str(config), "-v", "run"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, env=child_env(**env), cwd=config.parent)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, text: str, timeout: float = 30.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: any(text in line for line in self.lines)
                                       or self.proc.poll() is not None, timeout):
                raise RuntimeError(f"the daemon did not log {text!r} within {timeout:.0f} s")
            if not any(text in line for line in self.lines):
                raise RuntimeError(f"the daemon exited ({self.proc.returncode}) before {text!r}: "
                                   + "\n".join(self.lines[-10:]))

    def stop_after(self, signum: int, then: Callable[[], None] = lambda: None) -> float:
        """Seconds from sending ``signum`` to the process's exit (``then`` runs in between)."""
        t0 = time.perf_counter()
        self.proc.send_signal(signum)
        then()
        code = self.proc.wait(60)
        seconds = time.perf_counter() - t0
        if code != 0:
            raise RuntimeError(f"the daemon exited {code}: " + "\n".join(self.lines[-10:]))
        return seconds

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _deadline_line(key: str, name: str, seconds: list[float], notes: list[str]) -> Line:
    worst = max(seconds)
    ok = FEED_TIMEOUT <= min(seconds) and worst <= FEED_TIMEOUT * DEADLINE_BOUND
    return Line(key, name, f"{worst:.3f} s", f"floor {FEED_TIMEOUT} s, <={DEADLINE_BOUND}x", worst / FEED_TIMEOUT,
                ok, notes=[f"slowest of {len(seconds)}; all: " + ", ".join(f"{s:.3f}" for s in seconds), *notes])


def _fetch_figures(reps: int) -> list[Line]:
    from syndicate.errors import FetchError
    from syndicate.fetch import Fetcher
    from tests.servers.feeds import Fault, FeedServer

    body = wordpress_feed(5, seed=8)
    hangs: list[float] = []
    trickles: list[float] = []
    others: list[float] = []
    stops: list[float] = []
    with FeedServer() as server, Fetcher(UA) as fetcher:
        server.set_feed("/ok", body)
        for rep in range(reps):
            for path, fault, into in ((f"/hang{rep}", Fault(hang=True), hangs),
                                      (f"/trickle{rep}", Fault(trickle=0.4), trickles)):
                server.queue_faults(path, fault)
                t0 = time.perf_counter()
                try:
                    fetcher.fetch_feed("bench", server.url(path), timeout=FEED_TIMEOUT)
                except FetchError as exc:
                    if "timed out" not in str(exc):
                        raise RuntimeError(f"{path}: {exc}") from None
                else:
                    raise RuntimeError(f"{path}: the fetch succeeded")
                into.append(time.perf_counter() - t0)

            for i in range(8):
                server.set_feed(f"/many{rep}/{i}", body + str(i).encode())
            server.queue_faults(f"/many{rep}/0", Fault(hang=True))
            done: list[float] = []
            t0 = time.perf_counter()

            def fetch(i: int, rep: int = rep, t0: float = t0, done: list[float] = done) -> None:
                try:
                    fetcher.fetch_feed(f"f{i}", server.url(f"/many{rep}/{i}"), timeout=HANG_TIMEOUT)
                except FetchError:
                    if i:
                        raise
                    return
                done.append(time.perf_counter() - t0)

            with ThreadPoolExecutor(8) as pool:
                list(pool.map(fetch, range(8)))
            if len(done) != 7:
                raise RuntimeError(f"{len(done)} of the 7 answering feeds were fetched")
            others.append(max(done))

        # the loopback feed server's own stop() while a request hangs (tests/servers/feeds.py)
        for _ in range(reps):
            srv = FeedServer().start()
            srv.queue_faults("/feed", Fault(hang=True))
            with socket.create_connection(("127.0.0.1", srv.port)) as client:
                client.sendall(b"GET /feed HTTP/1.1\r\nHost: x\r\n\r\n")
                while not srv.requests_for("/feed"):
                    time.sleep(0.001)
                t0 = time.perf_counter()
                srv.stop()
                stops.append(time.perf_counter() - t0)

    worst_others = max(others)
    return [
        _deadline_line("8a", "hanging feed, 0.5 s timeout", hangs, []),
        _deadline_line("8b", "trickling feed, 0.5 s deadline", trickles,
                       ["a byte every 0.4 s: each read within the timeout, only the total deadline ends it"]),
        Line("8c", "7 feeds beside a hanging one", f"{worst_others:.3f} s",
             f"target < {HANG_TIMEOUT:g} s (its timeout)", worst_others / HANG_TIMEOUT, worst_others < HANG_TIMEOUT,
             notes=[f"one Fetcher, 8 threads; slowest of {reps}: " + ", ".join(f"{s:.3f}" for s in others),
                    f"tests/servers/feeds.py FeedServer.stop() with a request hanging: slowest "
                    f"{max(stops) * 1000:.1f} ms of {reps}"]),
    ]


def _write_config(folder: Path, feed_url: str, masto_url: str | None) -> Path:
    from tests.fakes import mastodon, write_feeds_yaml

    targets = {"masto": mastodon(masto_url, token_env="BENCH_MASTO_TOKEN", timeout=10)} if masto_url else None
    return write_feeds_yaml(folder, {"review": {"url": feed_url, "backfill": 3}}, poll_interval="1h",
                            targets=targets, output=True)


def _daemon_figures(ctx: Context, reps: int) -> list[Line]:
    from tests.servers.feeds import FeedServer
    from tests.servers.mastodon import Fault, MastodonServer

    idle, busy = [], []
    statuses = "/api/v1/statuses"
    with FeedServer() as feeds, MastodonServer(token=TOKEN, budget=100_000) as masto:
        feeds.set_feed("/feed", wordpress_feed(3, seed=9))
        for rep in range(reps):
            folder = ctx.tmp / "timeouts" / f"idle{rep}"
            folder.mkdir(parents=True)
            daemon = Daemon(_write_config(folder, feeds.url("/feed"), None), {})
            try:
                daemon.wait_for("cycle done")  # then it sleeps until the next poll, an hour away
                idle.append(daemon.stop_after(signal.SIGINT))
            finally:
                daemon.kill()

            folder = ctx.tmp / "timeouts" / f"busy{rep}"
            folder.mkdir(parents=True)
            masto.queue_faults(Fault(hang=True, hang_for=60, method="POST", path=statuses))
            daemon = Daemon(_write_config(folder, feeds.url("/feed"), masto.url), {"BENCH_MASTO_TOKEN": TOKEN})
            try:
                if not masto.wait_until_held(1, timeout=30):
                    raise RuntimeError("no status post reached the Mastodon server")

                def release(daemon: Daemon = daemon) -> None:
                    daemon.wait_for("stopping")
                    masto.release_hangs()

                busy.append(daemon.stop_after(signal.SIGTERM, release))
            finally:
                daemon.kill()
    return [
        Line("8d", "SIGINT to an idle daemon: exit", f"{max(idle):.3f} s", f"target < {IDLE_STOP:g} s",
             max(idle) / IDLE_STOP, max(idle) < IDLE_STOP,
             notes=[f"poll interval 1 h; slowest of {reps}: " + ", ".join(f"{s:.3f}" for s in idle)]),
        Line("8e", "SIGTERM mid-delivery: exit", f"{max(busy):.3f} s", f"target < {BUSY_STOP:g} s",
             max(busy) / BUSY_STOP, max(busy) < BUSY_STOP,
             notes=["the status post hangs until the daemon logs `stopping`, then the server drops it; "
                    f"slowest of {reps}: " + ", ".join(f"{s:.3f}" for s in busy)]),
    ]


def run(ctx: Context) -> list[Line]:
    reps = ctx.sizes.startup_reps
    return _fetch_figures(reps) + _daemon_figures(ctx, reps)
