"""Mastodon's operations on a status already posted: edit it in place, delete it.

An edit is ``PUT /api/v1/statuses/:id`` through Mastodon.py's
``status_update``.  Mastodon resets what an edit leaves out (no
``media_ids``: the media are removed; no ``spoiler_text``: the warning), so
the status is read first and its media, content warning and sensitivity
are sent again as they are; its visibility cannot change, and its language
is kept (``status_update`` does not send one).  The status's source text
is read first too: one that already says the new text is not edited again
(a row reclaimed after a crash that had edited it is applied once; an edit
that changes nothing in the post makes no edit).  A delete is ``DELETE
/api/v1/statuses/:id`` of the status the post row recorded, read first:
one already gone (404) is done, and nothing is sent.  Errors go through the adapter's one table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from syndicate.models import PostDraft
from syndicate.targets.operations import OpDone, PostRef

if TYPE_CHECKING:
    from mastodon import Mastodon

    from syndicate.targets.mastodon import MastodonAdapter

__all__ = ["MastodonOps"]

T = TypeVar("T")


def _unless_gone(fn: Callable[[], T]) -> T | None:
    """``fn()``, or None when the status is not there (404)."""
    from mastodon.errors import MastodonNotFoundError

    try:
        return fn()
    except MastodonNotFoundError:
        return None


class MastodonOps:
    """Edits and deletes of one Mastodon account's statuses, over its adapter's client."""

    def __init__(self, adapter: MastodonAdapter) -> None:
        self.adapter = adapter

    def _call(self, action: str, fn: Callable[[Mastodon], T]) -> T:
        return self.adapter._call(action, fn)

    def edit(self, post: PostRef, draft: PostDraft, *, policy: str, key: str, now: float,
             tried: bool) -> OpDone:
        sid = post.remote_id
        status: Any = self._call("reading the status", lambda c: _unless_gone(lambda: c.status(sid)))
        if status is None:
            return OpDone("gone", f"status {post.url or sid} is gone: nothing to edit")
        source: Any = self._call("reading the status's source",
                                 lambda c: _unless_gone(lambda: c.status_source(sid)))
        if source is not None and source.text == draft.text:
            return OpDone("unchanged", f"status {post.url or sid} already says this: not edited again")
        media = [m.id for m in status.media_attachments or ()]
        self._call("editing the status", lambda c: c.status_update(
            sid, draft.text, spoiler_text=status.spoiler_text or None,
            sensitive=bool(status.sensitive) if status.spoiler_text or media else None,
            media_ids=media or None))
        return OpDone("edited", f"status {post.url or sid} edited in place")

    def delete(self, post: PostRef) -> OpDone:
        sid = post.remote_id
        there = self._call("reading the status", lambda c: _unless_gone(lambda: c.status(sid)))
        if there is None:
            return OpDone("gone", f"status {post.url or sid} was gone already")
        done = self._call("deleting the status", lambda c: _unless_gone(lambda: c.status_delete(sid)))
        if done is None:
            return OpDone("gone", f"status {post.url or sid} was gone already")
        return OpDone("deleted", f"status {post.url or sid} deleted")
