"""Figure 12: a fleet on one PostgreSQL state — 1, 2 and 4 ``syndicate run`` workers, same run.

- 12a delivery: 4 Mastodon targets on one loopback server (its own process) that answers every
  request after 50 ms; the workers are started and recorded first, then the posts are queued in
  one transaction (its NOTIFY wakes them) and the time until the last is sent is measured.
  Posts per second for each fleet size, and the ratio of 4 workers to 1.
- 12b polling: 1,000 feeds, every one answering 304, one cycle split across the workers (each due
  feed claimed by one of them), timed from "all due" to "all polled"; the feed server's request
  count says whether any feed was fetched twice.

Figures, not tests: printed with their ratios, judged by nobody (INFO).  Needs a PostgreSQL
server (``$SYNDICATE_TEST_POSTGRES`` or 127.0.0.1:5432, as the tests); without one both lines
say so.  Each fleet size gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import ROOT, Line, child_env, write_config
from bench.context import Context
from bench.gen import articles, wordpress_feed

SIZES = (1, 2, 4)
TARGETS = ("m1", "m2", "m3", "m4")
LATENCY = 0.05
FEED = "f000"


def _server() -> str:
    sys.path.insert(0, str(ROOT))
    from tests.databases import server_url

    return server_url()


class Databases:
    """Fresh databases on the test server, dropped at the end."""

    def __init__(self) -> None:
        import psycopg

        self.server = _server()
        self.names: list[str] = []
        psycopg.connect(self.server, autocommit=True, connect_timeout=5).close()  # answers, or raises

    def new(self) -> str:
        import psycopg

        from tests.databases import database_url

        name = f"syndicate_bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.server, autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return database_url(self.server, name)

    def close(self) -> None:
        import psycopg

        with psycopg.connect(self.server, autocommit=True) as db:
            for name in self.names:
                db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        cursor = db.execute(sql, args or None)
        return cursor.fetchall() if cursor.description is not None else []


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Fleet:
    """``n`` ``syndicate run`` processes on ``config``; stopped (SIGTERM) on close."""

    def __init__(self, config: Path, n: int, env: dict[str, str]) -> None:
        self.procs = [subprocess.Popen([sys.executable, "-m", "syndicate", "--config", str(config), "run"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       env=child_env(**env), cwd=config.parent) for _ in range(n)]

    def cpu(self) -> float:
        """CPU seconds the workers have used so far (user + system, from /proc)."""
        import os

        total = 0
        for proc in self.procs:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return total / os.sysconf("SC_CLK_TCK")

    def check(self) -> None:
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"a worker exited ({proc.returncode})")

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _started(url: str, n: int, fleet: Fleet, feeds: int) -> Callable[[], bool]:
    """The ``n`` workers recorded, and every one of the ``feeds`` read (seeded), none in a poll."""
    def ready() -> bool:
        fleet.check()
        try:
            workers = _query(url, "SELECT COUNT(*) FROM workers WHERE stopped_at IS NULL")[0][0]
            seeded = _query(url, "SELECT COUNT(*) FROM feeds WHERE seeded = 1 AND leased_until IS NULL")[0][0]
        except Exception:  # no schema yet
            return False
        return bool(workers == n and seeded == feeds)

    return ready


def _reaches(fleet: Fleet, url: str, expected: int, sql: str, *args: Any) -> Callable[[], bool]:
    """A condition: the count ``sql`` reads is ``expected`` (and every worker still runs)."""
    def check() -> bool:
        fleet.check()
        return bool(_query(url, sql, *args)[0][0] == expected)

    return check


def _delivery(ctx: Context, dbs: Databases, masto_url: str, token: str,
              posts: int) -> dict[int, tuple[float, float]]:
    from syndicate.store import Store

    targets = "targets:\n" + "".join(
        f"  {name}:\n    kind: mastodon\n    instance: {masto_url}\n    token_env: BENCH_MASTODON_TOKEN\n"
        for name in TARGETS)
    rates = {}
    for n in SIZES:
        url = dbs.new()
        folder = ctx.tmp / f"fleet-delivery-{n}"
        folder.mkdir()
        config = write_config(folder / "feeds.yaml", state=url, feeds=ctx.small_feeds()[:1], output=False,
                              poll_interval="1h", extra=targets)
        fleet = Fleet(config, n, {"BENCH_MASTODON_TOKEN": token})
        try:
            _until(_started(url, n, fleet, 1), 60, f"{n} workers to start")
            store = Store(url)
            try:
                new = articles(FEED, posts, seed=10 + n)
                cpu0 = fleet.cpu()
                t0 = time.perf_counter()
                store.ingest(FEED, new=new, updated=[], queue={a.id: list(TARGETS) for a in new})
            finally:
                store.close()
            total = posts * len(TARGETS)
            sent = _reaches(fleet, url, total, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'")
            _until(sent, 300, f"{total} posts from {n} workers")
            rates[n] = (total / (time.perf_counter() - t0), (fleet.cpu() - cpu0) / total)
        finally:
            fleet.close()
    return rates


def _polling(ctx: Context, dbs: Databases, count: int) -> dict[int, tuple[float, int]]:
    folder = ctx.tmp / "fleet-feeds"
    folder.mkdir()
    file = folder / "feed.rss"
    file.write_bytes(wordpress_feed(10, seed=3, site="Fleet", host="fleet.example.org"))
    feeds = []
    for i in range(count):
        ctx.server.set_feed(f"/fleet/{i:04d}/feed/", file)
        feeds.append((f"p{i:04d}", ctx.server.url(f"/fleet/{i:04d}/feed/")))
    out = {}
    for n in SIZES:
        url = dbs.new()
        sub = folder / f"{n}"
        sub.mkdir()
        config = write_config(sub / "feeds.yaml", state=url, feeds=feeds, output=False, poll_interval="1h")
        fleet = Fleet(config, n, {})
        try:
            _until(_started(url, n, fleet, count), 300, f"{n} workers to seed {count} feeds")  # the first reads: 200s
            before = ctx.server.request_count()
            t0 = time.time()
            _query(url, "UPDATE feeds SET next_fetch_at = %s", t0)  # all due: the cycle everyone splits
            _query(url, "SELECT pg_notify('syndicate_work', 'feeds')")
            start = time.perf_counter()
            polled = _reaches(fleet, url, count, "SELECT COUNT(*) FROM feeds WHERE last_fetch_at >= %s "
                                                 "AND leased_until IS NULL", t0)
            _until(polled, 300, f"{n} workers to poll {count} feeds")
            out[n] = (time.perf_counter() - start, ctx.server.request_count() - before)
        finally:
            fleet.close()
    return out


def run(ctx: Context) -> list[Line]:
    from bench.delivery import MastodonProcess

    posts = 20 if ctx.quick else 50
    feeds = 300 if ctx.quick else 1000
    try:
        dbs = Databases()
    except Exception as exc:
        why = f"no PostgreSQL server ({type(exc).__name__}): set SYNDICATE_TEST_POSTGRES or run one on :5432"
        return [Line("12a", "fleet delivery, 4 workers / 1", "-", why), Line("12b", "fleet polling", "-", why)]
    token = secrets.token_hex(12)
    masto = MastodonProcess(token, latency=LATENCY)
    try:
        rates = _delivery(ctx, dbs, masto.url, token, posts)
        polls = _polling(ctx, dbs, feeds)
    finally:
        masto.close()
        dbs.close()
    ratio = rates[4][0] / rates[1][0]
    wall_ratio = polls[1][0] / polls[4][0]
    twice = {n: requests - feeds for n, (_, requests) in polls.items()}
    return [
        Line("12a", f"fleet delivery, {len(TARGETS)} targets, 4 workers / 1",
             f"{rates[4][0]:.1f} / {rates[1][0]:.1f} posts/s", "(no floor: a ratio, same run)", ratio, None, notes=[
                 "posts/s by workers: " + ", ".join(f"{n}: {rate:.1f}" for n, (rate, _) in rates.items()),
                 "the workers' CPU per post, all of them together: "
                 + ", ".join(f"{n}: {cpu * 1000:.1f} ms" for n, (_, cpu) in rates.items()),
                 f"{posts} articles x {len(TARGETS)} Mastodon targets on one loopback server answering every "
                 f"request after {LATENCY * 1000:.0f} ms; timed from the queueing transaction (its NOTIFY wakes "
                 "the workers) to the last row sent",
                 "one row of a target is in flight at a time across the fleet, and one worker already sends to "
                 "every target at once (a thread each): more workers add availability, not speed per target",
             ]),
        Line("12b", f"fleet polling, {feeds} feeds all 304, 4 workers / 1",
             f"{polls[4][0]:.2f} s / {polls[1][0]:.2f} s", "(no floor: a ratio of walls, same run)", wall_ratio,
             None, notes=[
                 "one cycle's wall by workers: " + ", ".join(f"{n}: {wall:.2f} s" for n, (wall, _) in polls.items()),
                 "feeds fetched more than once in the cycle: "
                 + ", ".join(f"{n} workers: {extra}" for n, extra in twice.items())
                 + " (requests to the feed server minus feeds)",
             ]),
    ]
