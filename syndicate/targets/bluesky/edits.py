"""Bluesky's operations on a post already made: replace it, reply to it, delete it.

A record cannot be edited in the official app, so an edit is carried over
by the target's ``edits:`` policy.  ``replace``: the post is deleted and
made again at a new record key (the operation row's own TID), only within
``replace_within`` of the post and only when nobody has replied to,
reposted, quoted or liked it where that can be read (``getPosts`` through
the account's PDS; a PDS with no AppView cannot say, and the replacement
goes ahead).  The old record is deleted *before* the new one is made, so
there are never two: a worker that died between the two finds the old one
gone and the new key empty, and makes it (only a row that was tried,
``tried``, does; otherwise the post was deleted by someone else).
A post's threadgate and postgate (at its key) go with it.
``reply``: a self-reply "Updated: <title> <link>" at the row's key, found
there if an earlier attempt made it.  A delete is ``deleteRecord`` of the
rkey the post row recorded (already gone: done).  Read back with
``getRecord``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syndicate.models import PostDraft, Posted
from syndicate.targets.bluesky.errors import xrpc_error
from syndicate.targets.bluesky.records import (
    POST_COLLECTION,
    POSTGATE_COLLECTION,
    THREADGATE_COLLECTION,
    create_post,
    get_post,
    log,
)
from syndicate.targets.operations import OpDone, PostRef

if TYPE_CHECKING:
    from atproto import Client

    from syndicate.targets.bluesky.adapter import BlueskyAdapter

__all__ = ["BlueskyOps"]


def _rkey(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


class BlueskyOps:
    """Replacements, replies and deletes of one Bluesky account's posts, over its adapter's session."""

    def __init__(self, adapter: BlueskyAdapter) -> None:
        self.adapter = adapter

    def _call(self, action: str, fn: Any) -> Any:
        return self.adapter._session.call(action, fn)

    def _repo(self, client: Client) -> str:
        return self.adapter._session.repo(client)

    def edit(self, post: PostRef, draft: PostDraft, *, policy: str, key: str, now: float,
             tried: bool) -> OpDone:
        self.adapter._check_key(key)
        if policy == "reply":
            return self._reply(post, draft, key)
        if policy != "replace":
            return OpDone("refused", f"edits: {policy} is not carried over on Bluesky")
        return self._replace(post, draft, key, now, self.adapter._cfg.replace_within, tried)

    def _replace(self, post: PostRef, draft: PostDraft, key: str, now: float, within: float,
                 tried: bool) -> OpDone:
        old_rkey = _rkey(post.remote_id)
        made: Posted | None = self._call("looking up the replacement",
                                         lambda c: get_post(c, self._repo(c), key))
        old: Posted | None = self._call("looking up the post", lambda c: get_post(c, self._repo(c), old_rkey))
        if made is not None:  # an earlier attempt made it: the old one must go
            if old is not None:
                self._delete(old_rkey)
            return OpDone("replaced", f"replaced by {made.url} (found made)", made)
        if old is None and not tried:
            return OpDone("gone", f"post {post.url or post.remote_id} is gone: nothing to replace")
        if old is not None:
            if post.sent_at is not None and now > post.sent_at + within:
                return OpDone("refused", f"not replaced: posted {round((now - post.sent_at) / 60)} min ago, "
                                         f"beyond replace_within ({round(within / 60)} min)")
            engaged = self._engagement(post.remote_id)
            if engaged:
                return OpDone("refused", f"not replaced: it has {engaged}")
            self._delete(old_rkey)
        self.adapter._check_draft(draft)
        new: Posted = self._call("posting the replacement",
                                 lambda c: self.adapter._create_post(c, draft, key))
        log.info("target %s: %s replaced by %s", self.adapter.name, post.remote_id, new.remote_id)
        return OpDone("replaced", f"deleted {post.url or post.remote_id}, made again as {new.url}", new)

    def _engagement(self, uri: str) -> str:
        """``3 likes, 1 reply`` when anybody has engaged with the post; "" when nobody has, or
        when it cannot be read (no AppView behind the PDS)."""
        try:
            got = self._call("reading the post's replies, reposts and likes",
                             lambda c: c.app.bsky.feed.get_posts({"uris": [uri]}))
        except Exception as exc:  # unreadable here: the policy goes ahead
            log.info("target %s: engagement of %s not readable (%s)", self.adapter.name, uri, exc)
            return ""
        views = getattr(got, "posts", None) or []
        if not views:
            return ""
        view = views[0]
        counts = [(getattr(view, f"{what}_count", 0) or 0, what)
                  for what in ("reply", "repost", "quote", "like")]
        return ", ".join(f"{n} {what}{'s' if n != 1 else ''}" for n, what in counts if n)

    def _reply(self, post: PostRef, draft: PostDraft, key: str) -> OpDone:
        from atproto import models

        made: Posted | None = self._call("looking up the reply", lambda c: get_post(c, self._repo(c), key))
        if made is not None:
            return OpDone("replied", f"replied {made.url} (found made)", made)

        def reply(c: Client) -> Posted | None:
            repo = self._repo(c)
            parent = c.com.atproto.repo.get_record(models.ComAtprotoRepoGetRecord.Params(
                repo=repo, collection=POST_COLLECTION, rkey=_rkey(post.remote_id)))
            ref = models.ComAtprotoRepoStrongRef.Main(uri=parent.uri, cid=parent.cid)
            value = parent.value
            root = getattr(getattr(value, "reply", None), "root", None) or ref
            return create_post(c, repo, key, draft, cards=None, target=self.adapter.name,
                               reply=models.AppBskyFeedPost.ReplyRef(root=root, parent=ref))

        old_rkey = _rkey(post.remote_id)
        if self._call("looking up the post", lambda c: get_post(c, self._repo(c), old_rkey)) is None:
            return OpDone("gone", f"post {post.url or post.remote_id} is gone: no reply made")
        self.adapter._check_draft(draft)
        new: Posted = self._call("replying", reply)
        return OpDone("replied", f"replied {new.url}: {draft.text}", new)

    def _delete(self, rkey: str) -> None:
        """Delete the post at ``rkey``, and its threadgate and postgate (at the same key) if any."""
        from atproto import exceptions, models

        def delete(c: Client) -> None:
            repo = self._repo(c)
            for collection in (THREADGATE_COLLECTION, POSTGATE_COLLECTION):
                try:
                    c.com.atproto.repo.get_record(models.ComAtprotoRepoGetRecord.Params(
                        repo=repo, collection=collection, rkey=rkey))
                except exceptions.BadRequestError as exc:
                    if xrpc_error(exc)[0] == "RecordNotFound":
                        continue
                    raise
                c.com.atproto.repo.delete_record(models.ComAtprotoRepoDeleteRecord.Data(
                    repo=repo, collection=collection, rkey=rkey))
            c.com.atproto.repo.delete_record(models.ComAtprotoRepoDeleteRecord.Data(
                repo=repo, collection=POST_COLLECTION, rkey=rkey))

        self._call("deleting the post", delete)

    def delete(self, post: PostRef) -> OpDone:
        rkey = _rkey(post.remote_id)
        there = self._call("looking up the post", lambda c: get_post(c, self._repo(c), rkey))
        if there is None:
            return OpDone("gone", f"post {post.url or post.remote_id} was gone already")
        self._delete(rkey)
        return OpDone("deleted", f"post {post.url or post.remote_id} deleted")
