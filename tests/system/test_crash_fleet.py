"""The fleet crash test: four workers on one PostgreSQL state, SIGKILLed at random; nothing lost,
nothing doubled, the Mastodon server's rate window never exceeded (issue 14).

``test_crash.py`` kills one daemon on a SQLite state; here four ``syndicate run`` processes share a
fresh PostgreSQL database of the test's own.  A loopback feed of 200 new articles, both loopback
targets — the Mastodon server (in this process, with a small rate budget per window, so the
fleet has to share it) and the real Bluesky PDS behind a fault proxy — with about 20% of the
target requests that matter failing transiently (503/500, a dropped connection, or the request
accepted and its answer lost).  A random worker is SIGKILLed at least ``KILLS`` times and a new
one started in its place each time.  Kill moments follow progress, not the clock: after N more
requests have reached the targets, or just after the victim logs a chosen line.  Then the four
workers left drain the outbox, and the servers' own records are checked: every article exactly
once on each target, and no window of the Mastodon server counted more requests than the
``X-RateLimit-Limit`` it sends (``MastodonServer.peak_window``).

A killed worker's leases are not ended by anyone: they run out (``delivery.lease``), and the
row is reclaimed and reconciled by whichever worker claims it next.  The lease is short here so
the test is quick; it is still longer than every wait and request it covers (the config refuses
less).  The budget binds (``BUDGET`` requests per ``WINDOW`` seconds is less than the fleet
would send): the test checks the window filled to its limit, and never past it.  The lease is
longer than the window, as in production (20 minutes against Mastodon's 5): a worker killed
mid-delivery may have sent more than its claim took off the shared budget, and its target has
no other row in flight until its lease runs out, so by then the window it spent in is over.
``delivery.max_requeue`` stays above the window: a reset further off than it is believed to
come at ``max_requeue`` (the guard against a reset years ahead), so a shorter one would send
before the window ends, by design.

The seed is printed; ``SYNDICATE_CRASH_SEED=N`` replays a run's choices (close, not identical:
the kill moments land wherever the processes are).  ``CRASH_DEBUG=1`` (with ``pytest -s``)
prints each kill.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from syndicate.editors.fleet import fleet_view
from syndicate.store import Store
from tests.fakes import bluesky, mastodon, write_feeds_yaml
from tests.helpers import assert_posted_once, wait_until
from tests.servers.fault_proxy import FaultProxy
from tests.servers.mastodon import MastodonServer

pytestmark = [pytest.mark.slow, pytest.mark.pds, pytest.mark.timeout(600)]

ARTICLES = 200
WORKERS = 4
KILLS = 30
BUDGET, WINDOW = 12, 3.0  # the Mastodon server's rate limit: requests per window (seconds), binding
TOKEN = "fleet-crash-token-93d1c"
STATUSES = "/api/v1/statuses"
CREATE = "com.atproto.repo.createRecord"
GET = "com.atproto.repo.getRecord"
KILL_LINES = ("started", "feed read", "delivered", "delivery retrying", "delivery postponed",
              "delivery found already posted", "pacing to the target's rate limit")
LIFE_TIMEOUT = 8.0  # no progress for this long (everyone waiting for a window, a lease): kill anyway
DRAIN_TIMEOUT = 150.0


class Progress:
    """Requests reaching the targets, and the log line one worker is awaited to write, so the test
    can wait (bounded) for "N more requests, or that line, whichever comes first"."""

    def __init__(self) -> None:
        self.count = 0
        self._armed: tuple[int, str] | None = None  # (worker's pid, line)
        self.line_seen = False
        self._cond = threading.Condition()

    def tick(self, *_: object) -> None:
        with self._cond:
            self.count += 1
            self._cond.notify_all()

    def saw(self, pid: int, text: str) -> None:
        with self._cond:
            if self._armed is not None and self._armed[0] == pid and f" {self._armed[1]}" in text:
                self.line_seen = True
                self._cond.notify_all()

    def arm(self, pid: int, line: str | None) -> None:
        with self._cond:
            self._armed, self.line_seen = ((pid, line) if line else None), False

    def wait_for(self, count: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.count >= count or self.line_seen, timeout)


def outbox(url: str) -> Counter[str]:
    """The outbox's rows by state (empty before the schema exists)."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as db:
            rows = db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall()
    except psycopg.Error:
        return Counter()
    return Counter({state: count for state, count in rows})


def query(url: str, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as db:
        return db.execute(sql).fetchall()


def test_four_workers_sigkilled_at_random_post_every_article_exactly_once_within_the_rate_limit(
        tmp_path, feed_server, pds, spawn_daemon, make_articles, rss_of, postgres_url):
    seed = int(os.environ.get("SYNDICATE_CRASH_SEED") or secrets.randbelow(10**9))
    print(f"fleet crash test seed: {seed} (replay with SYNDICATE_CRASH_SEED={seed})")
    why = f"[seed {seed}]"
    rng = random.Random(seed)
    began = time.monotonic()
    debug = bool(os.environ.get("CRASH_DEBUG"))

    password = secrets.token_urlsafe(12)
    did, handle = pds.create_account(f"fleet{secrets.token_hex(4)}.test", password)
    articles = make_articles(ARTICLES, base=feed_server.url("/2025"))
    links = [a["link"] for a in articles]
    assert len(set(links)) == ARTICLES
    feed_server.set_feed("/feed", rss_of(articles))
    progress = Progress()

    with MastodonServer(token=TOKEN, budget=BUDGET, window=WINDOW) as masto, FaultProxy(pds.url) as proxy:
        masto_faults = masto.random_faults(0.2, seed=seed, kinds=(503, 500, "drop", "accept_then_drop"),
                                           method="POST", path=STATUSES)
        pds_faults = proxy.random_faults(0.2, seed=seed + 1, nsids=(CREATE, GET),
                                         kinds=(503, "drop", "accept_then_drop"))
        masto.on_request = progress.tick
        proxy.on_request = progress.tick
        config = write_feeds_yaml(
            tmp_path, {"review": {"url": feed_server.url("/feed"), "backfill": ARTICLES, "language": "en"}},
            state=postgres_url, poll_interval="2s", output=True,
            targets={"mastodon": mastodon(masto.url, timeout=3), "bluesky": bluesky(proxy.url, handle, timeout=3)},
            # max_requeue above the window: a reset further off than it would be believed as nearer
            delivery={"attempts": 2, "backoff": 0.05, "max_backoff": 0.2, "requeue": 0.2,
                      "max_requeue": WINDOW + 2, "max_rate_wait": 3, "lease": 4})
        env = {"SYNDICATE_MASTODON_TOKEN": TOKEN, "SYNDICATE_BLUESKY_APP_PASSWORD": password}

        def start():
            holder: dict[str, int] = {}
            daemon = spawn_daemon(config, env=env, on_line=lambda line: progress.saw(holder.get("pid", -1), line))
            holder["pid"] = daemon.pid
            return daemon

        workers = [start() for _ in range(WORKERS)]
        kills: Counter[str] = Counter()
        killed: list[int] = []
        logs: list[str] = []
        while sum(kills.values()) < KILLS:
            # Kill a random worker after n more requests to the targets, or (one kill in three) as
            # soon as it logs a chosen line if that comes first.  n is drawn around a fair share of
            # the work left, so the kills spread over most of the run (about two requests per
            # delivery, plus a few per start-up).
            kills_left = KILLS - sum(kills.values())
            share = 0.6 * 2 * (2 * ARTICLES - outbox(postgres_url)["sent"]) / kills_left + 3
            n = rng.randint(1, max(2, round(2 * share) - 1))
            victim = rng.randrange(WORKERS)
            line = rng.choice(KILL_LINES) if rng.random() < 1 / 3 else None
            progress.arm(workers[victim].pid, line)
            reached = progress.wait_for(progress.count + n, LIFE_TIMEOUT)
            for daemon in workers:
                if daemon.proc.poll() is not None:
                    pytest.fail(f"{why} a worker exited by itself ({daemon.proc.returncode}):\n{daemon.output}")
            workers[victim].kill()
            killed.append(workers[victim].pid)
            kind = "at a log line" if progress.line_seen else "after n requests" if reached else "stalled"
            kills[kind] += 1
            logs.append(workers[victim].output)
            left = outbox(postgres_url)
            if debug and kind == "stalled":
                print("\n".join(workers[victim].output.splitlines()[-15:]))
            if debug:
                print(f"kill {sum(kills.values())}: worker {victim} n={n} line={line!r} -> {kind}, "
                      f"requests {progress.count}, outbox {dict(left)}, t={time.monotonic() - began:.1f}s")
            if left == Counter({"sent": 2 * ARTICLES}) and sum(kills.values()) < KILLS:
                pytest.fail(f"{why} the work ran out after {sum(kills.values())} kills")
            workers[victim] = start()
        killing_done = time.monotonic()
        depth_at_last_kill = outbox(postgres_url)

        drained = Counter({"sent": 2 * ARTICLES})
        wait_until(lambda: outbox(postgres_url) == drained or any(w.proc.poll() is not None for w in workers),
                   timeout=DRAIN_TIMEOUT, step=0.2)
        assert outbox(postgres_url) == drained, (f"{why} not drained: {dict(outbox(postgres_url))}\n"
                                                 + "\n".join(w.output[-2000:] for w in workers))
        for daemon in workers:  # a worker restarted at the last kill may still be starting: its
            # SIGTERM handler is not there before it says so, and a stop then is the default kill
            assert daemon.wait_for_line(" started", timeout=30), f"{why}\n{daemon.output[-3000:]}"
            daemon.signal(signal.SIGTERM)
        for daemon in workers:
            assert daemon.wait(timeout=15) == 0, f"{why}\n{daemon.output[-3000:]}"
            logs.append(daemon.output)

        statuses = masto.statuses
        peak = masto.peak_window
        refused = sum(r.status == 429 for r in masto.requests)
        if debug:  # the requests the server refused for the rate limit, with the three before each
            for i, r in enumerate(masto.requests):
                if r.status == 429:
                    for q in masto.requests[max(0, i - 3):i + 1]:
                        print("mastodon:", q.method, q.path, q.status, q.response_headers.get("X-RateLimit-Remaining"),
                              q.response_headers.get("X-RateLimit-Reset"))
        assert not masto.errors, masto.errors[0]
        keys = Counter(next((v for k, v in r.headers.items() if k.lower() == "idempotency-key"), None)
                       for r in masto.requests if r.method == "POST" and r.path == STATUSES)
    records = pds.list_records(did)
    elapsed = time.monotonic() - began

    everything = "\n".join(logs)
    if debug:
        kept = Path(os.environ.get("CRASH_DEBUG_DIR", tmp_path)) / f"fleet-logs-{seed}.txt"
        kept.write_text(everything)
        print("the workers' logs:", kept)
    found = everything.count("delivery found already posted")
    landed = everything.count("already exists (an earlier attempt landed)")
    repeated_keys = sum(n - 1 for key, n in keys.items() if key and n > 1)
    reclaimed = query(postgres_url, "SELECT COUNT(*) FROM outbox_events WHERE kind = 'reclaimed'")[0][0]
    lost_leases = everything.count("another worker holds the row now")
    print(f"fleet crash test seed {seed}: {sum(kills.values())} kills ({dict(kills)}), "
          f"{progress.count} target requests, faults injected: mastodon {masto_faults.injected}, "
          f"pds {pds_faults.injected}; outbox at the last kill: {dict(depth_at_last_kill)}; "
          f"rows reclaimed after a lease ran out {reclaimed}, reconciled by lookup {found}, bluesky "
          f"posts found at their key {landed}, mastodon idempotency-key repeats {repeated_keys}, "
          f"leases lost {lost_leases}; mastodon peak window {peak}/{BUDGET} ({refused} answered 429); "
          f"killing phase {killing_done - began:.0f}s, total {elapsed:.0f}s")

    # Exactly once on each platform, by what its server stored.
    assert_posted_once(links, statuses, records, why)

    # The store agrees with the servers: every row sent, pointing at the post that exists.
    rows = query(postgres_url, "SELECT target, state, remote_url FROM outbox")
    assert Counter((t, s) for t, s, _ in rows) == {("mastodon", "sent"): ARTICLES,
                                                   ("bluesky", "sent"): ARTICLES}, why
    assert {u for t, _, u in rows if t == "mastodon"} == {s["url"] for s in statuses}, why
    rkeys = {r["uri"].rsplit("/", 1)[1] for r in records}
    assert {u.rsplit("/", 1)[1] for t, _, u in rows if t == "bluesky"} == rkeys, why

    # Four workers shared one budget: no window of the server counted more than it allows one client.
    assert peak <= BUDGET, f"{why} the Mastodon server counted {peak} requests in one window (limit {BUDGET})"
    assert refused == 0, f"{why} {refused} requests were answered 429"

    # The fleet as operators see it: the killed workers never said they stopped (its heartbeat ages,
    # its leases ran out and were taken over); the four stopped by SIGTERM did; nothing is leased.
    store = Store(postgres_url)
    try:
        fleet = fleet_view(store, time.time())
    finally:
        store.close()
    silent = {w.pid for w in fleet.workers if w.stopped_at is None}  # (one killed before it recorded
    assert silent and silent <= set(killed), why                      # itself is not there at all)
    assert fleet.count("stopped") == WORKERS and sum(w.leased + w.expired for w in fleet.workers) == 0, why
    assert all(q.leased_by is None for q in fleet.queues), why

    # The paths that make "exactly once" hold on a fleet were really taken.
    assert sum(kills.values()) >= KILLS
    assert masto_faults.injected > 0 and pds_faults.injected > 0
    assert reclaimed > 0 and repeated_keys > 0 and found + landed > 0, why
    assert peak == BUDGET, f"{why} the budget never bound (peak {peak}): the test shows nothing of sharing it"
    for bad in ("Traceback", "delivery crashed", "cycle crashed"):
        assert bad not in everything, f"{why} {bad!r} in the workers' logs:\n" + "\n".join(
            line for line in everything.splitlines() if bad in line)[:3000]
