"""Outage test: a Mastodon target that is down for hours of simulated time.

The daemon's loop is driven by hand (``App.run_cycle``, then a sleep until
the next thing is due, as ``Daemon.run`` does) with one injected clock shared
by the store, the ingester, the deliverer and the loopback Mastodon server,
so hours pass in a few seconds and nothing sleeps for real.

The target lives at one loopback port, which is

1. refused (a socket bound to the port, not listening) for two hours;
2. a server answering every request 503, as the proxy in front of a stopped
   Mastodon does, for three hours and a bit: it comes back just after the
   oldest post's retry failed (the worst moment for ordering);
3. a healthy ``MastodonServer`` with a budget of 5 requests per 5 minutes.

Meanwhile 20 articles wait in the outbox.  The scenario runs once (seeded,
the seed printed); each test checks one promise about it.
"""

from __future__ import annotations

import dataclasses
import inspect
import random
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from syndicate.app import App
from syndicate.config import Config, Secret
from syndicate.retry import RetryPolicy
from syndicate.store import Store
from syndicate.targets.mastodon import MastodonAdapter
from tests.fakes import FakeClock, make_config, mastodon
from tests.servers.feeds import FeedServer
from tests.servers.mastodon import Fault, LoggedRequest, MastodonServer

SEED = 20240301
TOKEN = "outage-test-token"
ARTICLES = 20
BUDGET, WINDOW = 5, 300.0
HOUR = 3600.0
REFUSED_FOR, FAILING_FOR = 2 * HOUR, 3 * HOUR  # then healthy
REQUEUE, MAX_REQUEUE = 60.0, 1800.0
MAX_SLEEP = 60.0  # as syndicate.daemon.MAX_SLEEP


@dataclass(frozen=True)
class Row:
    link: str
    published: float
    state: str
    attempts: int
    next_attempt_at: float | None
    last_error: str | None


def rows_of(store: Store) -> list[Row]:
    """The outbox, oldest article first."""
    out = []
    for art in store.recent(limit=1000):
        for d in art.deliveries:
            out.append(Row(art.link, art.published, d.state, d.attempts, d.next_attempt_at, d.last_error))
    return sorted(out, key=lambda r: r.published)


@dataclass
class Phase:
    ended_at: float
    rows: list[Row]


@dataclass
class Outcome:
    published: dict[str, datetime]  # link -> publication date
    refused: Phase
    failing: Phase
    recovered_at: float
    finished_at: float
    final: list[Row]
    failing_answers: list[int | None]
    statuses: list[dict]
    requests: list[LoggedRequest]
    server_errors: list[str]
    faults_left: int


def feed_bytes(seed: int) -> tuple[bytes, dict[str, datetime]]:
    """RSS with ARTICLES items in shuffled order (feed order says nothing about age)."""
    first = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    dates = {f"https://outage.example/{i:02d}": first + timedelta(hours=7 * i) for i in range(ARTICLES)}
    links = list(dates)
    random.Random(seed).shuffle(links)
    items = "".join(
        f"<item><title>Article {link[-2:]}</title><link>{link}</link><guid>{link}</guid>"
        f"<pubDate>{format_datetime(dates[link])}</pubDate>"
        f"<description>Body of article {link[-2:]}.</description></item>"
        for link in links
    )
    rss = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Outage</title>'
           f"<link>https://outage.example/</link>{items}</channel></rss>")
    return rss.encode(), dates


def outage_config(tmp_path, feed_url: str, port: int) -> Config:
    return make_config(tmp_path, {"outage": {"url": feed_url, "backfill": ARTICLES}}, poll_interval="15m",
                       targets={"masto": mastodon(f"http://127.0.0.1:{port}", timeout=5)},
                       delivery={"attempts": 3, "backoff": 2, "max_backoff": 10, "requeue": REQUEUE,
                                 "max_requeue": MAX_REQUEUE, "max_rate_wait": 900})


def adapter_time(t: FakeClock) -> dict:
    """The adapter's sleep and, once it takes one (the proposed rate-limit fix), its clock."""
    kwargs = {"sleep": t.sleep}
    if "clock" in inspect.signature(MastodonAdapter).parameters:
        kwargs["clock"] = t
    return kwargs


class Loop:
    """``Daemon.run``'s loop, with the fake clock."""

    def __init__(self, app: App, t: FakeClock) -> None:
        self.app, self.t = app, t

    def cycle(self, deadline: float) -> None:
        self.app.run_cycle()
        now = self.t()
        due = [d for d in (self.app.ingester.next_due_at(), self.app.deliverer.next_due_at()) if d is not None]
        wake = min(due) if due else now + MAX_SLEEP
        self.t.sleep(max(0.5, min(MAX_SLEEP, wake - now, max(0.0, deadline - now))))

    def run_until(self, deadline: float, done=lambda: False) -> None:
        cycles = 0
        while self.t() < deadline and not done():
            self.cycle(deadline)
            cycles += 1
            assert cycles < 20_000, "the loop is spinning"


@pytest.fixture(scope="module")
def outage(tmp_path_factory) -> Outcome:
    print(f"outage scenario seed={SEED}")
    tmp_path = tmp_path_factory.mktemp("outage")
    body, published = feed_bytes(SEED)
    t = FakeClock(1_750_000_000.0)
    start = t()
    placeholder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # bound, never listening: refused
    placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    placeholder.bind(("127.0.0.1", 0))
    port = placeholder.getsockname()[1]

    with FeedServer() as feeds:
        feeds.set_feed("/outage.rss", body)
        config = outage_config(tmp_path, feeds.url("/outage.rss"), port)
        store = Store(config.state, clock=t)
        adapter = MastodonAdapter("masto", config.targets["masto"], Secret(TOKEN, "test"), **adapter_time(t))
        policy = dataclasses.replace(RetryPolicy.from_config(config.delivery), rng=random.Random(SEED))
        app = App(config, store=store, targets={"masto": adapter}, policy=policy, clock=t,
                  sleep=t.sleep)
        app.ingester.rng = random.Random(SEED)
        loop = Loop(app, t)
        try:
            # 1. connection refused
            loop.run_until(start + REFUSED_FOR)
            refused = Phase(t(), rows_of(store))

            # 2. every request answered 503 (each closing its connection, as a proxy does)
            placeholder.close()
            failing = MastodonServer(token=TOKEN, clock=t, port=port, budget=BUDGET, window=WINDOW)
            failing.queue_faults(*[Fault(status=503, headers={"Connection": "close"})] * 5000)
            with failing:
                loop.run_until(start + REFUSED_FOR + FAILING_FOR)
                # come back just after the oldest waiting post's retry failed
                head = next(r for r in rows_of(store) if r.state == "pending")
                loop.run_until(t() + MAX_REQUEUE + HOUR, done=lambda: next(
                    r for r in rows_of(store) if r.link == head.link).attempts > head.attempts)
                failing_phase = Phase(t(), rows_of(store))
                answers = [r.status for r in failing.requests]
                faults_left = len(failing.pending_faults)

            # 3. healthy, with a small rate budget
            recovered_at = t()
            with MastodonServer(token=TOKEN, clock=t, port=port, budget=BUDGET, window=WINDOW) as server:
                loop.run_until(recovered_at + 6 * HOUR,
                               done=lambda: all(r.state == "sent" for r in rows_of(store)))
                statuses, requests, errors = server.statuses, list(server.requests), list(server.errors)
            return Outcome(published, refused, failing_phase, recovered_at, t(), rows_of(store),
                           answers, statuses, requests, errors, faults_left)
        finally:
            app.close()
            placeholder.close()


def assert_nothing_lost(phase: Phase) -> None:
    """Every row still pending; the oldest waits for its retry and the rest queue behind it.

    Rows behind the oldest one keep their order: they may be due on their own
    schedule, but wait while the head of the line waits (see Store.claim_due).
    No row is ever pushed further out than the requeue cap.
    """
    assert len(phase.rows) == ARTICLES
    assert [r.state for r in phase.rows] == ["pending"] * ARTICLES, phase.rows
    tried = [r for r in phase.rows if r.attempts]
    assert tried, "the outbox was worked during the outage"
    head = min(phase.rows, key=lambda r: r.published)
    assert head.attempts and phase.ended_at - 1 < head.next_attempt_at <= phase.ended_at + MAX_REQUEUE
    for r in tried:
        assert r.next_attempt_at <= phase.ended_at + MAX_REQUEUE


def test_nothing_is_lost_while_the_target_refuses_connections(outage):
    assert_nothing_lost(outage.refused)
    tried = [r for r in outage.refused.rows if r.attempts]
    assert all("connection" in r.last_error for r in tried), tried
    assert max(r.attempts for r in tried) >= 4  # 2 h of requeues: 60 s, 120 s, ... capped at 30 min
    assert max(r.attempts for r in tried) <= 2 * HOUR / REQUEUE  # backed off, not hammered


def test_nothing_is_lost_while_the_target_answers_503(outage):
    assert_nothing_lost(outage.failing)
    assert outage.failing_answers and set(outage.failing_answers) == {503}
    assert outage.faults_left > 0, "the target answered 503 for the whole stretch"
    before = {r.link: r.attempts for r in outage.refused.rows}
    grown = [r for r in outage.failing.rows if r.attempts > before[r.link]]
    assert grown, "retried through the 503s"
    assert all("503" in r.last_error for r in grown), grown
    # 3 h at the 30 min cap: about six more passes each, not hundreds
    assert all(r.attempts - before[r.link] <= FAILING_FOR / MAX_REQUEUE + 8 for r in grown)


def test_after_recovery_every_article_is_posted_exactly_once(outage):
    assert not outage.server_errors, outage.server_errors[0]
    assert [r.state for r in outage.final] == ["sent"] * ARTICLES
    posted = [[link for link in outage.published if link in s["text"]] for s in outage.statuses]
    assert all(len(links) == 1 for links in posted), posted
    assert sorted(links[0] for links in posted) == sorted(outage.published)
    # within the requeue cap plus the windows the backlog needs at 5 requests per 5 minutes
    windows = len(outage.requests) / BUDGET + 2
    assert outage.finished_at - outage.recovered_at <= MAX_REQUEUE + windows * WINDOW


def test_after_recovery_articles_are_posted_in_order_of_publication(outage):
    posted = [next(link for link in outage.published if link in s["text"])[-2:] for s in outage.statuses]
    expected = [link[-2:] for link in sorted(outage.published, key=outage.published.get)]
    assert posted == expected, f"posted in this order: {' '.join(posted)}"


def test_the_rate_limit_is_never_exceeded(outage):
    over = [(r.method, r.path, r.response_headers.get("X-RateLimit-Reset")) for r in outage.requests
            if r.status == 429]
    assert over == [], f"{len(over)} requests over the budget of {BUDGET} per {WINDOW:g} s"
    assert all(r.status == 200 for r in outage.requests)
    # pacing did the waiting: the backlog's requests were spread over the windows they need
    assert outage.finished_at - outage.recovered_at >= (len(outage.requests) // BUDGET - 1) * WINDOW
