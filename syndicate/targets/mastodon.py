"""Mastodon delivery with Mastodon.py.

The client is made on first use (``import mastodon`` is slow) with
``ratelimit_method="throw"`` (the library never sleeps behind our back),
``request_timeout`` from the target's ``timeout`` and ``version_check_mode="none"``,
on a ``mastodon_wire.WireSession``: the same ``timeout`` is also a total deadline per request
(Mastodon.py's own is per socket operation), one kept-alive connection, no typed casts unread.

- ``limits()`` reads (``mastodon_instance``) ``/api/v2/instance`` (``configuration.statuses``
  ``max_characters`` and ``characters_reserved_per_url``), falls back to
  ``/api/v1/instance`` (same fields since 3.4.2, or Pleroma's ``max_toot_chars``), then to
  500/23.  What the instance said is kept for the process's life, and in the state
  (``shared``, meta ``mastodon_limits:INSTANCE``) for every other worker, which reads it
  from there instead of asking again (``verify`` asks afresh, and shares the answer); the
  fallback after a failure to ask (a 503, a timeout) only until ``LIMITS_RETRY`` seconds
  later, and never shared.  The content warning counts against the limit (``StatusLengthValidator``
  measures spoiler text plus text), so it is taken off; ``max_length`` can only lower it.
- ``deliver()`` posts with ``Idempotency-Key: key``: Mastodon keeps the key for an hour
  per account and answers a repeat with the status it made the first time.  With
  ``thumbnail: true`` the card's image is uploaded first (``POST /api/v2/media``, alt
  text = the feed's description of the image, else the card's title) and polled
  (``GET /api/v1/media/:id``: 206 while processing, 200 done) a bounded number of times;
  an image that cannot be fetched, is refused, or is not ready in time is left out and the
  status goes without it.
  The article's content warning (``content_warnings``) is the ``spoiler_text``, else the
  target's ``content_warning``; ``quote_policy`` goes as ``quote_approval_policy`` only to an
  instance whose ``api_versions.mastodon`` is ``QUOTES_API_VERSION`` or later (4.5).
- ``lookup()`` covers what the key cannot: after the hour, or when the key's status was
  made by an earlier process.  It pages through the account's statuses, newest first
  (``fetch_next`` on the ``Link`` header), back to the row's first attempt (less
  ``CLOCK_SKEW``), and returns the one whose whole text — every word and every URL, the
  editor's intro included — is one the row sent, and that no other row holds.  A status
  that merely contains the links (``?p=123`` for ``?p=12``, an editor's own words around
  them) or that is older than the row's first attempt is never taken for it.

Errors leave as ``syndicate.errors``, never as Mastodon.py's, by the one status table
there (``errors.delivery_error``): 429 → ``RateLimited`` with ``retry_at`` from
``X-RateLimit-Reset`` (ISO 8601) or ``Retry-After``; 401/403 → ``AuthError``; 408, 409 (a
request with the same ``Idempotency-Key`` still in progress) and 425 → ``TransientError``;
a status refused as too long (Mastodon's ``Text character limit of N exceeded``, and the
words of stricter servers) → ``TooLong`` with the code points the text may have; other 4xx
→ ``PermanentError`` with the server's own words (``HTTP 422: Validation failed: Text
can't be blank``); 5xx, timeouts and dropped connections → ``TransientError``; anything
else raised on the way (an answer that is not what was asked) → ``internal_error``.  A
reset or ``Retry-After`` further off than ``max_reset_wait`` (default: ``max_requeue``'s
6 h) is taken as that: a bogus header never silences the target.  The access token is
never put in a message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from syndicate.config import USER_AGENT, MastodonTarget, Secret
from syndicate.errors import (
    AuthError,
    DeliveryError,
    PermanentError,
    RateLimited,
    TooLong,
    TransientError,
    delivery_error,
    internal_error,
)
from syndicate.images import ImageRefused, fit_image
from syndicate.models import Attempted, PostDraft, Posted, TargetLimits
from syndicate.patterns import compiled
from syndicate.targets.base import MAX_RESET_WAIT, Services, SharedValues
from syndicate.targets.instance_limits import read_limits, share_limits
from syndicate.targets.mastodon_instance import (
    LIMITS_RETRY,
    QUOTES_API_VERSION,
    Instance,
    rate_reset,
    read_instance,
)
from syndicate.targets.mastodon_post import IMAGES, LIMITS, mastodon_limits

if TYPE_CHECKING:
    import requests
    from mastodon import Mastodon

__all__ = ["LIMITS", "MastodonAdapter", "build", "mastodon_limits"]

log = logging.getLogger(__name__)

LOOKUP_PAGE = 40  # the most GET /api/v1/accounts/:id/statuses gives in one page
CLOCK_SKEW = 60.0  # seconds our clock and the server's may differ by, for "made since"
ALT_TEXT_LIMIT = 1500  # MediaAttachment::MAX_DESCRIPTION_LENGTH
RESET_MARGIN = 1.0  # seconds past X-RateLimit-Reset before the next request
_BREAK = r"<br\s*/?>|</p>\s*<p>"  # (these are compiled when first used: ``patterns``)
_TAG = r"<[^>]*>"
_MENTION_DOMAIN = r"(?<![=/\w])(@[\w.-]*\w)@[\w.-]*\w"  # shown as @user alone
_TOO_LONG = r"(?i)character limit|too long|over the (?:character )?limit"
_LIMIT_IN = r"(?i)(?:character limit of|maximum is|limit is|max(?:imum)? of) (\d+)"

T = TypeVar("T")


def _plain(content: str) -> str:
    """A status's HTML content as the text that was posted: tags dropped (a link's hidden
    spans hold the rest of its address, so the whole URL comes back), entities decoded."""
    from html import unescape  # (its html.entities table: only a lookup reads statuses)

    content = compiled(_BREAK).sub("\n", content)
    return unescape(compiled(_TAG).sub("", content))


def _normalise(text: str) -> str:
    """Text as compared for "is this the post we sent": whitespace collapsed, and a mention
    ``@user@domain`` as Mastodon shows it (``@user``)."""
    return " ".join(compiled(_MENTION_DOMAIN).sub(r"\1", text).split())


def _next_page(page: Any) -> Callable[[Mastodon], Any]:
    """The page after ``page`` (Mastodon.py reads it from the ``Link`` header); None at the end."""
    return lambda client: client.fetch_next(page)


def _created(status: Any) -> datetime | None:
    created = status.get("created_at")
    if isinstance(created, str):
        try:
            created = datetime.fromisoformat(created)
        except ValueError:
            return None
    if isinstance(created, datetime):
        return (created if created.tzinfo else created.replace(tzinfo=UTC)).astimezone(UTC)
    return None


class MastodonAdapter:
    """The ``Target`` for one Mastodon account (``kind: mastodon`` in feeds.yaml).

    ``fetch_image(url) -> (bytes, mime type)`` fetches a thumbnail (``thumbnail: true``).
    ``sleep``, ``media_poll_attempts`` and ``media_poll_interval`` bound the wait for
    media processing (``attempts × interval`` at most); tests pass a no-op ``sleep``.
    """

    def __init__(
        self,
        name: str,
        cfg: MastodonTarget,
        token: Secret,
        *,
        fetch_image: Callable[[str], tuple[bytes, str]] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        media_poll_attempts: int = 10,
        media_poll_interval: float = 1.0,
        user_agent: str = USER_AGENT,
        clock: Callable[[], float] = time.time,
        max_reset_wait: float = MAX_RESET_WAIT,
        shared: SharedValues | None = None,
    ) -> None:
        self.name = name
        self._shared = shared
        self._cfg = cfg
        self._token = token
        self._fetch_image = fetch_image
        self._sleep = sleep
        self._media_poll_attempts = media_poll_attempts
        self._media_poll_interval = media_poll_interval
        self._user_agent = user_agent
        self._clock = clock
        self._client: Mastodon | None = None
        self._limits: TargetLimits | None = None
        self._limits_until: float | None = None  # the limits are a fallback: ask again from then
        self._max_reset_wait = max_reset_wait
        self._account_id: str | None = None
        self._last = threading.local()  # headers of the last response, per thread
        self._budget: tuple[int, datetime | None] | None = None
        self._api_version = 0  # the instance's api_versions.mastodon (/api/v2/instance); 0: unknown
        self._quotes_unsupported_said = False

    # -- the Target protocol --

    def limits(self) -> TargetLimits:
        """The instance's limits, asked once; never raises (falls back to 500/23, and asks
        again ``LIMITS_RETRY`` seconds after a failure to read them)."""
        if self._limits is None or (self._limits_until is not None and self._clock() >= self._limits_until):
            instance = read_limits(self._shared, self._cfg.instance, self.name) or self._read_instance()
            max_chars, per_url, known = instance.max_characters, instance.per_url, instance.known
            self._api_version = instance.api_version
            if self._cfg.max_length:
                max_chars = min(max_chars, self._cfg.max_length)
            self._limits = mastodon_limits(max_chars, per_url, self._cfg.content_warning)
            self._limits_until = None if known else self._clock() + LIMITS_RETRY
        return self._limits

    def deliver(self, draft: PostDraft, key: str) -> Posted:
        """Post ``draft`` with ``Idempotency-Key: key`` (a repeat returns the first status)."""
        media_ids = self._thumbnail(draft)
        quotes = self._quote_policy()
        return self._call(
            "posting the status",
            lambda c: self._posted(c.status_post(
                draft.text,
                media_ids=media_ids or None,
                visibility=self._cfg.visibility,
                language=draft.language,
                spoiler_text=draft.content_warning or self._cfg.content_warning or None,
                idempotency_key=key,
                quote_approval_policy=quotes,
            )),
        )

    def _quote_policy(self) -> str | None:
        """``quote_policy``, if the instance knows it (``api_versions.mastodon`` from
        ``QUOTES_API_VERSION``, Mastodon 4.5); None leaves it out of the request."""
        wanted = self._cfg.quote_policy
        if wanted is None:
            return None
        self.limits()  # reads the instance (and its api_versions) once
        if self._api_version >= QUOTES_API_VERSION:
            return wanted
        if not self._quotes_unsupported_said:
            self._quotes_unsupported_said = True
            log.info("target %s: quote_policy %s not sent: %s says api_versions.mastodon %d (quote "
                     "policies need %d, Mastodon 4.5)", self.name, wanted, self._cfg.instance,
                     self._api_version, QUOTES_API_VERSION)
        return None

    def lookup(self, attempted: Attempted) -> Posted | None:
        """The status an earlier request of the row made: among the account's statuses since
        its first attempt, the one with a text it sent, held by no other row."""
        try:
            return self._lookup(attempted)
        except DeliveryError:
            raise
        except Exception as exc:  # a page of statuses we cannot read
            raise internal_error(self._redact(f"looking for an earlier post on {self._cfg.instance}"),
                                 exc) from exc

    def _lookup(self, attempted: Attempted) -> Posted | None:
        wanted = {_normalise(text) for text in attempted.texts if text.strip()}
        since, action = attempted.since - timedelta(seconds=CLOCK_SKEW), "looking for an earlier post"
        me = self._call(action, self._me)  # a request of its own: its answer may spend the budget
        page: Any = self._call(action, lambda c: c.account_statuses(me, limit=LOOKUP_PAGE,
                                                                    exclude_reblogs=True))
        while page:
            for status in page:
                created = _created(status)
                if created is not None and created < since:
                    return None  # newest first: everything further back is older still
                if str(status["id"]) in attempted.taken or status.get("reblog"):
                    continue
                if _normalise(_plain(status.get("content") or "")) in wanted:
                    return self._posted(status)
            page = self._call(action, _next_page(page))
        return None

    def rate_budget(self) -> tuple[int, datetime | None] | None:
        """``(remaining, reset)`` from the last answer's X-RateLimit headers; None before any.

        For pacing a backlog: ``remaining`` requests may be made before ``reset``;
        the reset given is when this adapter will send again (the server's reset
        plus ``RESET_MARGIN``), so a pacing wait never ends in a refusal.
        """
        if self._budget is None:
            return None
        remaining, reset = self._budget
        return remaining, (reset + timedelta(seconds=RESET_MARGIN) if reset else None)

    def adopt_budget(self, budget: tuple[int, datetime]) -> None:
        """Take the fleet's word (``store.budgets``) where it is newer than this adapter's, at a
        claim: a worker that never heard the server spends no more than the fleet left."""
        remaining, reset = budget[0], budget[1] - timedelta(seconds=RESET_MARGIN)  # as rate_budget gave it
        own = self._budget
        if own is None or own[1] is None or own[1] < reset - timedelta(milliseconds=1) or (
                abs((own[1] - reset).total_seconds()) < 0.001 and own[0] > remaining):
            self._budget = (remaining, reset)

    def verify(self) -> str:
        """Check the token against the instance and read its limits afresh: one line to show.

        Raises ``AuthError`` when the token is refused (401/403), another
        ``DeliveryError`` when the instance cannot be asked.
        """
        account = self._call("verifying the credentials", lambda c: c.account_verify_credentials())
        self._account_id = str(account["id"])
        self._limits = None
        self._share(None)  # asked afresh below, and shared again
        limits = self.limits()
        who = account.get("acct") or account.get("username") or self._account_id
        return (f"@{who} on {self._cfg.instance}, {limits.max_length} characters "
                f"({limits.url_length} per URL)")

    def close(self) -> None:
        if self._client is not None:
            self._client.session.close()
            self._client = None

    # -- the client --

    def client(self) -> Mastodon:
        if self._client is None:
            from mastodon import Mastodon

            from syndicate.targets.mastodon_wire import WireSession

            # Mastodon.py's request_timeout is per socket operation: the session makes the
            # target's timeout a total per request (and spares the casts we don't read).
            session = WireSession(self._cfg.timeout)
            session.hooks["response"].append(self._remember)
            client = Mastodon(
                api_base_url=self._cfg.instance,
                ratelimit_method="throw",
                request_timeout=self._cfg.timeout,
                version_check_mode="none",
                session=session,
                user_agent=self._user_agent,
            )
            # Set after construction: given to the constructor, a token that happens to
            # name a file would be read as a file of credentials.
            client.access_token = self._token.reveal()
            self._client = client
        return self._client

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last.headers = response.headers
        remaining = response.headers.get("X-RateLimit-Remaining", "")
        if remaining.strip().isdigit():
            self._budget = (int(remaining), self._believable(rate_reset(response.headers)))

    def _call(self, action: str, fn: Callable[[Mastodon], T]) -> T:
        """Run one library call; every error leaves as a ``DeliveryError`` (``errors``' table)."""
        self._check_budget(action)
        client = self.client()
        self._last.headers = None
        try:
            return fn(client)
        except DeliveryError:
            raise
        except Exception as exc:  # Mastodon.py's errors, and anything else on the way (a bug)
            raise self._translate(exc, action) from exc

    def _check_budget(self, action: str) -> None:
        """Never send a request the server has said is over its budget: every call of a
        delivery counts (instance, verify_credentials, lookup, media, the status itself), and
        counts as it leaves, so one whose answer is lost (a dropped connection) took one too."""
        remaining, reset = self._budget or (1, None)
        resume = reset + timedelta(seconds=RESET_MARGIN) if reset else None  # the new window, rounding aside
        if remaining <= 0 and resume is not None and resume.timestamp() > self._clock():
            raise RateLimited(f"rate limit spent, not sent ({action} on {self._cfg.instance}, "
                              f"until {resume.isoformat()})", retry_at=resume)
        if self._budget is not None:  # the answer's headers say what is left, if it comes
            self._budget = (remaining - 1, reset)

    def _translate(self, exc: Exception, action: str) -> DeliveryError:
        from mastodon.errors import MastodonAPIError, MastodonNetworkError, MastodonRatelimitError

        where = f"{action} on {self._cfg.instance}"
        if isinstance(exc, MastodonRatelimitError):
            retry_at = self._retry_at()
            when = f", until {retry_at.isoformat()}" if retry_at else ""
            return RateLimited(self._redact(f"HTTP 429: rate limit spent ({where}{when})"), retry_at=retry_at)
        if isinstance(exc, MastodonNetworkError):
            return delivery_error(None, self._redact(f"{self._network_reason(exc)} ({where})"))
        if isinstance(exc, MastodonAPIError) and len(exc.args) >= 4 and isinstance(exc.args[1], int):
            status, reason, message = exc.args[1], exc.args[2], exc.args[3]
            text = self._redact(f"HTTP {status}: {message or reason} ({where})")
            too_long = status in (400, 422) and compiled(_TOO_LONG).search(str(message))
            if action == "posting the status" and too_long:
                return TooLong(text, limit=self._strict_budget(str(message)))
            return delivery_error(status, text, retry_at=self._retry_at() if status == 429 else None)
        if isinstance(exc, MastodonAPIError):  # a 2xx whose body is not JSON: a proxy's page
            return TransientError(self._redact(f"unreadable answer ({where}): {str(exc.args[0])[:200]}"))
        return internal_error(self._redact(where), exc)

    def _strict_budget(self, message: str) -> int:
        """The code points a text may have on a server that called it too long: its own limit
        (or the one it advertised) less the content warning, which it counts too."""
        warning = len(self._cfg.content_warning or "")
        found = compiled(_LIMIT_IN).search(message)
        limit = int(found.group(1)) if found else self.limits().max_length + warning
        return max(1, limit - warning)

    def _network_reason(self, exc: Exception) -> str:
        import requests

        cause = exc.__context__
        if isinstance(cause, requests.Timeout):
            return f"no answer within {self._cfg.timeout:g}s"
        if isinstance(cause, requests.ConnectionError):
            return "connection failed or dropped before an answer"
        return f"network error: {type(cause or exc).__name__}"

    def _redact(self, text: str) -> str:
        secret = self._token.reveal()
        return text.replace(secret, "<redacted>") if secret else text

    def _retry_at(self) -> datetime | None:
        """When the server says to come back: X-RateLimit-Reset, else Retry-After."""
        headers = getattr(self._last, "headers", None) or {}
        reset = self._believable(rate_reset(headers))
        if reset is not None:
            return reset + timedelta(seconds=RESET_MARGIN)  # the new window, whatever the rounding
        after = headers.get("Retry-After")
        if after:
            try:
                now = datetime.fromtimestamp(self._clock(), UTC)
                return self._believable(now + timedelta(seconds=float(after)))
            except (ValueError, OverflowError):
                from email.utils import parsedate_to_datetime  # (an HTTP date: email is slow to import)

                try:
                    return self._believable(parsedate_to_datetime(after).astimezone(UTC))
                except (TypeError, ValueError):
                    pass
        return None

    def _believable(self, when: datetime | None) -> datetime | None:
        """A reset time, but never further off than ``max_reset_wait``."""
        if when is None:
            return None
        latest = datetime.fromtimestamp(self._clock() + self._max_reset_wait, UTC)
        return min(when, latest)

    # -- pieces --

    def _read_instance(self) -> Instance:
        """Ask the instance itself, and keep what it said for every worker (or an earlier run)."""
        if (instance := read_instance(self.name, self._call)).known:
            self._share(instance)
        return instance

    def _share(self, instance: Instance | None) -> None:  # None: forget it, so the next asks afresh
        share_limits(self._shared, self._cfg.instance, instance, self.name)

    def _me(self, client: Mastodon) -> str:
        if self._account_id is None:
            self._account_id = str(client.account_verify_credentials()["id"])
        return self._account_id

    def _thumbnail(self, draft: PostDraft) -> list[str]:
        """Upload the card's image and wait (bounded) until it is processed; [] without one.

        Rate limits, rejected credentials and server errors propagate (the delivery is
        retried as a whole); an image that cannot be had or is refused is left out.
        """
        card = draft.card
        if not (self._cfg.thumbnail and self._fetch_image and card and card.thumb_url):
            return []
        try:
            data, mime = self._fetch_image(card.thumb_url)
            data, mime = fit_image(data, mime, IMAGES)  # what it really is, if it is an image we decode
        except ImageRefused as exc:
            log.warning("target %s: thumbnail %s refused (%s); posting without it",
                        self.name, card.thumb_url, exc)
            return []
        except Exception as exc:  # any failure to fetch: post without the image
            log.warning("target %s: thumbnail %s not fetched (%s); posting without it",
                        self.name, card.thumb_url, exc)
            return []
        alt = (draft.image_alt or card.title or "").strip()[:ALT_TEXT_LIMIT] or None
        try:
            media = self._call("uploading the thumbnail",
                               lambda c: c.media_post(data, mime_type=mime, description=alt))
            for _ in range(self._media_poll_attempts):
                if media.get("url"):
                    return [str(media["id"])]
                self._sleep(self._media_poll_interval)
                media = self._media(str(media["id"]))
        except (TransientError, AuthError):
            raise
        except PermanentError as exc:
            log.warning("target %s: thumbnail refused (%s); posting without it", self.name, exc)
            return []
        if media.get("url"):
            return [str(media["id"])]
        log.warning("target %s: thumbnail still processing after %d polls; posting without it",
                    self.name, self._media_poll_attempts)
        return []

    def _media(self, media_id: str) -> Any:
        """The media attachment ``media_id`` as the instance has it now (processed or not)."""
        return self._call("waiting for the thumbnail", lambda c: c.media(media_id))

    def _posted(self, status: Any) -> Posted:
        """The post a status answer describes; ``ValueError`` for an answer that is no status."""
        if not isinstance(status, dict) or not status.get("id"):
            raise ValueError(f"the answer is no status (no id): {str(status)[:200]}")
        return Posted(remote_id=str(status["id"]), url=status.get("url") or status.get("uri") or "",
                      posted_at=_created(status))


def build(name: str, cfg: MastodonTarget, token: Secret, services: Services) -> MastodonAdapter:
    """The adapter for one ``kind: mastodon`` target (``mastodon_post.PLATFORM``'s ``build``)."""
    return MastodonAdapter(name, cfg, token, fetch_image=services.fetch_image, clock=services.clock,
                           max_reset_wait=services.max_reset_wait, shared=services.shared)
