"""``BlueskyAdapter``: the ``Target`` for one Bluesky account, in the order a delivery takes.

It checks before any network call (a TID key, a draft within the limits),
then, through its ``BlueskySession``, posts at the record key (``records``),
with a link card (``cards``).  A key this adapter has sent a post at before
(a retry after a timeout, a 5xx, a dropped answer) is looked up first and
posted only when nothing is there: a second ``createRecord`` at a key is
refused with a 500, not answered with the first post.  A key an earlier
process may have sent is the outbox's to look up (``lookup``, for a row whose
``first_attempt_at`` is set) before it hands the row to ``deliver``; so a
first attempt costs one request, not two.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from syndicate.config import BlueskyTarget, Secret
from syndicate.errors import PermanentError
from syndicate.models import Attempted, PostDraft, Posted, TargetLimits
from syndicate.targets import bluesky_post
from syndicate.targets.base import SessionStore
from syndicate.targets.bluesky_post import offline_limits
from syndicate.tid import is_tid

if TYPE_CHECKING:  # the session, the records and the cards: imported when first used, not to build
    from atproto import Client

    from syndicate.targets.bluesky.cards import LinkCards
    from syndicate.targets.bluesky.session import BlueskySession

log = logging.getLogger(__package__)  # the platform's one logger: syndicate.targets.bluesky

RESET_MARGIN = 1.0  # seconds past ratelimit-reset (whole seconds, rounded down) before sending again
SENT_KEYS = 4096  # record keys remembered as sent by this adapter (looked up before a repeat)


class BlueskyAdapter:
    """The ``Target`` for one Bluesky account (``kind: bluesky`` in feeds.yaml)."""

    def __init__(
        self,
        name: str,
        cfg: BlueskyTarget,
        password: Secret,
        *,
        session_store: SessionStore | None = None,
        fetch_image: Callable[[str], tuple[bytes, str]] | None = None,
        page_image: Callable[[str], str | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._cfg = cfg
        self._password = password
        self._session_store = session_store
        self._made_session: BlueskySession | None = None  # ``_session``, once made
        self._fetch_image, self._page_image, self._clock = fetch_image, page_image, clock
        self._cards: LinkCards | None = None  # ``_link_cards``, once made
        self._sent: dict[str, None] = {}  # keys a createRecord went out at, oldest first

    @property
    def _session(self) -> BlueskySession:
        """The account's logged-in client, made when first asked: an adapter built for a cycle
        that sends nothing (a feed's 304) imports neither it nor the records and cards."""
        if self._made_session is None:
            from syndicate.targets.bluesky.session import BlueskySession

            self._made_session = BlueskySession(self.name, self._cfg, self._password, self._session_store)
        return self._made_session

    def _link_cards(self) -> LinkCards:
        """The posts' link cards, kept for the adapter's life (a retry reuses a card's blob)."""
        if self._cards is None:
            from syndicate.targets.bluesky.cards import LinkCards

            self._cards = LinkCards(self.name, fetch_image=self._fetch_image, page_image=self._page_image,
                                    clock=self._clock)
        return self._cards

    # -- the Target protocol --

    def limits(self) -> TargetLimits:
        """300 graphemes and 3,000 bytes; ``max_length`` in the config can only lower it (the PDS
        enforces the lexicon's)."""
        return offline_limits(self._cfg)

    def lookup(self, attempted: Attempted) -> Posted | None:
        """The post an earlier request of the row made: ``getRecord`` at its rkey, which no
        other post can hold."""
        self._check_key(attempted.key)
        return self._session.call("looking up the post", lambda client: self._get_post(client, attempted.key))

    def deliver(self, draft: PostDraft, key: str) -> Posted:
        """Post ``draft`` at record key ``key``; after an earlier request of ours at ``key``, the
        post already there if it landed."""
        self._check_key(key)
        self._check_draft(draft)
        if key in self._sent:  # a request at this key left before: it may have landed unheard
            existing = self._session.call("looking up the post", lambda client: self._get_post(client, key))
            if existing is not None:
                log.info("target %s: post %s already exists (an earlier attempt landed)", self.name, key)
                return existing
        else:
            self._sent[key] = None
            while len(self._sent) > SENT_KEYS:
                del self._sent[next(iter(self._sent))]
        return self._session.call("posting", lambda client: self._create_post(client, draft, key))

    def rate_budget(self) -> tuple[int, datetime | None] | None:
        """``(remaining, reset)`` from the last answer's ``ratelimit-*`` headers; None before any.

        A PDS with rate limits on (bsky.social) sends them on every limited
        route; the reset given is when this adapter will send again (the
        PDS's, rounded down to the second, plus ``RESET_MARGIN``).
        """
        budget = self._made_session.budget if self._made_session is not None else None
        if budget is None:
            return None
        remaining, reset = budget
        return remaining, (reset + timedelta(seconds=RESET_MARGIN) if reset else None)

    def verify(self) -> str:
        """Log in (the stored session, else the password) and ask ``getSession``: one line to show.

        An explicit check asks again even if this adapter's password was
        refused before.  Raises ``AuthError`` when the credentials are refused.
        """
        self._session.forget_refusal()
        info = self._session.call("verifying the credentials",
                                  lambda client: client.com.atproto.server.get_session())
        return f"{info.handle} ({info.did}) on {self._cfg.service}, {self.limits().max_length} graphemes"

    def close(self) -> None:
        if self._made_session is not None:
            self._made_session.close()

    # -- checks made before any network call --

    def _check_key(self, key: str) -> None:
        if not is_tid(key):
            raise PermanentError(f"record key {key!r} is not a TID", target=self.name)

    def _check_draft(self, draft: PostDraft) -> None:
        bluesky_post.check_draft(draft, self.limits(), self.name)

    # -- records --

    def _get_post(self, client: Client, rkey: str) -> Posted | None:
        from syndicate.targets.bluesky import records

        return records.get_post(client, self._session.repo(client), rkey)

    def _create_post(self, client: Client, draft: PostDraft, rkey: str) -> Posted:
        from syndicate.targets.bluesky import records

        cards = self._link_cards() if self._cfg.link_card else None
        return records.create_post(client, self._session.repo(client), rkey, draft, cards=cards,
                                   target=self.name, replies=self._cfg.replies, quotes=self._cfg.quotes)
