"""The crash test: SIGKILL the real daemon at random moments; nothing is lost, nothing doubled.

A loopback feed of 100 new articles, both loopback targets — the Mastodon server (in this
process) and the real Bluesky PDS behind a fault proxy — with about 20% of the target requests
that matter failing transiently (503/500, a dropped connection, or the request accepted and
its answer lost).  The daemon (``python -m syndicate run``, a subprocess) is SIGKILLed at
least ``KILLS`` times and restarted each time.  Kill moments follow progress, not the clock:
after N more requests have reached the targets, or just after a chosen log line, N and the
line drawn from a seeded RNG.  Then a last life runs until the outbox is drained, and the
servers' own records are checked: every article exactly once on each target.

The seed is printed; ``SYNDICATE_CRASH_SEED=N`` replays a run's choices (the kill moments
land wherever the processes are at the time, so a replay is close, not identical).
``CRASH_DEBUG=1`` (with ``pytest -s``) prints each life: its kill moment and the outbox.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.fakes import bluesky, mastodon, write_feeds_yaml
from tests.helpers import assert_posted_once, wait_until
from tests.servers.fault_proxy import FaultProxy
from tests.servers.mastodon import MastodonServer

pytestmark = [pytest.mark.slow, pytest.mark.pds]

ARTICLES = 100
KILLS = 32
TOKEN = "crash-test-token-5b0e7d"
STATUSES = "/api/v1/statuses"
CREATE = "com.atproto.repo.createRecord"
GET = "com.atproto.repo.getRecord"
KILL_LINES = ("started", "feed read", "delivered", "delivery retrying", "delivery postponed",
              "recovered deliveries", "delivery found already posted", "posted at://")
LIFE_TIMEOUT = 10.0  # a life that makes no progress for this long is killed anyway
DRAIN_TIMEOUT = 120.0


class Progress:
    """Counts requests reaching the targets and watches the daemon's log lines, so a test can
    wait (bounded) for "N more requests, or this line, whichever comes first"."""

    def __init__(self) -> None:
        self.count = 0
        self.line: str | None = None  # the log line awaited, None: any
        self.line_seen = False
        self._cond = threading.Condition()

    def tick(self, *_: object) -> None:
        with self._cond:
            self.count += 1
            self._cond.notify_all()

    def saw(self, text: str) -> None:
        with self._cond:
            if self.line is not None and f" {self.line}" in text:
                self.line_seen = True
                self._cond.notify_all()

    def arm(self, line: str | None) -> None:
        with self._cond:
            self.line, self.line_seen = line, False

    def wait_for(self, count: int, timeout: float) -> bool:
        """Until ``count`` requests were seen or the armed line was logged; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.count >= count or self.line_seen, timeout)


def outbox(state: Path) -> Counter[str]:
    try:
        db = sqlite3.connect(state, timeout=30)
    except sqlite3.Error:
        return Counter()
    try:
        return Counter(dict(db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall()))
    except sqlite3.OperationalError:  # no schema yet
        return Counter()
    finally:
        db.close()


def test_sigkill_at_random_moments_posts_every_article_exactly_once(
        tmp_path, feed_server, pds, spawn_daemon, make_articles, rss_of):
    seed = int(os.environ.get("SYNDICATE_CRASH_SEED") or secrets.randbelow(10**9))
    print(f"crash test seed: {seed} (replay with SYNDICATE_CRASH_SEED={seed})")
    why = f"[seed {seed}]"
    rng = random.Random(seed)
    began = time.monotonic()

    password = secrets.token_urlsafe(12)
    did, handle = pds.create_account(f"crash{secrets.token_hex(4)}.test", password)
    # Links on the feed's own host: the Bluesky card's page lookup is answered (404) on loopback.
    articles = make_articles(ARTICLES, base=feed_server.url("/2025"))
    links = [a["link"] for a in articles]
    assert len(set(links)) == ARTICLES
    feed_server.set_feed("/feed", rss_of(articles))
    state = tmp_path / "state.db"
    progress = Progress()

    with MastodonServer(token=TOKEN, budget=1_000_000) as masto, FaultProxy(pds.url) as proxy:
        masto_faults = masto.random_faults(0.2, seed=seed, kinds=(503, 500, "drop", "accept_then_drop"),
                                           method="POST", path=STATUSES)
        pds_faults = proxy.random_faults(0.2, seed=seed + 1, nsids=(CREATE, GET),
                                         kinds=(503, "drop", "accept_then_drop"))
        masto.on_request = progress.tick
        proxy.on_request = progress.tick
        config = write_feeds_yaml(
            tmp_path, {"review": {"url": feed_server.url("/feed"), "backfill": ARTICLES, "language": "en"}},
            state=state, poll_interval="2s", output=True,
            targets={"mastodon": mastodon(masto.url, timeout=10), "bluesky": bluesky(proxy.url, handle, timeout=10)},
            delivery={"attempts": 2, "backoff": 0.05, "max_backoff": 0.2, "requeue": 0.2, "max_requeue": 1,
                      "max_rate_wait": 10, "lease": 30})
        env = {"SYNDICATE_MASTODON_TOKEN": TOKEN, "SYNDICATE_BLUESKY_APP_PASSWORD": password}

        kills: Counter[str] = Counter()
        logs: list[str] = []
        while sum(kills.values()) < KILLS:
            # Kill after n more requests to the targets, or (one life in three) as soon as a
            # chosen line is logged if that comes first.  n is drawn around a fair share of the
            # work left, so the kills spread over most of the run (about one request per
            # delivery — a first Bluesky attempt is one createRecord, no getRecord — plus a
            # few per start-up).
            kills_left = KILLS - sum(kills.values())
            share = 0.6 * (2 * ARTICLES - outbox(state)["sent"]) / kills_left + 3
            n = rng.randint(1, max(2, round(2 * share) - 1))
            line = rng.choice(KILL_LINES) if rng.random() < 1 / 3 else None
            progress.arm(line)
            daemon = spawn_daemon(config, env=env, on_line=progress.saw)
            reached = progress.wait_for(progress.count + n, LIFE_TIMEOUT)
            if daemon.proc.poll() is not None:
                pytest.fail(f"{why} the daemon exited by itself ({daemon.proc.returncode}):\n{daemon.output}")
            at_kill = progress.count
            daemon.kill()
            kind = "at a log line" if progress.line_seen else "after n requests" if reached else "stalled"
            kills[kind] += 1
            left = outbox(state)
            if os.environ.get("CRASH_DEBUG"):
                print(f"life {sum(kills.values())}: n={n} line={line!r} -> {kind}, requests {at_kill}, "
                      f"outbox {dict(left)}, t={time.monotonic() - began:.1f}s")
            logs.append(daemon.output)
            if left and left == Counter({"sent": 2 * ARTICLES}) and sum(kills.values()) < KILLS:
                pytest.fail(f"{why} the work ran out after {sum(kills.values())} kills")
        killing_done = time.monotonic()
        depth_at_last_kill = outbox(state)

        final = spawn_daemon(config, env=env)
        assert final.wait_for_line(" started", timeout=30), f"{why}\n{final.output}"  # signals handled
        drained = Counter({"sent": 2 * ARTICLES})
        wait_until(lambda: outbox(state) == drained or final.proc.poll() is not None, timeout=DRAIN_TIMEOUT,
                   step=0.2)
        assert outbox(state) == drained, f"{why} not drained: {outbox(state)}\n{final.output[-5000:]}"
        final.signal(signal.SIGTERM)
        assert final.wait(timeout=15) == 0, f"{why}\n{final.output[-3000:]}"
        logs.append(final.output)

        statuses = masto.statuses
        assert not masto.errors, masto.errors[0]
        keys = Counter(next((v for k, v in r.headers.items() if k.lower() == "idempotency-key"), None)
                       for r in masto.requests if r.method == "POST" and r.path == STATUSES)
    records = pds.list_records(did)
    elapsed = time.monotonic() - began

    everything = "\n".join(logs)
    recovered = everything.count("recovered deliveries interrupted by a crash")
    found = everything.count("delivery found already posted")
    landed = everything.count("already exists (an earlier attempt landed)")
    repeated_keys = sum(n - 1 for key, n in keys.items() if key and n > 1)
    print(f"crash test seed {seed}: {sum(kills.values())} kills ({dict(kills)}), "
          f"{progress.count} target requests, faults injected: mastodon {masto_faults.injected}, "
          f"pds {pds_faults.injected}; outbox at the last kill: {dict(depth_at_last_kill)}; "
          f"start-ups that recovered leases {recovered}, reconciled by lookup {found}, bluesky posts "
          f"found at their key {landed}, mastodon idempotency-key repeats {repeated_keys}; "
          f"killing phase {killing_done - began:.0f}s, total {elapsed:.0f}s")

    # Exactly once on each platform, by what its server stored.
    assert_posted_once(links, statuses, records, why)

    # The store agrees with the servers: every row sent, pointing at the post that exists.
    db = sqlite3.connect(state)
    try:
        rows = db.execute("SELECT target, state, remote_url FROM outbox").fetchall()
    finally:
        db.close()
    assert Counter((t, s) for t, s, _ in rows) == {("mastodon", "sent"): ARTICLES,
                                                   ("bluesky", "sent"): ARTICLES}, why
    assert {u for t, _, u in rows if t == "mastodon"} == {s["url"] for s in statuses}, why
    rkeys = {r["uri"].rsplit("/", 1)[1] for r in records}
    assert {u.rsplit("/", 1)[1] for t, _, u in rows if t == "bluesky"} == rkeys, why

    # The paths that make "exactly once" hold were really taken.
    assert sum(kills.values()) >= KILLS
    assert masto_faults.injected > 0 and pds_faults.injected > 0
    assert recovered > 0 and repeated_keys > 0 and found + landed > 0, why
    for bad in ("Traceback", "delivery crashed", "cycle crashed", "lease lost"):
        assert bad not in everything, f"{why} {bad!r} in the daemon's logs:\n" + "\n".join(
            line for line in everything.splitlines() if bad in line)[:3000]
