"""Bluesky (AT Protocol) delivery with the ``atproto`` SDK.

One ``deliver`` (``adapter``) is, in order:

1. refuse a text over the limit (300 graphemes, 3,000 UTF-8 bytes) before
   any network call (``bluesky_post``: the platform's rules, the draft's
   facets and card);
2. log in (``session``): reuse the session the ``SessionStore`` holds if it
   was made for the configured ``service`` and ``handle``; log in with
   handle and app password only when there is none, when it was made for
   another service or handle, or when the server rejects it (once per call);
3. ``getRecord`` at the record key ``key`` (``records``): an earlier attempt
   may have landed before a crash or a lost answer.  If it is there, it is
   the post;
4. upload the card's thumbnail, if any (``cards``: the feed's image, else
   the article page's ``og:image``, fitted to the blob limit; any failure:
   one log line, no thumbnail; a retry reuses the blob and the page read);
5. ``createRecord`` of an ``app.bsky.feed.post`` with ``rkey=key``
   (``records``): text, facets, ``langs``, ``createdAt`` now, and the card.

Record keys must be TIDs: ``tid_for`` makes one from an integer (see
``syndicate.tid``).  Errors leave as ``syndicate.errors``, by the one status
table there (``errors``).  Neither the password nor any token is ever logged
or put in a message.  Every piece logs to this module's logger,
``syndicate.targets.bluesky``.
"""

from __future__ import annotations

from syndicate.config import BlueskyTarget, Secret
from syndicate.targets.base import Services, SessionStore
from syndicate.targets.bluesky.adapter import RESET_MARGIN, BlueskyAdapter
from syndicate.targets.bluesky_post import count_graphemes, prepare_thumb
from syndicate.tid import tid_for

__all__ = ["RESET_MARGIN", "BlueskyAdapter", "SessionStore", "build", "count_graphemes", "prepare_thumb",
           "tid_for"]


def build(name: str, cfg: BlueskyTarget, password: Secret, services: Services) -> BlueskyAdapter:
    """The adapter for one ``kind: bluesky`` target (``bluesky_post.PLATFORM``'s ``build``)."""
    return BlueskyAdapter(name, cfg, password, session_store=services.session_store,
                          fetch_image=services.fetch_image, page_image=services.page_image)
