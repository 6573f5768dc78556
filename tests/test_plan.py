"""The plan of a feed's read: a table of situations → one intent per entry (no database, no network).

``plan.plan_feed`` is pure: the feed's state, its parsed entries and what the store knows of
them (all values built here) go in, a ``FeedPlan`` comes out.  Each row of ``SITUATIONS`` is one
rule of ``syndicate.plan``'s docstring; the end-to-end tests (test_pipeline.py,
test_link_identity.py, test_feed_mirror.py) show the same rules through the real store.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest

from syndicate.config import FeedConfig
from syndicate.fetch import FetchResult
from syndicate.intent import EditedArticle, FeedPlan, NewArticle, SkippedEntry
from syndicate.models import Article
from syndicate.parse import ParsedFeed, parse_feed
from syndicate.plan import (
    KnownEntries,
    feed_record,
    not_modified,
    plan_feed,
    plan_unchanged,
    revised,
    same_body,
    stored_for_edits,
)
from syndicate.store import FeedState, Known

NOW = datetime(2025, 10, 20, 12, 0, tzinfo=UTC).timestamp()
SITE = "https://acr.example"
TARGETS = ("masto", "bsky")


def item(n: int, *, day: int | None = None, title: str | None = None, guid: str | None = None,
         link: str | None = None) -> str:
    """An RSS item: article ``n``, dated 2025-10-``day`` (``day=0``: undated)."""
    day = n if day is None else day
    date = f"<pubDate>{day:02d} Oct 2025 10:00:00 +0000</pubDate>" if day else ""
    return (f"<item><title>{title or f'Article {n}'}</title><link>{link or f'{SITE}/a{n}/'}</link>"
            f"<guid isPermaLink=\"false\">{guid or f'g{n}'}</guid>{date}<description>Body {n}.</description></item>")


def parsed(*items: str) -> ParsedFeed:
    doc = f'<rss version="2.0"><channel><title>ACR</title><link>{SITE}/</link>{"".join(items)}</channel></rss>'
    return parse_feed("acr", doc.encode(), base_url=f"{SITE}/feed/")


def fetched(body_hash: str = "b2", *, redirect: str | None = None) -> FetchResult:
    return FetchResult(status=200, content=b"...", headers={}, url=f"{SITE}/feed/", redirects=(),
                       permanent_redirect=redirect, etag='"e2"', last_modified=None, body_hash=body_hash)


def state(*, seeded: bool = True, body_hash: str = "b1", final_url: str | None = None) -> FeedState:
    return FeedState(name="acr", url=f"{SITE}/feed/", final_url=final_url, etag='"e1"', last_modified=None,
                     body_hash=body_hash, seeded=seeded, last_fetch_at=NOW - 600, last_success_at=NOW - 600,
                     next_fetch_at=NOW, error_count=0, last_error=None)


def feed_config(**kw: object) -> FeedConfig:
    return FeedConfig(name="acr", url=f"{SITE}/feed/", **kw)


def fingerprint_of(entry_item: str) -> str:
    [entry] = parsed(entry_item).entries
    return entry.fingerprint


@dataclass(frozen=True)
class Situation:
    """One row: the feed now, what the store knows, the settings → what each entry becomes."""

    feed: tuple[str, ...]  # the items of the read, in the feed's order
    expected: tuple[str, ...]  # per entry: "new queued", "new held", "new none", "edited", "skipped: <reason>"
    known: dict[str, Known] = field(default_factory=dict)  # by incoming guid
    seeded: bool = True
    backfill: int = 0
    hold: int = 10
    targets: tuple[str, ...] = TARGETS
    newest_known: float | None = None  # Unix seconds


def known(entry_item: str, *, article_id: int = 1, feed: str = "acr", guid: str | None = None,
          edited: bool = False) -> Known:
    """What the store holds of ``entry_item`` (its fingerprint then: another one if ``edited``)."""
    [entry] = parsed(entry_item).entries
    return Known(article_id, guid or entry.id, "stored-long-ago" if edited else entry.fingerprint, feed)


def day(n: int) -> float:
    return datetime(2025, 10, n, 10, 0, tzinfo=UTC).timestamp()


SITUATIONS = {
    "first read: every entry is seen only": Situation(
        feed=(item(1), item(2), item(3)), seeded=False, expected=("new none",) * 3),
    "first read: the backfill newest are queued, whatever the feed's order": Situation(
        feed=(item(2), item(3), item(1)), seeded=False, backfill=2,
        expected=("new queued", "new queued", "new none")),
    "first read, no target: the backfill is seen only too": Situation(
        feed=(item(1), item(2)), seeded=False, backfill=2, targets=(), expected=("new none", "new none")),
    "seeded: a new entry is queued to every target": Situation(
        feed=(item(3), item(2)), known={"g2": known(item(2))}, expected=("new queued", "skipped: unchanged")),
    "seeded, no target: a new entry is seen only": Situation(
        feed=(item(3),), targets=(), expected=("new none",)),
    "an entry the feed says something else of is edited, not new": Situation(
        feed=(item(2, title="Article 2 (corrected)"),), known={"g2": known(item(2), edited=True)},
        expected=("edited",)),
    "another feed's article is left to it, changed or not": Situation(
        feed=(item(1), item(2)), known={"g1": known(item(1), feed="essf"),
                                        "g2": known(item(2), feed="essf", edited=True)},
        expected=("skipped: another feed's copy",) * 2),
    "a changed guid with a known link is the article it was (known by link identity)": Situation(
        feed=(item(1, guid="g1-v2"),), known={"g1-v2": known(item(1), guid="g1")},
        expected=("skipped: unchanged",)),
    "the same new article twice (http and https) is one": Situation(
        feed=(item(4), item(5, guid="g4-http", link="http://www.acr.example/a4")),
        expected=("new queued", "skipped: twice in this feed")),
    "more than hold_suspected_migration new, none newer than the newest known: held": Situation(
        feed=tuple(item(n) for n in range(1, 5)), hold=3, newest_known=day(9), expected=("new held",) * 4),
    "one of them newer than the newest known: news, queued": Situation(
        feed=tuple(item(n) for n in range(1, 5)), hold=3, newest_known=day(3), expected=("new queued",) * 4),
    "no more than hold_suspected_migration: queued": Situation(
        feed=tuple(item(n) for n in range(1, 4)), hold=3, newest_known=day(9), expected=("new queued",) * 3),
    "hold_suspected_migration 0 never holds": Situation(
        feed=tuple(item(n) for n in range(1, 5)), hold=0, newest_known=day(9), expected=("new queued",) * 4),
    "nothing known yet in a seeded feed: nothing to compare with, queued": Situation(
        feed=tuple(item(n) for n in range(1, 5)), hold=3, newest_known=None, expected=("new queued",) * 4),
    "a first read is never held (its backfill is the guard)": Situation(
        feed=tuple(item(n) for n in range(1, 5)), seeded=False, backfill=4, hold=3, newest_known=day(9),
        expected=("new queued",) * 4),
    "no target: nothing to hold": Situation(
        feed=tuple(item(n) for n in range(1, 5)), hold=3, newest_known=day(9), targets=(),
        expected=("new none",) * 4),
}


def outcome(intent: NewArticle | EditedArticle | SkippedEntry) -> str:
    if isinstance(intent, NewArticle):
        return f"new {intent.deliveries}"
    if isinstance(intent, EditedArticle):
        return "edited"
    return f"skipped: {intent.reason}"


def plan_of(s: Situation) -> FeedPlan:
    feed = parsed(*s.feed)
    return plan_feed(feed_config(backfill=s.backfill, hold_suspected_migration=s.hold),
                     state(seeded=s.seeded), fetched(), feed, KnownEntries(s.known, s.newest_known),
                     now=NOW, next_fetch_at=NOW + 900, targets=s.targets, recorded_dates={})


@pytest.mark.parametrize("situation", list(SITUATIONS.values()), ids=list(SITUATIONS))
def test_each_entry_gets_one_intent(situation: Situation) -> None:
    plan = plan_of(situation)
    assert tuple(outcome(i) for i in plan.intents) == situation.expected
    assert [i.article.link if isinstance(i, NewArticle | EditedArticle) else i.link for i in plan.intents] \
        == [e.link for e in parsed(*situation.feed).entries]  # in the feed's order
    for new in plan.new:
        assert new.targets == (situation.targets if new.deliveries != "none" else ())
        assert new.article.fingerprint  # the entry's, so the next read knows it unchanged


def test_the_backfill_is_the_newest_by_date_and_the_first_read_says_how_many() -> None:
    plan = plan_of(SITUATIONS["first read: the backfill newest are queued, whatever the feed's order"])
    assert [(n.article.id, n.deliveries) for n in plan.new] == [("g2", "queued"), ("g3", "queued"),
                                                                ("g1", "none")]
    assert (plan.first_read, plan.backfill) == (True, 2)
    assert ([n.article.id for n in plan.queued], [n.article.id for n in plan.seen_only], plan.held) == (
        ["g2", "g3"], ["g1"], ())
    assert not plan_of(SITUATIONS["seeded: a new entry is queued to every target"]).first_read


def test_held_deliveries_carry_one_reason_naming_the_feed_and_the_newest_known() -> None:
    plan = plan_of(SITUATIONS["more than hold_suspected_migration new, none newer than the newest known: held"])
    assert plan.held_reason == ("held: suspected feed migration (4 new entries at once, none newer than the "
                                "newest known); `syndicate release acr` posts them")
    assert plan.newest_known == day(9)
    assert plan_of(SITUATIONS["one of them newer than the newest known: news, queued"]).held_reason == ""


def test_an_edit_is_stored_under_the_stored_guid_with_the_new_fingerprint() -> None:
    now = item(1, guid="g1-v2", title="Article 1 (corrected)")
    plan = plan_of(Situation(feed=(now,), known={"g1-v2": known(item(1), article_id=7, guid="g1", edited=True)},
                             expected=("edited",)))
    [edit] = plan.edited
    assert (edit.article_id, edit.article.id, edit.article.title) == (7, "g1", "Article 1 (corrected)")
    assert edit.article.fingerprint == fingerprint_of(now)


def stored(published: datetime, feed_published: datetime | None) -> Article:
    return Article(feed="acr", id="g1", link=f"{SITE}/a1/", title="Article 1", published=published,
                   feed_published=feed_published)


@pytest.mark.parametrize(("was", "now", "published", "added_again"), [
    # undated then and now: the date it was first seen stays
    ((datetime(2025, 10, 1, tzinfo=UTC), None), (datetime(2025, 10, 20, tzinfo=UTC), None),
     datetime(2025, 10, 1, tzinfo=UTC), False),
    # dated: the feed's date, whatever it was
    ((datetime(2025, 10, 1, tzinfo=UTC),) * 2, (datetime(2025, 10, 1, 12, tzinfo=UTC),) * 2,
     datetime(2025, 10, 1, 12, tzinfo=UTC), False),
    # re-dated by more than a day: re-published, in the output feed again
    ((datetime(2025, 10, 1, tzinfo=UTC),) * 2, (datetime(2025, 10, 5, tzinfo=UTC),) * 2,
     datetime(2025, 10, 5, tzinfo=UTC), True),
    # dated now, undated before: not a re-dating
    ((datetime(2025, 10, 1, tzinfo=UTC), None), (datetime(2025, 10, 5, tzinfo=UTC),) * 2,
     datetime(2025, 10, 5, tzinfo=UTC), False),
])
def test_revised(was, now, published, added_again) -> None:
    article, again = revised(stored(*was), stored(*now))
    assert (article.published, again) == (published, added_again)
    assert revised(None, stored(*now)) == (stored(*now), False)  # the stored one is gone: as it comes


def test_the_stored_articles_of_an_edit_are_those_of_the_feeds_own_changed_entries() -> None:
    feed = parsed(item(1), item(2), item(3), item(4))
    by_guid = {"g1": known(item(1), article_id=1), "g2": known(item(2), article_id=2, edited=True),
               "g3": known(item(3), article_id=3, feed="essf", edited=True)}
    assert stored_for_edits("acr", feed.entries, by_guid) == [2]


def test_an_edited_undated_article_keeps_the_date_it_was_first_seen() -> None:
    first_seen = datetime(2025, 10, 1, 9, 0, tzinfo=UTC)
    was = replace(stored(first_seen, None), title="Undated")
    feed = parsed(item(1, day=0, title="Undated (corrected)"))
    plan = plan_feed(feed_config(), state(), fetched(), feed,
                     KnownEntries({"g1": known(item(1, day=0), article_id=5, edited=True)}, stored={5: was}),
                     now=NOW, next_fetch_at=NOW + 900, targets=TARGETS, recorded_dates={})
    [edit] = plan.edited
    assert edit.article.published == first_seen and edit.article.title == "Undated (corrected)"


def test_an_undated_new_article_takes_the_date_the_output_feed_gave_it() -> None:
    recorded = datetime(2025, 9, 1, 8, 0, tzinfo=UTC)
    feed = parsed(item(1, day=0), item(2, day=0), item(3))
    plan = plan_feed(feed_config(), state(), fetched(), feed, KnownEntries({}), now=NOW, next_fetch_at=NOW,
                     targets=TARGETS, recorded_dates={"g1": recorded, f"{SITE}/a2/": recorded,
                                                      "g3": recorded})
    assert [n.article.published for n in plan.new] == [
        recorded, recorded, datetime(2025, 10, 3, 10, 0, tzinfo=UTC)]  # by id, by link; a dated one keeps its own


def test_an_undated_new_article_without_a_recorded_date_is_dated_now() -> None:
    plan = plan_feed(feed_config(), state(), fetched(), parsed(item(1, day=0)), KnownEntries({}), now=NOW,
                     next_fetch_at=NOW, targets=TARGETS, recorded_dates={})
    assert [n.article.published.timestamp() for n in plan.new] == [NOW]


def test_the_bookkeeping_of_a_read() -> None:
    plan = plan_of(SITUATIONS["seeded: a new entry is queued to every target"])
    assert plan.record == feed_record(feed_config(), state(), fetched(), next_fetch_at=NOW + 900, seeded=True)
    assert (plan.record.etag, plan.record.body_hash, plan.record.seeded) == ('"e2"', "b2", True)
    assert (plan.status, plan.title, plan.feed) == ("fetched", "ACR", "acr")
    moved = feed_record(feed_config(), state(final_url="https://old.example/feed"),
                        fetched(redirect="https://new.example/feed"), next_fetch_at=NOW, seeded=True)
    kept = feed_record(feed_config(), state(final_url="https://old.example/feed"), fetched(),
                       next_fetch_at=NOW, seeded=True)
    assert (moved.final_url, kept.final_url) == ("https://new.example/feed", "https://old.example/feed")


def test_the_bytes_read_last_time_need_no_parsing() -> None:
    assert same_body(state(body_hash="b1"), fetched("b1"))
    assert not same_body(state(body_hash="b1"), fetched("b2"))
    assert not same_body(state(body_hash="b1", seeded=False), fetched("b1"))  # the first read is read
    assert not same_body(None, fetched("b1"))
    plan = plan_unchanged(feed_config(), state(body_hash="b1"), fetched("b1"), next_fetch_at=NOW + 900)
    assert (plan.status, plan.intents, plan.record.seeded, plan.record.next_fetch_at) == (
        "unchanged", (), False, NOW + 900)  # seeded stays as stored: the store keeps the larger


def test_a_304_is_a_named_value() -> None:
    answer = FetchResult(status=304, content=None, headers={}, url=f"{SITE}/feed/", redirects=(f"{SITE}/old",),
                         permanent_redirect=f"{SITE}/feed/", etag='"e1"', last_modified="Mon", body_hash=None)
    value = not_modified(feed_config(), answer, next_fetch_at=NOW + 60)
    assert (value.feed, value.next_fetch_at, value.etag, value.last_modified, value.permanent_redirect) == (
        "acr", NOW + 60, '"e1"', "Mon", f"{SITE}/feed/")
