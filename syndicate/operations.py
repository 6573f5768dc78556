"""The outbox worker's side of an ``edit`` or ``delete`` row: apply it to the post its row names.

``Deliverer.deliver_one`` hands such a row here once claimed.  The post is
the one its post row recorded (``Store.operation_post``: never looked for
by text, so a delete can only touch that article's post on that target).
An edit is composed now, from the stored article (so a burst of edits made
while the row waited is one edit), with the post's own intro line; a
``reply`` is the short "Updated: <title> <link>" (``changes.update_text``).
``begin_attempt`` is written before anything is sent, as for a post; the
platform's operation (``targets.operations``) reads the post first and does
only what is left, so a row reclaimed after a crash is applied once.  Then
one transaction records the outcome on both rows (``finish_operation``).
Anything raised ends the pass as it ends a post's (``syndicate.outcomes``):
lost to another worker, released at shutdown, rescheduled (transient, or a
bug), the target paused (credentials refused) or failed, with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from syndicate.changes import update_text
from syndicate.errors import AuthError, PermanentError
from syndicate.models import Facet, PostDraft
from syndicate.outcomes import LeaseLost, Outcome, end_pass
from syndicate.outcomes import Worker as PassWorker
from syndicate.store import OutboxItem
from syndicate.targets.operations import OpDone, PostOps, PostRef
from syndicate.value import replace, valueclass

if TYPE_CHECKING:
    from syndicate.models import Article
    from syndicate.targets import Target


class DraftFor(Protocol):
    """The post an article makes on a target (``delivery.DraftFor``)."""

    def __call__(self, article: Article, target: str, intro: str | None = None, *,
                 strict_limit: int | None = None) -> PostDraft: ...

log = logging.getLogger("syndicate.delivery")

__all__ = ["OpResult", "deliver_operation", "ops_for", "reply_draft"]

MAX_REPLY_TITLE = 200  # code points of the title in an "Updated: …" reply (a Bluesky post is 300)


def ops_for(target: object) -> PostOps | None:
    """The operations of ``target``'s platform (``targets.operations``; None: it has none, and
    its edit and delete rows fail saying so).  An adapter may offer its own as ``post_ops()``."""
    own = getattr(target, "post_ops", None)
    if callable(own):
        ops: PostOps | None = own()
        return ops
    from syndicate.targets.mastodon import MastodonAdapter

    if isinstance(target, MastodonAdapter):
        from syndicate.targets.mastodon_edits import MastodonOps

        return MastodonOps(target)
    from syndicate.targets.bluesky.adapter import BlueskyAdapter

    if isinstance(target, BlueskyAdapter):
        from syndicate.targets.bluesky.edits import BlueskyOps

        return BlueskyOps(target)
    return None


def reply_draft(item: OutboxItem) -> PostDraft:
    """The self-reply that carries an edit over (``edits: reply``): ``Updated: <title> <link>``,
    the link a facet (UTF-8 byte offsets)."""
    article = item.article
    title = article.title
    if len(title) > MAX_REPLY_TITLE:
        title = title[:MAX_REPLY_TITLE - 1] + "…"
    text = update_text(replace(article, title=title))
    start = len(text.encode()) - len(article.link.encode())
    return PostDraft(target=item.target, article_id=article.id, text=text, length=len(text),
                     facets=(Facet(start, len(text.encode()), "link", article.link),),
                     language=article.language)


@valueclass
class OpResult:
    """How an operation row ended, for the deliverer's ``DeliveryResult``."""

    outcome: Outcome  # a post's outcomes but "found"
    url: str | None = None
    error: str | None = None
    auth_error: AuthError | None = None  # "paused": the target refused our credentials


class Worker(PassWorker, Protocol):
    """What of the deliverer an operation uses (``delivery.Deliverer``)."""

    draft_for: DraftFor
    lease_seconds: float


def deliver_operation(d: Worker, item: OutboxItem, target: Target,
                      keep_lease: Callable[[float], None]) -> OpResult:
    """Apply one claimed ``edit`` / ``delete`` row (see the module docstring); ``keep_lease``
    waits between retries, renewing the row's lease."""
    tag = {"article": item.article.link, "target": item.target, "key": item.key, "op": item.op}
    ops = ops_for(target)
    found = d.store.operation_post(item.id)
    try:
        if ops is None:
            raise PermanentError(f"cannot {item.op} a post on this platform")
        if found is None:
            done = OpDone("gone", f"no post of the article recorded on {item.target}: nothing to {item.op}")
        else:
            post = PostRef(found[0], found[1], found[2])
            draft: PostDraft | None = None
            if item.op == "edit":
                draft = reply_draft(item) if item.policy == "reply" else d.draft_for(
                    item.article, item.target, found[3])

            def attempt() -> OpDone:
                text = draft.text if draft is not None else f"delete {post.remote_id}"
                if not d.store.begin_attempt(item.id, d.owner, now=d.clock(), lease_seconds=d.lease_seconds,
                                             text=text):
                    raise LeaseLost
                assert ops is not None
                if draft is None:
                    return ops.delete(post)
                return ops.edit(post, draft, policy=item.policy or "edit", key=item.key, now=d.clock(),
                                tried=item.may_have_landed)

            done = d.policy.call(attempt, sleep=keep_lease, clock=d.clock)
    except Exception as exc:  # lost, released, rescheduled, paused or failed, as a post (``outcomes``)
        ended = end_pass(exc, d, item, target, what="operation", tag=tag)
        return OpResult(ended.outcome, error=ended.error, auth_error=ended.auth_error)
    if not d.store.finish_operation(item.id, d.owner, done.outcome, done.detail, posted=done.posted):
        log.error("operation lease lost before recording", extra=tag)
        return OpResult("lost")
    log.info(f"{item.op}: {done.outcome}", extra={**tag, "detail": done.detail})
    return OpResult("sent", url=done.posted.url if done.posted else (found[1] if found else None))

