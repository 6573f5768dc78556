"""Posts as records in the account's repository: looked up and created at a record key.

A post is an ``app.bsky.feed.post`` record at ``rkey`` (a TID): text, facets
(links, tags) in UTF-8 byte offsets, ``langs``, ``createdAt`` now, and the
link card, self-labels; with its threadgate and postgate, if the target has
them, in the same ``applyWrites``.  A second ``createRecord`` at the same
key is refused by the PDS with a 500, not a conflict, which is why a
delivery looks the key up first.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from syndicate.errors import PermanentError, TransientError
from syndicate.models import Facet, PostDraft, Posted
from syndicate.targets.bluesky.cards import LinkCards
from syndicate.targets.bluesky.errors import one_line, xrpc_error

if TYPE_CHECKING:
    from atproto import Client

log = logging.getLogger(__package__)  # the platform's one logger: syndicate.targets.bluesky

POST_COLLECTION = "app.bsky.feed.post"
THREADGATE_COLLECTION = "app.bsky.feed.threadgate"  # who may reply: at the post's rkey
POSTGATE_COLLECTION = "app.bsky.feed.postgate"  # who may quote (embed) it: at the post's rkey
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")  # BCP 47, loosely (ASCII: stdlib re)


def post_url(author: str, rkey: str) -> str:
    """The bsky.app address of a post; ``author`` is a DID (stable) or a handle."""
    return f"https://bsky.app/profile/{author}/post/{rkey}"


def get_post(client: Client, repo: str, rkey: str) -> Posted | None:
    """The post at ``rkey`` in ``repo``, or None when there is none (``RecordNotFound``)."""
    from atproto import exceptions, models

    try:
        resp = client.com.atproto.repo.get_record(
            models.ComAtprotoRepoGetRecord.Params(repo=repo, collection=POST_COLLECTION, rkey=rkey)
        )
    except exceptions.BadRequestError as exc:
        if xrpc_error(exc)[0] == "RecordNotFound":
            return None
        raise
    value = resp.value
    created = value.get("createdAt") if isinstance(value, dict) else getattr(value, "created_at", None)
    return Posted(remote_id=resp.uri, url=post_url(repo, rkey), posted_at=_parse_time(created))


def create_post(client: Client, repo: str, rkey: str, draft: PostDraft, *, cards: LinkCards | None,
                target: str, replies: str | Sequence[str] = "everybody", quotes: bool = True,
                reply: Any = None) -> Posted:
    """Post ``draft`` at ``rkey`` in ``repo``, with its link card made by ``cards`` (None: no card).

    ``replies`` other than ``everybody`` adds a threadgate, ``quotes=False`` a
    postgate, both at the post's ``rkey`` (as the lexicon wants) and written
    with the post in one ``applyWrites``: all three or none, so a crash never
    leaves a post without them, and finding the post (``get_post``) finds them.
    ``reply``: a ``ReplyRef`` (a self-reply, ``targets/bluesky/edits.py``).
    An invalid draft is a ``PermanentError``; a reused thumbnail the PDS no
    longer holds (``BlobNotFound``) a ``TransientError``, the blob forgotten.
    """
    from atproto import exceptions, models

    now = datetime.now(UTC)
    embed = None
    if draft.card is not None and cards is not None:
        embed = cards.embed(client, draft.card)
    try:
        record = models.AppBskyFeedPost.Record(
            text=draft.text,
            created_at=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            facets=[_facet(f) for f in draft.facets] or None,
            langs=[draft.language] if draft.language and LANGUAGE_TAG.match(draft.language) else None,
            embed=embed,
            reply=reply,
            labels=models.ComAtprotoLabelDefs.SelfLabels(values=[
                models.ComAtprotoLabelDefs.SelfLabel(val=v) for v in draft.labels]) if draft.labels else None,
        )
        gates = _gates(f"at://{repo}/{POST_COLLECTION}/{rkey}", record.created_at, replies, quotes)
    except ValueError as exc:  # pydantic's ValidationError: the draft itself is unfit
        raise PermanentError(f"posting: invalid post: {one_line(exc)}", target=target) from None
    try:
        if gates:
            writes = [models.ComAtprotoRepoApplyWrites.Create(collection=c, rkey=rkey, value=v)
                      for c, v in [(POST_COLLECTION, record), *gates]]
            done = client.com.atproto.repo.apply_writes(
                models.ComAtprotoRepoApplyWrites.Data(repo=repo, writes=writes, validate_=True))
            uri = done.results[0].uri if done.results else f"at://{repo}/{POST_COLLECTION}/{rkey}"
        else:
            uri = client.com.atproto.repo.create_record(
                models.ComAtprotoRepoCreateRecord.Data(
                    repo=repo, collection=POST_COLLECTION, rkey=rkey, record=record, validate_=True
                )
            ).uri
    except exceptions.BadRequestError as exc:
        if embed is None or cards is None or xrpc_error(exc)[0] != "BlobNotFound":
            raise
        cards.forget_blobs()  # a reused blob the PDS no longer holds: upload it again next time
        raise TransientError(f"posting: 400 BlobNotFound: {xrpc_error(exc)[1]} "
                             "(the thumbnail is uploaded again)", target=target) from None
    log.info("target %s: posted %s", target, uri)
    return Posted(remote_id=uri, url=post_url(repo, rkey), posted_at=now)


def _gates(post: str, created_at: str, replies: str | Sequence[str], quotes: bool) -> list[tuple[str, Any]]:
    """The threadgate and postgate records of the post at ``post``, as (collection, record)."""
    from atproto import models

    gates: list[tuple[str, Any]] = []
    if replies != "everybody":
        rules: list[Any] = []
        for rule in ([] if replies == "nobody" else list(replies)):
            if rule == "mentioned":
                rules.append(models.AppBskyFeedThreadgate.MentionRule())
            elif rule == "followers":
                rules.append(models.AppBskyFeedThreadgate.FollowerRule())
            elif rule == "following":
                rules.append(models.AppBskyFeedThreadgate.FollowingRule())
            else:
                rules.append(models.AppBskyFeedThreadgate.ListRule(list=rule))
        gates.append((THREADGATE_COLLECTION, models.AppBskyFeedThreadgate.Record(
            post=post, allow=rules, created_at=created_at)))
    if not quotes:
        gates.append((POSTGATE_COLLECTION, models.AppBskyFeedPostgate.Record(
            post=post, embedding_rules=[models.AppBskyFeedPostgate.DisableRule()], created_at=created_at)))
    return gates


def _facet(facet: Facet) -> Any:
    from atproto import models

    feature: Any
    if facet.kind == "link":
        feature = models.AppBskyRichtextFacet.Link(uri=facet.value)
    else:
        feature = models.AppBskyRichtextFacet.Tag(tag=facet.value.lstrip("#"))
    return models.AppBskyRichtextFacet.Main(
        features=[feature],
        index=models.AppBskyRichtextFacet.ByteSlice(byte_start=facet.byte_start, byte_end=facet.byte_end),
    )


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
