"""The editors' service: everything editors and operators ask of the library, each rule once.

``Editors(config, store)`` answers the CLI and the listener alike; each
method returns frozen values (``syndicate.editors.values``) or raises an
``EditorError`` whose message is one line:

- ``find(ref)`` / ``record(ref)``: an article by its number, guid or URL (any
  link with the same identity, ``Store.find_article_id``), else an entry of
  a configured feed, else (a URL) the article's own page; ``record`` stores
  what it found, as seen, so it can be queued;
- ``preview(ref)`` and ``detail(id)``: what each target would get, and why
  (the "why" lines: the target's filters, its pacing slot, the composer's
  notes);
- ``repost(ref)``: the editors' rule in one store transaction
  (``Store.request_repost``): an asked target the article was posted to, or
  that has a post of it waiting or being sent, refuses the whole request
  unless ``force``.  Default targets are the feed's; a target the daemon
  cannot post to (no credentials) is not queued, and the outcome says why;
- ``retry``, ``release`` (held deliveries), ``status``, ``health``; ``status``
  and ``recent`` give each waiting delivery of a paced target its planned
  time (``Store.planned``).

**Who can post.**  The daemon records, each start and reload, which targets
it can post to (``Store.record_daemon_targets``).  That record decides,
wherever the repost comes from: a CLI without the daemon's secrets still
queues for what the daemon can send.  With no record (no daemon ever ran on
this state), the process's own view decides: ``cannot_post_here`` (the
listener's App), else the credentials in this environment.

**Health**: the last cycle is at most 3 × the shortest poll interval + 300 s
old (or ``max_age``) and the store is readable; a paused target makes it
``degraded``, still healthy for a supervisor.  The last cycle is the
worker's own: the listener's (``worker``, its App's lease owner), or for
``syndicate health`` this host's newest worker that has not stopped (a
container's own; ``state_health``) — on a fleet any worker's cycle moves
the state's ``last_cycle_at``, and one worker's loop may hang while the
others go on.  With no worker recorded (``run --once``, ``feed``, a check
from another machine) it is the state's last cycle, any worker's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from syndicate.editors import finding
from syndicate.editors.fleet import fleet_view
from syndicate.editors.values import (
    MAX_BY,
    MAX_INTRO,
    ArticleDetail,
    DeleteOutcome,
    FeedStatus,
    Found,
    Health,
    InvalidInput,
    NoTarget,
    NotFound,
    PostNowOutcome,
    Preview,
    ReleaseOutcome,
    RepostOutcome,
    RetryOutcome,
    Status,
    TargetPreview,
    TargetStatus,
    UnknownTarget,
    pause_line,
)
from syndicate.errors import StoreError
from syndicate.lazylog import getLogger
from syndicate.value import replace, valueclass

if TYPE_CHECKING:
    from syndicate.config import Config
    from syndicate.fetch import Fetcher
    from syndicate.models import Article, PostDraft, TargetLimits
    from syndicate.store import ArticleStatus, Delivery, Store, TargetPause

log = getLogger("syndicate.editors")

HEALTH_GRACE = 300.0  # seconds beyond 3 poll intervals before the daemon counts as stuck


class Composer(Protocol):
    """What previews need of an ``App``: its drafts and its targets' limits."""

    def draft_for(self, article: Article, target: str, intro: str | None = None) -> PostDraft: ...

    def limits(self, target: str) -> TargetLimits: ...


class Editors:
    """The service over one configuration and store (not thread-safe beyond the store's own
    safety: make one per request or per command)."""

    def __init__(self, config: Config, store: Store, *, composer: Composer | None = None,
                 fetcher: Fetcher | None = None, cannot_post_here: Mapping[str, str] | None = None,
                 environ: Mapping[str, str] | None = None, clock: Callable[[], float] = time.time,
                 worker: str | None = None) -> None:
        self.config = config
        self.store = store
        self.worker = worker  # the worker this face runs in (its lease owner): health is its own
        self.composer = composer
        self.clock = clock
        self._fetcher = fetcher
        self._own_fetcher: Fetcher | None = None
        self._cannot_post_here = cannot_post_here
        self._environ = environ

    def close(self) -> None:
        """Close what the service opened itself (a fetcher); the store stays the caller's."""
        if self._own_fetcher is not None:
            self._own_fetcher.close()
            self._own_fetcher = None

    # -- finding -----------------------------------------------------------------------------

    def find(self, ref: str) -> Found:
        """The article ``ref`` names: by number, guid or URL in the store, else in a configured
        feed, else (a URL) on its own page.  Raises ``NotFound``."""
        article_id = self._in_store(ref)
        if article_id is not None:
            article = self.store.article(article_id)
            if article is not None:
                return Found(article, article_id, "store")
        now = datetime.fromtimestamp(self.clock(), UTC)
        article, problems = finding.in_feeds(self.config, self.fetcher, ref, now)
        if article is not None:
            return Found(article, None, "feed", tuple(problems))
        where = "not in the store nor in any configured feed"
        if finding.is_url(ref):
            article, problem = finding.on_its_page(self.config, self.fetcher, ref, now)
            if article is not None:
                return Found(article, None, "page", tuple(problems))
            problems += [problem] if problem else []
            where += " nor readable as a page"
        raise NotFound(ref, f"article {ref}: {where}", tuple(problems))

    def record(self, ref: str) -> Found:
        """``find(ref)``, stored as seen (not queued) if it was not: ``article_id`` is set."""
        found = self.find(ref)
        if found.article_id is not None:
            return found
        article = found.article
        article_id = self.store.find_article_id(article.id) or self.store.find_article_id(article.link)
        if article_id is None:
            self.store.ingest(article.feed, new=[replace(article, fingerprint="manual")], updated=[],
                              queue={}, seeded=False)
            article_id = self.store.find_article_id(article.id)
        if article_id is None:  # pragma: no cover - ingest records it or raises StoreError
            raise StoreError(f"article {ref}: could not be recorded")
        return replace(found, article_id=article_id)

    def recorded(self, ref: str | int) -> Found:
        """An article the store holds (by number, guid or URL); raises ``NotFound``."""
        article_id = ref if isinstance(ref, int) else self._in_store(ref)
        article = self.store.article(article_id) if article_id is not None else None
        if article_id is None or article is None:
            raise NotFound(str(ref), f"article {ref}: not in the store")
        return Found(article, article_id, "store")

    def _in_store(self, ref: str) -> int | None:
        from syndicate.links import canonical_url

        article_id = self.store.find_article_id(ref)
        if article_id is None and finding.is_url(ref):
            article_id = self.store.find_article_id(canonical_url(ref))
        return article_id

    @property
    def fetcher(self) -> Fetcher:
        if self._fetcher is None:
            if self._own_fetcher is None:
                from syndicate.fetch import Fetcher
                from syndicate.netguard import AddressPolicy

                self._own_fetcher = Fetcher(self.config.user_agent,
                                            content_policy=AddressPolicy.from_config(self.config.security))
            return self._own_fetcher
        return self._fetcher

    # -- targets -----------------------------------------------------------------------------

    def check_targets(self, names: Sequence[str]) -> list[str]:
        """``names`` without repeats, each a configured target; raises ``UnknownTarget``."""
        names = list(dict.fromkeys(names))
        for name in names:
            if name not in self.config.targets:
                known = ", ".join(sorted(self.config.targets)) or "none"
                raise UnknownTarget(f"target {name[:100]}: not in {self.config.source} (known: {known})")
        return names

    def cannot_post(self) -> dict[str, str]:
        """Target → why the daemon cannot post there (no credentials): what the daemon recorded
        at its last start or reload, else this process's own view."""
        recorded = self.store.daemon_targets()
        if self._cannot_post_here is not None:
            here = dict(self._cannot_post_here)
        else:
            here = self.config.missing_credentials(self._environ)
        if recorded is None:
            return here
        out = {name: why for name, why in recorded.items() if why is not None}
        out.update({name: why for name, why in here.items() if name not in recorded})
        return out

    # -- previews ----------------------------------------------------------------------------

    def preview(self, ref: str, targets: Sequence[str] = (), intro: str | None = None) -> Preview:
        """What would be posted for ``ref`` on each target (default: the feed's, else all)."""
        names = self.check_targets(targets)
        intro = self._intro(intro)
        found = self.find(ref)
        return Preview(found, self._previews(found.article, names, intro, found.article_id))

    def previews(self, article_id: int) -> tuple[TargetPreview, ...]:
        """A recorded article's preview per target (the feed's, else all)."""
        return self._previews(self.recorded(article_id).article, [], None, article_id)

    def detail(self, article_id: int) -> ArticleDetail:
        """A recorded article with every delivery's whole history and a preview per target."""
        found = self.recorded(article_id)
        return ArticleDetail(article_id, found.article, self._planned(self.store.deliveries(article_id)),
                             self._previews(found.article, [], None, article_id))

    def _planned(self, deliveries: Sequence[Delivery]) -> tuple[Delivery, ...]:
        """``deliveries`` with each pending one's planned time, where its target is paced."""
        now = self.clock()  # a post never tried, due later, waits to settle
        deliveries = [replace(d, settle_until=d.next_attempt_at) if d.op == "post" and d.state == "pending"
                      and not d.attempts and (d.next_attempt_at or 0) > now else d for d in deliveries]
        pacing = self.config.pacing()
        targets = {d.target for d in deliveries if d.state == "pending" and d.target in pacing}
        if not targets:
            return tuple(deliveries)
        slots = {row: slot for plan in self.store.planned(pacing, sorted(targets)).values()
                 for row, slot in plan}
        return tuple(replace(d, planned_at=slots[d.id].at, planned_why=slots[d.id].why)
                     if d.id in slots and slots[d.id].why is not None else d for d in deliveries)

    def _why(self, article: Article, name: str, article_id: int | None,
             notes: Sequence[str] = ()) -> tuple[str, ...]:
        """Whether and when ``article`` goes out on ``name``: the article's ``notes``, its filters'
        verdict, its pacing slot."""
        from syndicate.editors.as_json import minute
        from syndicate.filters import verdict

        lines = list(notes)
        try:
            filters = self.config.filters_for(self.config.feed(article.feed), name)
        except KeyError:  # the feed was removed from the config since
            filters = (self.config.targets[name].filters.rules(f"targets.{name}.filters"),)
        found = verdict(article, filters)
        if found is not None:
            lines.append(f"not posted to {name}: {found[0]} ({found[1]}); an editor's repost still posts it")
        elif filters:
            lines.append("filters: passes " + ", ".join(f.where for f in filters))
        rules = self.config.pacing().get(name)
        if rules is not None and found is None:
            plan = self.store.planned({name: rules}, [name], extra=1)[name]
            pending = {d.id for d in self.store.deliveries(article_id) if d.target == name
                       and d.state == "pending"} if article_id is not None else set()
            waiting = next((i for i, (row, _) in enumerate(plan) if row in pending), len(plan) - 1)
            slot = plan[waiting][1]
            lines.append(f"pacing ({rules.describe()}): " + (
                f"planned {minute(slot.at)} UTC, {slot.why}" if slot.why else "goes out when due")
                + f"; {waiting} waiting before it")
        return tuple(lines)

    def _previews(self, article: Article, names: Sequence[str],
                  intro: str | None, article_id: int | None = None) -> tuple[TargetPreview, ...]:
        if self.composer is None:
            raise RuntimeError("previews need a composer (an App)")
        names = list(names) or self.config.targets_for_feed(article.feed) or list(self.config.targets)
        out = []
        notes = self.notes([article_id]).get(article_id, ()) if article_id is not None else ()  # once
        for name in names:
            why = self._why(article, name, article_id, notes)
            kind = self.config.targets[name].kind
            try:
                draft = self.composer.draft_for(article, name, intro)
                limits = self.composer.limits(name)
            except Exception as exc:  # a broken template must not break the page or the command
                log.warning(
                    "preview failed", extra={"article": article.link, "target": name, "error": str(exc)})
                out.append(TargetPreview(name, kind, None, None, f"cannot compose: {exc}", why))
                continue
            out.append(TargetPreview(name, kind, draft, limits, why=why))
        return tuple(out)

    # -- requests ----------------------------------------------------------------------------

    def repost(self, ref: str | int, *, requester: str, requested_by: str | None = None,
               targets: Sequence[str] | None = None, intro: str | None = None,
               force: bool = False) -> RepostOutcome:
        """Queue a new post of ``ref`` now (recording it first if it came from a feed or its page;
        a number must be recorded already) for ``targets`` or the feed's.  ``requested_by`` names
        who asks; without one, ``requester`` (the OS user, the API, the editors' page) is recorded."""
        if targets is not None and not targets:
            raise InvalidInput("targets", "expected a non-empty list of target names")
        names = self.check_targets(targets or [])
        intro, who = self._intro(intro), self._requested_by(requested_by) or requester
        found = self.recorded(ref) if isinstance(ref, int) else self.record(ref)
        assert found.article_id is not None
        if not names:
            names = self.config.targets_for_feed(found.article.feed)
        if not names:
            raise NoTarget("no target to post to: the feed's targets are all disabled")
        cannot = self.cannot_post()
        request = self.store.request_repost(found.article_id, names, requested_by=who, intro=intro,
                                            force=force, no_credentials=cannot)
        skipped = tuple((t, cannot[t]) for t in request.no_credentials)
        outcome: Literal["queued", "needs_force", "not_queued"] = (
            "needs_force" if request.refused else "not_queued" if not request.queued else "queued")
        return RepostOutcome(found.article_id, outcome, request.queued, request.posted, request.in_queue,
                             skipped, who, intro, found)

    def retry(self, ref: str | int | None = None, target: str | None = None) -> RetryOutcome:
        """Put the failed deliveries (of ``ref``, of ``target``, or all) back in the queue."""
        if target is not None:
            self.check_targets([target])
        article_id = self.recorded(ref).article_id if ref is not None else None
        return RetryOutcome(article_id, target, self.store.retry_failed(article_id, target))

    def release(self, what: str, *, discard: bool = False) -> ReleaseOutcome:
        """Queue (or drop) the deliveries held as a suspected feed migration, of a feed (by name)
        or of an article (number, guid or URL)."""
        feeds = {f.name for f in self.config.feeds} | set(self.store.held_feeds())
        feed, article_id = (what, None) if what in feeds else (None, self._in_store(what))
        if feed is None and article_id is None:
            raise NotFound(what, f"{what}: neither a feed in {self.config.source} "
                                 "nor an article in the store")
        if discard:
            count = self.store.discard_held(feed=feed, article_id=article_id)
        else:
            count = self.store.release_held(feed=feed, article_id=article_id)
        return ReleaseOutcome(feed, article_id, count, discard)

    def post_now(self, ref: str | int, *, requester: str, requested_by: str | None = None) -> PostNowOutcome:
        """End the wait to settle of a recorded article's posts: they go at once."""
        found = self.recorded(ref)
        assert found.article_id is not None
        who = self._requested_by(requested_by) or requester
        cleared = self.store.post_now(found.article_id, requested_by=who)
        return PostNowOutcome(found.article_id, tuple(cleared), who)

    def delete(self, ref: str | int, *, requester: str, requested_by: str | None = None,
               targets: Sequence[str] | None = None) -> DeleteOutcome:
        """Delete a recorded article's posts (on ``targets``, default everywhere it has one),
        recorded with who asked; a post not sent yet is withdrawn (``Store.request_delete``)."""
        found = self.recorded(ref)
        assert found.article_id is not None
        who = self._requested_by(requested_by) or requester
        names = self.check_targets(targets or []) or sorted(
            {d.target for d in self.store.deliveries(found.article_id) if d.op == "post" and d.id})
        done = self.store.request_delete(found.article_id, names, requested_by=who)
        return DeleteOutcome(found.article_id, done.queued, done.withdrawn, done.already, done.nothing, who)

    def _intro(self, intro: str | None) -> str | None:
        intro = (intro or "").strip() or None
        if intro is not None and len(intro) > MAX_INTRO:
            raise InvalidInput("text", f"expected a string of at most {MAX_INTRO} characters")
        return intro

    def _requested_by(self, requested_by: str | None) -> str | None:
        who = (requested_by or "").strip() or None
        if who is not None and len(who) > MAX_BY:
            raise InvalidInput("by", f"expected a name of at most {MAX_BY} characters")
        return who

    # -- status and health -------------------------------------------------------------------

    def recent(self, limit: int = 20) -> tuple[ArticleStatus, ...]:
        """The ``limit`` most recent articles with their deliveries and history (a paced
        target's waiting ones with their planned time)."""
        articles = self.store.recent(limit)
        planned = self._planned([d for a in articles for d in a.deliveries])
        by_id = {d.id: d for d in planned if d.id}
        notes = self.notes([a.id for a in articles])
        return tuple(replace(a, deliveries=tuple(by_id.get(d.id, d) if d.id else d for d in a.deliveries),
                             notes=notes.get(a.id, ())) for a in articles)

    def notes(self, article_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        """Article id → what editors are told of its life after the feed (gone at source, a copy)."""
        from syndicate.copies import copy_notes
        from syndicate.unpublish import gone_notes

        out: dict[int, tuple[str, ...]] = {}
        for notes in (copy_notes(self.store, article_ids), gone_notes(self.config, self.store, article_ids)):
            for article_id, note in notes.items():
                out[article_id] = (*out.get(article_id, ()), note)
        return out

    def status(self, limit: int = 20) -> Status:
        """The ``limit`` most recent articles with deliveries and history, feeds, targets, and the
        fleet (``editors.fleet``: workers, shared budgets, queues)."""
        articles = self.recent(limit)
        held = self.store.held_feeds()
        feeds = tuple(FeedStatus(f.name, f.url, f.last_success_at, f.error_count, f.last_error,
                                 held.get(f.name, 0)) for f in self.store.feed_states())
        pauses = self.store.paused_targets()
        names = sorted(set(self.config.targets) | set(self.store.target_names()))
        return Status(articles, feeds, tuple(TargetStatus(n, pauses.get(n)) for n in names),
                      fleet_view(self.store, self.clock()))

    def queues(self) -> dict[str, dict[str, int]]:
        """Target → {state: rows} in the outbox."""
        return self.store.outbox_depth()

    def health_limit(self) -> float:
        """How old the last cycle may be: 3 × the shortest poll interval + 300 s."""
        return 3 * min(self.config.poll_interval_for(f) for f in self.config.feeds) + HEALTH_GRACE

    def health(self, max_age: float | None = None) -> Health:
        limit = max_age if max_age is not None else self.health_limit()
        try:
            last = self._last_cycle(limit)
            pauses: tuple[TargetPause, ...] = tuple(self.store.paused_targets().values())
        except StoreError as exc:
            return Health("unhealthy", f"store unreadable: {exc}")
        if isinstance(last, _Started):  # this worker has ended no cycle in all the time since it started
            age = self.clock() - last.at
            return Health("unhealthy", f"no cycle has ended in the {age:.0f}s since the worker started "
                                       f"(limit {limit:.0f}s)", age)
        if last is None:
            return Health("unhealthy", "no cycle has run yet")
        try:
            age = self.clock() - float(last)
        except ValueError:
            return Health("unhealthy", f"bad last_cycle_at in the store: {last!r}")
        if age > limit:
            return Health("unhealthy", f"last cycle {age:.0f}s ago (limit {limit:.0f}s)", age)
        if pauses:  # running, but not posting there
            return Health("degraded", "; ".join(pause_line(p) for p in pauses), age, pauses)
        return Health("ok", None, age)

    def _last_cycle(self, limit: float) -> str | _Started | None:
        """When the last cycle ended (as stored): this worker's, if it is recorded, else the
        state's (see the module docstring).  A worker that has ended no cycle yet counts the
        state's until ``limit`` has passed since it started (a restart's first cycle may be long
        and is no hang), then its start (``_Started``): it is overdue."""
        mine = [w for w in self.store.workers() if w.owner == self.worker] if self.worker else []
        if mine and mine[0].last_cycle_at is not None:
            return repr(mine[0].last_cycle_at)
        if mine and self.clock() - mine[0].started_at > limit:
            return _Started(mine[0].started_at)
        return self.store.get_meta("last_cycle_at")


@valueclass
class _Started:
    """A worker that has not ended a cycle yet, started at ``at``."""

    at: float


def host_worker(store: Store, host: str) -> str | None:
    """The worker of ``host`` a health check there speaks for: its newest that has not said it
    stopped (a container's own process; an older one not stopped was killed)."""
    running = [w for w in store.workers() if w.host == host and w.stopped_at is None]
    return max(running, key=lambda w: w.started_at).owner if running else None


def state_health(config: Config, *, max_age: float | None = None,
                 clock: Callable[[], float] = time.time) -> Health:
    """``Editors.health`` of the state ``config`` names, opened here (and never created), for this
    host's worker (``host_worker``), if one is recorded."""
    from syndicate.store import Store

    if isinstance(config.state, Path) and str(config.state) != ":memory:" and not config.state.exists():
        return Health("unhealthy", f"no state database at {config.state}")
    try:
        store = Store(config.state)
    except StoreError as exc:
        return Health("unhealthy", f"store unreadable: {exc}")
    try:
        try:
            worker = host_worker(store, os.uname().nodename)  # socket.gethostname()'s, without socket
        except StoreError as exc:
            return Health("unhealthy", f"store unreadable: {exc}")
        return Editors(config, store, clock=clock, worker=worker).health(max_age)
    finally:
        store.close()
