"""What a platform does to a post it already holds: edit it, replace it, reply to it, delete it.

The outbox's ``edit`` and ``delete`` rows (``syndicate.store.operations``)
are worked by ``syndicate.operations`` through a ``PostOps``, which each
platform provides beside its ``Target`` (``targets/mastodon_edits.py``,
``targets/bluesky/edits.py``); ``syndicate.operations.ops_for(target)``
finds it.  Every
operation is safe to repeat after a crash: it reads the post first and
does only what is still to do (an edit whose text is already there is not
sent again; a replacement already made at its key is not made twice; a
delete of a post already gone is done), so a row reclaimed after its
worker died is applied once, and only ever to the post its row names.
"""

from __future__ import annotations

from typing import Literal, Protocol

from syndicate.models import PostDraft, Posted
from syndicate.value import valueclass

__all__ = ["OpDone", "Outcome", "PostOps", "PostRef"]

Outcome = Literal["edited", "unchanged", "replaced", "replied", "refused", "deleted", "gone"]


@valueclass
class PostRef:
    """The post an operation acts on, as its post row recorded it."""

    remote_id: str  # Mastodon: the status id; Bluesky: the record's at:// URI
    url: str | None
    sent_at: float | None  # when it was posted (Unix seconds)


@valueclass
class OpDone:
    """What an operation did (``outcome``), in a line for the row's history (``detail``)."""

    outcome: Outcome
    detail: str
    posted: Posted | None = None  # ``replaced``: the new post (its row records it); ``replied``: the reply


class PostOps(Protocol):
    """A platform's operations on a post it holds."""

    def edit(self, post: PostRef, draft: PostDraft, *, policy: str, key: str, now: float,
             tried: bool) -> OpDone:
        """Carry an edit over by ``policy`` (``edit``, ``replace``, ``reply``): ``draft`` is the
        post as it would be made now (for ``reply``, the reply); ``key`` is the operation row's
        own (a replacement's or a reply's record key); ``tried``: an earlier attempt of the row
        may have begun (a crash), so part of it may be done."""
        ...

    def delete(self, post: PostRef) -> OpDone:
        """Delete the post; ``gone`` if it was not there (deleted already)."""
        ...
