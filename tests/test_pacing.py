"""Pacing per target: at most ``max_per_hour``, nothing in quiet hours, a bound at their end.

With an injected clock: 30 posts queued at 20:30 London time (BST) on a target allowed 6 an
hour, quiet 22:00-07:00 Europe/London, 4 in the hour after (the default): the exact planned
times, none dropped, the queue's order kept, planned by the store as the deliverer then posts
them — on both store backends.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from syndicate.config import parse_config
from syndicate.delivery import Deliverer
from syndicate.errors import ConfigError
from syndicate.models import Article, PostDraft
from syndicate.pacing import Pacing, Slot
from syndicate.retry import RetryPolicy
from syndicate.store import Store
from tests.fakes import FakeClock, ScriptedTarget, feeds_yaml, mastodon

LONDON = ZoneInfo("Europe/London")
QUEUED_AT = datetime(2026, 6, 15, 20, 30, tzinfo=LONDON)
RULES = Pacing(max_per_hour=6, quiet_hours=(time(22), time(7)), zone=LONDON, quiet_release=4)


def london(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 6, day, hour, minute, tzinfo=LONDON).timestamp()


#: 6 at 20:30 and 6 at 21:30; the 13th would be 22:30, in the quiet hours: 4 at 07:00, when they
#: end; then 6 an hour from 08:00 (the first hour after quiet hours is spent).
EXPECTED = ([london(15, 20, 30)] * 6 + [london(15, 21, 30)] * 6 + [london(16, 7)] * 4
            + [london(16, 8)] * 6 + [london(16, 9)] * 6 + [london(16, 10)] * 2)


def test_thirty_queued_get_exact_planned_times():
    now = QUEUED_AT.timestamp()
    slots = RULES.schedule([now] * 30, [], now)
    assert [s.at for s in slots] == EXPECTED
    assert [s.why for s in slots[12:17]] == ["quiet hours"] * 4 + ["after quiet hours"]
    assert slots[6].why == "max per hour" and slots[0] == Slot(now, None)


def test_a_row_due_later_than_its_slot_keeps_its_own_time_and_posts_before_count():
    now = london(15, 12)
    posted = [now - 1800.0] * 6  # six in the last half hour: the next slot is in 30 minutes
    assert RULES.next_slot(now, posted).at == now + 1800.0
    [slot] = RULES.schedule([now + 7200.0], posted, now)  # its retry is later still: that wins
    assert slot.at == now + 7200.0


def test_quiet_hours_follow_the_local_clock_in_winter_too():
    winter = datetime(2026, 12, 2, 23, 15, tzinfo=LONDON).timestamp()  # GMT: 23:15 UTC
    assert RULES.quiet_end(winter) == datetime(2026, 12, 3, 7, tzinfo=LONDON).timestamp()
    early = datetime(2026, 12, 3, 6, 59, tzinfo=LONDON).timestamp()
    assert RULES.quiet_end(early) == datetime(2026, 12, 3, 7, tzinfo=LONDON).timestamp()
    assert RULES.quiet_end(datetime(2026, 12, 3, 7, tzinfo=LONDON).timestamp()) is None
    day = Pacing(quiet_hours=(time(12), time(13)), zone=LONDON)  # a window within one day
    assert day.quiet_end(datetime(2026, 12, 3, 12, 30, tzinfo=LONDON).timestamp()) == \
        datetime(2026, 12, 3, 13, tzinfo=LONDON).timestamp()
    assert day.quiet_end(datetime(2026, 12, 3, 11, 59, tzinfo=LONDON).timestamp()) is None


def draft_for(article, target, intro=None, strict_limit=None):
    return PostDraft(target=target, article_id=article.id, text=f"{article.title} {article.link}", length=10)


def test_the_store_plans_and_the_deliverer_posts_thirty_at_exactly_those_times(state_db):
    clock = FakeClock(QUEUED_AT)
    store = Store(state_db, clock=clock)
    try:
        articles = [Article(feed="f", id=f"g{i}", link=f"https://e.org/{i}", title=f"T{i}",
                            published=datetime(2026, 6, 15, 10, i, tzinfo=UTC)) for i in range(30)]
        store.ingest("f", new=articles, updated=[], queue={a.id: ["m"] for a in articles})
        plan = store.planned({"m": RULES})["m"]
        assert [slot.at for _, slot in plan] == EXPECTED

        target = ScriptedTarget(name="m")
        deliverer = Deliverer(store, {"m": target}, draft_for, policy=RetryPolicy(jitter=0), owner="w",
                              sleep=clock.sleep, clock=clock, pacing={"m": RULES})
        sent_at: list[float] = []
        while True:
            sent_at += [clock.now] * len(deliverer.deliver_due())
            due = deliverer.next_due_at()
            if due is None:
                break
            assert due > clock.now  # nothing due now: the deliverer waits for the next slot
            clock.now = due
        assert sent_at == EXPECTED  # none dropped, each at its planned time
        posted = [draft.article_id for _, draft in target.drafts]
        assert posted == [a.id for a in articles]  # in the queue's order
        assert {d.state for i in range(1, 31) for d in store.deliveries(i)} == {"sent"}
    finally:
        store.close()


def test_pacing_config_is_checked_when_read(tmp_path):
    def config(**pacing):
        return parse_config(feeds_yaml(tmp_path, {"f": "https://e.org/feed"},
                                       targets={"m": mastodon("https://m.example", pacing=pacing)}),
                            "feeds.yaml", environ={})

    rules = config(max_per_hour=6, quiet_hours="22:00-07:00", time_zone="Europe/London").pacing()["m"]
    assert rules == RULES
    assert config().pacing() == {}  # no pacing: not in the map, the queue is not planned
    with pytest.raises(ConfigError, match=r"feeds.yaml:\d+: targets.m.pacing.quiet_hours: .*HH:MM-HH:MM"):
        config(quiet_hours="10pm to 7am")
    with pytest.raises(ConfigError, match=r"targets.m.pacing.time_zone: unknown time zone 'Europe/Londn'"):
        config(time_zone="Europe/Londn")


def test_status_the_page_and_preview_show_the_planned_times(tmp_path, state_db):
    from syndicate.app import App
    from syndicate.editors import Editors
    from syndicate.web.page import _environment
    from tests.fakes import make_config

    clock = FakeClock(QUEUED_AT)
    pacing = {"max_per_hour": 6, "quiet_hours": "22:00-07:00", "time_zone": "Europe/London"}
    config = make_config(tmp_path, {"f": "https://e.org/feed"}, state=state_db,
                         targets={"m": mastodon("https://m.example", pacing=pacing)})
    app = App(config, targets={"m": ScriptedTarget(name="m")}, clock=clock, sleep=clock.sleep)
    try:
        articles = [Article(feed="f", id=f"g{i}", link=f"https://e.org/{i}", title=f"T{i}",
                            published=datetime(2026, 6, 15, 10, i, tzinfo=UTC)) for i in range(14)]
        app.store.ingest("f", new=articles, updated=[], queue={a.id: ["m"] for a in articles})
        editors = Editors(config, app.store, composer=app, clock=clock)
        rows = {a.title: a.deliveries[0] for a in editors.status(limit=20).articles}
        assert rows["T0"].planned_at is None  # due now: no planned time to show
        assert (rows["T6"].planned_at, rows["T6"].planned_why) == (london(15, 21, 30), "max per hour")
        assert (rows["T13"].planned_at, rows["T13"].planned_why) == (london(16, 7), "quiet hours")

        html = _environment().from_string('{% from "macros.html" import delivery %}{{ delivery(d) }}').render(
            d=rows["T13"])
        assert "planned 2026-06-16 06:00 UTC (pacing: quiet hours)" in html

        [shown] = editors.preview("g13").targets
        assert shown.notes[0] == ("pacing (max 6 per hour; quiet 22:00-07:00 Europe/London, then 4 in the "
                                  "first hour): planned 2026-06-16 06:00 UTC, quiet hours; 13 waiting before it")
        [recorded] = editors.previews(app.store.find_article_id("g0"))
        assert recorded.notes[0].endswith("goes out when due; 0 waiting before it")
    finally:
        app.close()
