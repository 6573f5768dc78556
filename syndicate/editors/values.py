"""What the editors' service answers: frozen values, and the errors it raises.

Every face (the CLI, the JSON API, the editors' page) renders these; none
of them decides anything the values do not already say.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from syndicate.errors import SyndicateError
from syndicate.value import field, valueclass

if TYPE_CHECKING:
    from syndicate.models import Article, PostDraft, TargetLimits
    from syndicate.store import ArticleStatus, Delivery, TargetPause

MAX_INTRO = 1000  # characters in an editor's intro line (``--text``, ``"text"``)
MAX_BY = 100  # characters in the name of who asks (``--by``, ``"by"``)

Origin = Literal["store", "feed", "page"]


# --- errors -----------------------------------------------------------------------------------


class EditorError(SyndicateError):
    """A request the service cannot carry out; ``str()`` is one line naming what is wrong."""


class NotFound(EditorError):
    """No article (or feed) answers to the reference."""

    def __init__(self, ref: str, message: str, problems: tuple[str, ...] = ()) -> None:
        self.ref = ref
        self.problems = problems  # feeds or pages that could not be read while looking
        super().__init__(message)


class UnknownTarget(EditorError):
    """A target name that is not in the configuration."""


class NoTarget(EditorError):
    """The article's feed posts nowhere (its targets are all disabled)."""


class InvalidInput(EditorError):
    """An intro line or a name over its limit."""

    def __init__(self, name: str, message: str) -> None:
        self.field = name
        super().__init__(f"{name}: {message}")


# --- finding ----------------------------------------------------------------------------------


@valueclass
class Found:
    """An article an editor named: from the store, or found in a feed or on its own page."""

    article: Article
    article_id: int | None  # its number in the store; None: not recorded (yet)
    origin: Origin
    problems: tuple[str, ...] = ()  # feeds or pages that could not be read on the way


# --- previews ---------------------------------------------------------------------------------


@valueclass
class TargetPreview:
    """What one target would get: the draft and its limits, or why it cannot be composed."""

    target: str
    kind: str
    draft: PostDraft | None
    limits: TargetLimits | None
    error: str | None = None
    why: tuple[str, ...] = ()  # whether and when it goes out: the target's filters, its pacing slot

    @property
    def notes(self) -> tuple[str, ...]:
        """Every "why" line: whether and when it goes out, then why the post looks as it does."""
        return self.why + (self.draft.notes if self.draft is not None else ())


@valueclass
class Preview:
    found: Found
    targets: tuple[TargetPreview, ...]


@valueclass
class ArticleDetail:
    """One recorded article with its deliveries (each with its whole history) and previews."""

    article_id: int
    article: Article
    deliveries: tuple[Delivery, ...]
    previews: tuple[TargetPreview, ...]


# --- requests ---------------------------------------------------------------------------------


@valueclass
class RepostOutcome:
    """What an editor's repost did.

    ``queued``: rows were queued for ``queued``.  ``needs_force``: the article was
    already posted (``posted``) or is waiting or being sent (``in_queue``) on an asked
    target, so nothing was queued.  ``not_queued``: no asked target can post.  Either
    way ``not_queued`` names the targets left out for lack of credentials, and why.
    """

    article_id: int
    outcome: Literal["queued", "needs_force", "not_queued"]
    queued: tuple[str, ...]
    posted: tuple[Delivery, ...]
    in_queue: tuple[Delivery, ...]
    not_queued: tuple[tuple[str, str], ...]  # (target, why it cannot post)
    requested_by: str
    intro: str | None
    found: Found

    @property
    def refused(self) -> str | None:
        """Why nothing was queued (one line, no article named), or None if something was."""
        if self.outcome == "needs_force":
            parts = []
            if self.posted:
                parts.append("already posted (" + ", ".join(f"{d.target} {d.remote_url}" for d in self.posted)
                             + ")")
            if self.in_queue:
                parts.append("already queued (" + ", ".join(f"{d.target} {d.state}" for d in self.in_queue)
                             + ")")
            return "; ".join(parts)
        if self.outcome == "not_queued":
            return "not queued: no target it goes to can post here"
        return None


@valueclass
class RetryOutcome:
    article_id: int | None  # None: every article
    target: str | None  # None: every target
    requeued: int


@valueclass
class PostNowOutcome:
    """``post-now``: the targets whose wait to settle was ended (none: nothing was waiting)."""

    article_id: int
    targets: tuple[str, ...]
    requested_by: str


@valueclass
class DeleteOutcome:
    """``delete``: what ``Store.request_delete`` did, and who asked."""

    article_id: int
    queued: tuple[str, ...]  # a delete queued for its post there
    withdrawn: tuple[str, ...]  # not posted yet: its post withdrawn
    already: tuple[str, ...]  # a delete was queued (or done) already
    nothing: tuple[str, ...]  # no post there
    requested_by: str


@valueclass
class ReleaseOutcome:
    """Held deliveries of a feed or an article, queued (or dropped with ``discarded``)."""

    feed: str | None
    article_id: int | None
    count: int
    discarded: bool

    @property
    def label(self) -> str:
        return f"feed {self.feed}" if self.feed is not None else f"article #{self.article_id}"


# --- status and health ------------------------------------------------------------------------


@valueclass
class FeedStatus:
    name: str
    url: str
    last_success_at: float | None
    error_count: int
    last_error: str | None
    held: int  # deliveries held as a suspected feed migration


@valueclass
class TargetStatus:
    name: str
    pause: TargetPause | None  # None: not paused


# --- the fleet (editors/fleet.py) ----------------------------------------------------------

WorkerState = Literal["running", "not seen", "stopped"]


@valueclass
class WorkerStatus:
    """One ``syndicate run`` on the state: when it was last seen, what it holds."""

    owner: str  # its lease owner, ``host:pid:nonce``
    host: str
    pid: int
    started_at: float
    last_seen_at: float
    stopped_at: float | None
    state: WorkerState  # "not seen": no heartbeat for a while, and no stop said (killed, or hung)
    leased: int  # outbox rows it holds now, their leases running
    expired: int  # rows it held whose leases ran out (it died, or is late): due to any worker again


@valueclass
class BudgetStatus:
    """A target's rate budget as its server last said it to any worker (``store.budgets``)."""

    target: str
    remaining: int
    reset_at: float | None
    updated_at: float
    spent: bool  # nothing left before a reset still ahead: no worker sends to it until then


@valueclass
class QueueStatus:
    """A target's outbox rows by state, and the row in flight (one per target across the fleet)."""

    target: str
    states: tuple[tuple[str, int], ...]  # (state, rows), every state the target has rows in
    leased_by: str | None  # the worker holding its row in flight
    lease_expired: bool  # that lease ran out: the row waits for the next claim


@valueclass
class Fleet:
    """The workers sharing the state, each target's shared budget and its queue, at ``now``."""

    now: float
    workers: tuple[WorkerStatus, ...]
    budgets: tuple[BudgetStatus, ...]
    queues: tuple[QueueStatus, ...]

    def count(self, state: WorkerState) -> int:
        return sum(w.state == state for w in self.workers)


@valueclass
class Status:
    """Recent articles with their deliveries and history, every feed, every target; the fleet."""

    articles: tuple[ArticleStatus, ...]
    feeds: tuple[FeedStatus, ...]
    targets: tuple[TargetStatus, ...]
    fleet: Fleet | None = None

    @property
    def pauses(self) -> tuple[TargetPause, ...]:
        return tuple(t.pause for t in self.targets if t.pause is not None)


@valueclass
class Health:
    """``ok``; ``degraded`` (running, but a target is paused); or ``unhealthy`` and why."""

    status: Literal["ok", "degraded", "unhealthy"]
    reason: str | None = None
    last_cycle_age: float | None = None  # seconds, when known
    paused: tuple[TargetPause, ...] = field(default=())

    @property
    def healthy(self) -> bool:
        """Healthy for a supervisor: a paused target is the operator's to fix, not a restart's."""
        return self.status != "unhealthy"


def pause_line(pause: TargetPause) -> str:
    """``target mastodon paused, credentials refused: …; fix SYNDICATE_MASTODON_TOKEN``."""
    return f"target {pause.target} paused, credentials refused: {pause.reason}; fix {pause.fix}"
