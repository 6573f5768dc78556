"""Issue 3 end to end: feed → outbox → real Mastodon.py → loopback Mastodon server.

Time is injected: the deliverer's sleep advances a clock shared with the
server, so retry and rate-limit schedules are asserted exactly and no test
waits.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from syndicate.app import App
from syndicate.compose import format_date
from syndicate.models import Article
from syndicate.retry import RetryPolicy
from tests.fakes import FakeClock, make_config, mastodon, write_feeds_yaml
from tests.helpers import rss, run_cli
from tests.servers.mastodon import Fault, MastodonServer, status_length

TOKEN = "loopback-token-1234567890"
STATUSES = "/api/v1/statuses"


@pytest.fixture
def clock():
    return FakeClock(1_750_000_000.0)


@pytest.fixture
def server(clock):
    with MastodonServer(token=TOKEN, clock=clock, max_characters=500) as srv:
        yield srv
    assert not srv.errors, srv.errors[0]


def make_app(tmp_path, server, clock, *, policy=None):
    cfg = make_config(tmp_path, {"acr": {"url": "https://example.org/feed/", "hashtags": {"limit": 2}}},
                      targets={"mastodon": mastodon(server.url, timeout=5)})
    return App(cfg, environ={"SYNDICATE_MASTODON_TOKEN": TOKEN}, clock=clock, sleep=clock.sleep,
               policy=policy or RetryPolicy(jitter=0))


def article(n: int, **kw) -> Article:
    base = dict(
        feed="acr", id=f"https://anticapitalistresistance.org/?p={n}",
        link=f"https://anticapitalistresistance.org/article-{n}/",
        title=f"Article number {n}: the stakes of open communism",
        published=datetime(2022, 10, 13, tzinfo=UTC) + timedelta(days=n),
        author="Ian Parker", categories=("Communism", "Books"),
        standfirst="Ian Parker describes the stakes of the difference between an approach that is "
                   "just a malignant mirror of capitalism and an approach that is for free association "
                   "as the core of communist politics. " * 3,
        fingerprint=f"h{n}", language="en",
    )
    base.update(kw)
    return Article(**base)


def queue(app: App, *articles: Article) -> None:
    app.store.ingest("acr", new=list(articles), updated=[], queue={a.id: ["mastodon"] for a in articles})


def posts(server) -> list[str]:
    return [s["text"] for s in server.statuses]


def test_status_has_title_original_date_link_and_fits_the_instance_limit(tmp_path, server, clock):
    server.max_characters = 420  # the instance's own limit is read and obeyed
    app = make_app(tmp_path, server, clock)
    a = article(1)
    queue(app, a)
    [result] = app.deliverer.deliver_due()
    assert result.outcome == "sent"
    [status] = server.statuses
    assert a.title in status["text"]
    assert format_date(a.published) in status["text"]  # "14 October 2022"
    assert a.link in status["text"]
    assert status_length(status["text"]) <= 420
    assert status["language"] == "en" and status["visibility"] == "public"
    [row] = app.store.deliveries(1)
    assert status["idempotency_key"] == row.key
    assert row.state == "sent" and row.remote_url == status["url"]


def test_three_503s_then_success_posts_once_on_the_exact_schedule(tmp_path, server, clock):
    app = make_app(tmp_path, server, clock)
    queue(app, article(1))
    server.queue_faults(*[Fault(status=503, method="POST", path=STATUSES)] * 3)
    [result] = app.deliverer.deliver_due()
    assert result.outcome == "sent"
    assert clock.sleeps == [2.0, 4.0, 8.0]
    assert len(server.statuses) == 1
    keys = {r.headers.get("idempotency-key") for r in server.requests if r.method == "POST"}
    assert len(keys) == 1  # every attempt carried the same key


def test_429_waits_until_the_reset_and_posts_once(tmp_path, server, clock):
    app = make_app(tmp_path, server, clock)
    queue(app, article(1))
    server.queue_faults(Fault(status=429, reset_in=42, method="POST", path=STATUSES))
    [result] = app.deliverer.deliver_due()
    assert result.outcome == "sent"
    assert clock.sleeps == [43.0]  # the reset, plus a second so the request lands in the new window
    assert len(server.statuses) == 1


@pytest.mark.parametrize(("fault", "reason"), [  # a 401 pauses the target instead: test_credentials.py
    (Fault(status=422, body={"error": "Validation failed: Visibility is not included in the list"},
           method="POST", path=STATUSES), "HTTP 422: Validation failed: Visibility is not included in the list"),
])
def test_422_fails_at_once_with_a_clear_reason(tmp_path, server, clock, fault, reason):
    app = make_app(tmp_path, server, clock)
    a = article(1)
    queue(app, a)
    server.queue_faults(fault)
    [result] = app.deliverer.deliver_due()
    assert result.outcome == "failed" and clock.sleeps == []
    [row] = app.store.deliveries(1)
    assert row.state == "failed"
    assert row.last_error.startswith(f"target mastodon, article {a.link}: ")
    assert reason in row.last_error and "\n" not in row.last_error
    assert TOKEN not in row.last_error
    assert server.statuses == []


def test_crash_after_the_server_accepted_posts_nothing_twice(tmp_path, server, clock):
    """The server created the status, then we died before the commit."""
    app = make_app(tmp_path, server, clock)
    a = article(1)
    queue(app, a)
    [item] = app.store.claim_due("dead-worker", now=clock(), lease_seconds=60)
    draft = app.draft_for(item.article, "mastodon")
    # what the deliverer writes before a request leaves, then the request
    assert app.store.begin_attempt(item.id, "dead-worker", now=clock(), lease_seconds=60, text=draft.text)
    app.targets["mastodon"].deliver(draft, item.key)  # accepted... and the process "dies" here
    assert len(server.statuses) == 1
    app.close()

    clock.advance(61)  # the dead worker's lease runs out; a new process starts
    app2 = make_app(tmp_path, server, clock)
    [result] = app2.deliverer.deliver_due()
    assert result.outcome == "found"
    assert len(server.statuses) == 1
    [row] = app2.store.deliveries(1)
    assert row.state == "sent" and row.remote_url == server.statuses[0]["url"]


def test_accepted_but_connection_dropped_retries_with_the_same_key(tmp_path, server, clock):
    app = make_app(tmp_path, server, clock)
    queue(app, article(1))
    server.queue_faults(Fault(accept_then_drop=True, method="POST", path=STATUSES))
    [result] = app.deliverer.deliver_due()
    assert result.outcome == "sent"
    assert len(server.statuses) == 1  # the retry got the same status back via Idempotency-Key


def test_50_articles_drain_oldest_first_within_the_rate_limit(tmp_path, server, clock):
    server.budget = 20  # requests per 300 s window
    server.reset_window()
    app = make_app(tmp_path, server, clock)
    articles = [article(n) for n in range(50)]
    queue(app, *reversed(articles))
    results = app.deliverer.deliver_due()
    assert [r.outcome for r in results] == ["sent"] * 50
    assert [s["text"].split("\n")[0] for s in server.statuses] == \
        [next(line for line in app.draft_for(a, "mastodon").text.split("\n") if line) for a in articles]
    assert all(r.status != 429 for r in server.requests)
    assert sum(clock.sleeps) >= 2 * 300 - 1  # 50+ requests at 20 per window: at least two waits for a reset


def test_retries_that_run_out_leave_the_row_pending_across_a_restart(tmp_path, server, clock):
    app = make_app(tmp_path, server, clock, policy=RetryPolicy(attempts=2, jitter=0, requeue_initial=300))
    queue(app, article(1))
    server.queue_faults(*[Fault(status=502, method="POST", path=STATUSES)] * 2)
    [result] = app.deliverer.deliver_due()
    assert result.outcome == "rescheduled"
    [row] = app.store.deliveries(1)
    assert row.state == "pending" and row.next_attempt_at == pytest.approx(clock() + 300)
    assert "HTTP 502" in row.last_error
    app.close()
    app2 = make_app(tmp_path, server, clock)
    assert app2.deliverer.deliver_due() == []  # not due yet
    clock.advance(300)
    [result] = app2.deliverer.deliver_due()
    assert result.outcome == "sent" and len(server.statuses) == 1


def test_run_once_posts_each_new_article_once_and_a_second_run_nothing(tmp_path, feed_server):
    with MastodonServer(token=TOKEN) as server:
        feed_server.set_feed("/feed/", rss(range(1, 4)))
        path = write_feeds_yaml(tmp_path, {"acr": feed_server.url("/feed/")},
                                targets={"mastodon": mastodon(server.url)}, output=True)
        env = {"SYNDICATE_MASTODON_TOKEN": TOKEN}
        first = run_cli("run", "--once", config_path=path, env=env)
        assert first.returncode == 0, first.stderr
        assert server.statuses == []  # first sight: existing articles are recorded, not posted

        feed_server.set_feed("/feed/", rss(range(1, 9)))  # five new articles published
        second = run_cli("run", "--once", config_path=path, env=env)
        assert second.returncode == 0, second.stderr
        texts = posts(server)
        assert len(texts) == 5
        for n in range(4, 9):
            assert sum(f"https://anticapitalistresistance.org/a{n}/" in t for t in texts) == 1
        assert all(TOKEN not in out for out in (first.stderr, second.stderr))

        third = run_cli("run", "--once", config_path=path, env=env)
        assert third.returncode == 0, third.stderr
        assert len(server.statuses) == 5

        status = run_cli("status", "--json", config_path=path, env=env)
        data = json.loads(status.stdout)
        posted = [d for a in data["articles"] for d in a["deliveries"]]
        assert len(posted) == 5 and all(d["state"] == "sent" and d["url"] for d in posted)
        urls = {s["url"] for s in server.statuses}
        assert {d["url"] for d in posted} == urls

        server.queue_faults(Fault(status=422, body={"error": "Validation failed: Text can't be blank"},
                                  method="POST", path=STATUSES))
        feed_server.set_feed("/feed/", rss(range(1, 10)))
        run_cli("run", "--once", config_path=path, env=env)
        table = run_cli("status", config_path=path, env=env).stdout
        assert "failed" in table and "Validation failed: Text can't be blank" in table
        assert all(url in table for url in urls)


# --- a post the server calls too long is re-composed, not lost (issue 11, item 5) ---------------


def long_linked(n: int) -> Article:
    """Fits 500 as Mastodon counts (each URL 23), not as a stricter server does (literally)."""
    slug = "-".join(["the-long-road-to-open-communism"] * 4)
    return article(n, link=f"https://anticapitalistresistance.org/2025/10/13/{slug}-{n}/")


def status_posts(server):
    return [r for r in server.requests if r.method == "POST" and r.path == STATUSES]


def test_a_server_that_counts_more_strictly_gets_one_recompose_and_the_post(tmp_path, clock):
    with MastodonServer(token=TOKEN, clock=clock, max_characters=500, count_mode="codepoints") as server:
        app = make_app(tmp_path, server, clock)
        a = long_linked(1)
        assert status_length(app.draft_for(a, "mastodon").text) <= 500 < len(app.draft_for(a, "mastodon").text)
        queue(app, a)
        [result] = app.deliverer.deliver_due()
        assert result.outcome == "sent", result
        [status] = server.statuses
        assert len(status["text"]) <= 500 and a.link in status["text"] and format_date(a.published) in status["text"]
        assert [r.status for r in status_posts(server)] == [422, 200]
        [row] = app.store.deliveries(1)
        kinds = [e.kind for e in app.store.events(row.id)]
        assert kinds == ["attempt", "recomposed", "attempt", "sent"], kinds
        assert "character limit of 500" in app.store.events(row.id)[1].detail
        app.close()
        assert not server.errors


def test_still_too_long_after_the_recompose_fails_saying_so(tmp_path, server, clock):
    app = make_app(tmp_path, server, clock)
    queue(app, article(1))
    too_long = {"error": "Validation failed: Text character limit of 500 exceeded"}
    server.queue_faults(*[Fault(status=422, body=too_long, method="POST", path=STATUSES)] * 3)
    [result] = app.deliverer.deliver_due()
    assert result.outcome == "failed"
    assert len(status_posts(server)) == 2  # the post, and once more re-composed; then no more
    [row] = app.store.deliveries(1)
    assert "re-composed" in row.last_error and "character limit of 500" in row.last_error
    assert [e.kind for e in app.store.events(row.id)][-1] == "failed"


def test_instance_limits_unreadable_at_start_up_are_read_later(tmp_path, server, clock):
    server.max_characters = 1000
    server.queue_faults(Fault(status=503, path="/api/v2/instance/?"), Fault(status=503, path="/api/v1/instance/?"))
    app = make_app(tmp_path, server, clock)
    assert app.limits("mastodon").max_length == 500  # the fallback while the instance cannot say
    clock.advance(3600)
    assert app.limits("mastodon").max_length == 1000  # asked again, not cached for the process's life


# --- a short outage keeps the backlog in order (issue 11, item 6) ---------------------------------


def test_a_probe_that_needed_retries_does_not_take_the_stuck_post_out_of_line(tmp_path, server, clock):
    app = make_app(tmp_path, server, clock, policy=RetryPolicy(attempts=4, jitter=0, requeue_initial=60))
    arts = [article(n) for n in range(3)]
    queue(app, *arts)
    # a short outage: the oldest post's four tries and the probe's first try are refused
    server.queue_faults(*[Fault(status=503, method="POST", path=STATUSES)] * 5)
    results = app.deliverer.deliver_due()
    assert [(r.article, r.outcome) for r in results] == [(arts[0].link, "rescheduled"), (arts[1].link, "sent")]
    clock.advance(3600)
    app.deliverer.deliver_due()
    order = [next(i for i, a in enumerate(arts) if a.link in s["text"]) for s in server.statuses]
    assert order == [1, 0, 2]  # only the probe went ahead; the rest kept their order


# --- no bogus wait silences anything (issue 11, item 8) -------------------------------------------


def test_a_rate_limit_reset_years_away_waits_only_max_requeue(tmp_path, server, clock):
    app = make_app(tmp_path, server, clock, policy=RetryPolicy(attempts=1, jitter=0, requeue_max=6 * 3600))
    queue(app, article(1))
    server.queue_faults(Fault(status=429, reset_in=10 * 365 * 86400, method="POST", path=STATUSES))
    [result] = app.deliverer.deliver_due()
    assert result.outcome == "rescheduled"
    [row] = app.store.deliveries(1)
    assert row.next_attempt_at <= clock() + 6 * 3600
    clock.advance(6 * 3600)
    [result] = app.deliverer.deliver_due()
    assert result.outcome == "sent" and len(server.statuses) == 1
