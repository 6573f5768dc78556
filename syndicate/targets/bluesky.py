"""Bluesky (AT Protocol) delivery with the ``atproto`` SDK.

One ``deliver`` is, in order:

1. refuse a text over the limit (300 graphemes, 3,000 UTF-8 bytes) before
   any network call (``bluesky_post``: the platform's rules, the draft's
   facets and card);
2. log in: reuse the session the ``SessionStore`` holds if it was made for
   the configured ``service`` and ``handle`` (the SDK refreshes the access
   token itself, and every new session is saved back with the two); log in
   with handle and app password only when there is none, when it was made
   for another service or handle (or saved without saying), or when the
   server rejects it (``ExpiredToken``/``InvalidToken``: once per call);
3. ``getRecord`` at the record key ``key``: an earlier attempt may have
   landed before a crash or a lost answer.  If it is there, it is the post;
4. upload the card's thumbnail, if any (the feed's image, else the article
   page's ``og:image``; fetched, re-encoded to fit the 1,000,000-byte blob
   limit; any failure: one log line, no thumbnail).  A retry reuses the
   blob uploaded and the page read (``BLOB_REUSE``, see ``reuse``); a
   reused blob the PDS no longer has (``BlobNotFound``) is a transient
   error, and is uploaded afresh;
5. ``createRecord`` of an ``app.bsky.feed.post`` with ``rkey=key``: text,
   facets (links, tags) in UTF-8 byte offsets, ``langs``, ``createdAt`` now,
   and an ``app.bsky.embed.external`` card.

Record keys must be TIDs: ``tid_for`` makes one from an integer (see
``syndicate.tid``).  A second ``createRecord`` at the same key is refused by
the PDS with a 500, not a conflict, which is why step 3 comes first.

Errors leave as ``syndicate.errors``, by the one status table there
(``errors.delivery_error``): 429 → ``RateLimited`` (``retry_at`` from
``ratelimit-reset``); 408, 409, 425, 5xx, timeouts and dropped connections
→ ``TransientError``; other 4xx → ``PermanentError`` with the server's
message; a rejected login or session (401/403, ``ExpiredToken``) →
``AuthError``; anything else the SDK raises (an answer it cannot read) →
``internal_error``.  Neither the password nor any token is ever
logged or put in a message.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import regex

from syndicate.config import BlueskyTarget, Secret
from syndicate.errors import (
    AuthError,
    DeliveryError,
    PermanentError,
    TransientError,
    delivery_error,
    internal_error,
)
from syndicate.models import Attempted, Facet, LinkCard, PostDraft, Posted, StoredSession, TargetLimits
from syndicate.targets import bluesky_post
from syndicate.targets.base import Platform, Services, SessionStore
from syndicate.targets.bluesky_post import count_graphemes, offline_limits, prepare_thumb
from syndicate.targets.reuse import ReuseCache
from syndicate.tid import is_tid, tid_for

if TYPE_CHECKING:
    import httpx
    from atproto import Client

__all__ = ["PLATFORM", "RESET_MARGIN", "BlueskyAdapter", "SessionStore", "count_graphemes", "prepare_thumb",
           "tid_for"]

log = logging.getLogger(__name__)

POST_COLLECTION = "app.bsky.feed.post"
RESET_MARGIN = 1.0  # seconds past ratelimit-reset (whole seconds, rounded down) before sending again
BLOB_REUSE = 30 * 60.0  # seconds a retry reuses an uploaded thumbnail blob (unreferenced ones expire)
REUSE_ENTRIES = 64  # thumbnails (by image URL) and page images (by article URL) remembered
LANGUAGE_TAG = regex.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")  # BCP 47, loosely
AUTH_REJECTED = {"ExpiredToken", "InvalidToken", "AuthenticationRequired", "AuthMissing"}

T = TypeVar("T")


def post_url(author: str, rkey: str) -> str:
    """The bsky.app address of a post; ``author`` is a DID (stable) or a handle."""
    return f"https://bsky.app/profile/{author}/post/{rkey}"


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
        self._store = session_store
        self._fetch_image = fetch_image
        self._page_image = page_image  # article URL → its page's og:image, when the feed had none
        # What a retry reuses: image URL → uploaded blob; article URL → its page's og:image.
        self._blobs: ReuseCache[Any] = ReuseCache(REUSE_ENTRIES, BLOB_REUSE, clock)
        self._page_images: ReuseCache[str] = ReuseCache(REUSE_ENTRIES, None, clock)
        self._client: Client | None = None
        self._login_refused: AuthError | None = None  # the password was refused: don't ask again
        self._budget: tuple[int, datetime | None] | None = None  # the last ratelimit-* headers

    # -- the Target protocol --

    def limits(self) -> TargetLimits:
        """300 graphemes and 3,000 bytes; ``max_length`` in the config can only lower it (the PDS
        enforces the lexicon's)."""
        return offline_limits(self._cfg)

    def lookup(self, attempted: Attempted) -> Posted | None:
        """The post an earlier request of the row made: ``getRecord`` at its rkey, which no
        other post can hold."""
        self._check_key(attempted.key)
        return self._call("looking up the post", lambda client: self._get_post(client, attempted.key))

    def deliver(self, draft: PostDraft, key: str) -> Posted:
        """Post ``draft`` at record key ``key``, or return the post already there."""
        self._check_key(key)
        self._check_draft(draft)
        existing = self._call("looking up the post", lambda client: self._get_post(client, key))
        if existing is not None:
            log.info("target %s: post %s already exists (an earlier attempt landed)", self.name, key)
            return existing
        return self._call("posting", lambda client: self._create_post(client, draft, key))

    def rate_budget(self) -> tuple[int, datetime | None] | None:
        """``(remaining, reset)`` from the last answer's ``ratelimit-*`` headers; None before any.

        A PDS with rate limits on (bsky.social) sends them on every limited
        route; the reset given is when this adapter will send again (the
        PDS's, rounded down to the second, plus ``RESET_MARGIN``).
        """
        if self._budget is None:
            return None
        remaining, reset = self._budget
        return remaining, (reset + timedelta(seconds=RESET_MARGIN) if reset else None)

    def verify(self) -> str:
        """Log in (the stored session, else the password) and ask ``getSession``: one line to show.

        An explicit check asks again even if this adapter's password was
        refused before.  Raises ``AuthError`` when the credentials are refused.
        """
        self._login_refused = None
        info = self._call("verifying the credentials", lambda client: client.com.atproto.server.get_session())
        return f"{info.handle} ({info.did}) on {self._cfg.service}, {self.limits().max_length} graphemes"

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.request.close()
            finally:
                self._client = None

    # -- checks made before any network call --

    def _check_key(self, key: str) -> None:
        if not is_tid(key):
            raise PermanentError(f"record key {key!r} is not a TID", target=self.name)

    def _check_draft(self, draft: PostDraft) -> None:
        bluesky_post.check_draft(draft, self.limits(), self.name)

    # -- session --

    def _login(self) -> Client:
        """A logged-in client: the stored session if there is one, else handle and password."""
        if self._client is not None:
            return self._client
        from atproto import Client, Request, SessionEvent

        from syndicate.deadline import DeadlineTransport

        # atproto's timeout is per socket operation; the transport makes it a total per request.
        # Request hands its keywords to httpx.Client: every answer's rate-limit headers are read.
        request = Request(timeout=self._cfg.timeout, transport=DeadlineTransport(self._cfg.timeout),
                          event_hooks={"response": [self._remember]})
        client = Client(base_url=self._cfg.service, request=request)

        def on_session_change(event: SessionEvent, session: Any) -> None:
            if event in (SessionEvent.CREATE, SessionEvent.REFRESH) and self._store is not None:
                try:
                    self._store.save_session(self.name, StoredSession(
                        session.export(), service=self._cfg.service, handle=self._cfg.handle))
                except Exception as exc:  # the session still works; we may log in again next run
                    log.warning("target %s: could not save the session: %s", self.name, type(exc).__name__)

        client.on_session_change(on_session_change)
        stored = self._stored_session()
        try:
            if stored and self._import_session(client, stored):
                log.debug("target %s: reusing the stored session", self.name)
            else:
                self._password_login(client)
        except BaseException:
            client.request.close()
            raise
        self._client = client
        return client

    def _remember(self, response: httpx.Response) -> None:
        remaining = response.headers.get("ratelimit-remaining", "").strip()
        if not remaining.isdigit():
            return
        reset = response.headers.get("ratelimit-reset", "").strip()
        try:
            when = datetime.fromtimestamp(int(reset), UTC) if reset.isdigit() else None
        except (OverflowError, OSError, ValueError):
            when = None
        self._budget = (int(remaining), when)

    def _stored_session(self) -> str | None:
        """The stored session, if it was made for the configured service and handle."""
        stored = self._store.load_session(self.name) if self._store is not None else None
        if stored is None:
            return None
        if _service_key(stored.service) != _service_key(self._cfg.service) \
                or _handle_key(stored.handle) != _handle_key(self._cfg.handle):
            log.info("target %s: the stored session was made for %s as %s, not %s as %s: "
                     "logging in afresh", self.name, stored.service or "an unrecorded service",
                     stored.handle or "an unrecorded handle", self._cfg.service, self._cfg.handle)
            return None
        return stored.data

    def _import_session(self, client: Client, stored: str) -> bool:
        wanted = self._cfg.handle.lower().lstrip("@")
        try:
            client.login(session_string=stored, fetch_bsky_profile=False)
            session = client._session  # the SDK has no public accessor for it
            if session is None or wanted not in (session.handle.lower(), session.did):
                log.info("target %s: the stored session is for another account", self.name)
                return False
            _ = session.access_jwt_payload.exp  # a malformed token fails here, not mid-delivery
        except Exception:
            log.info("target %s: the stored session is unusable, logging in again", self.name)
            return False
        return True

    def _password_login(self, client: Client) -> None:
        """``createSession`` with handle and app password (rate-limited by Bluesky: used sparingly)."""
        if self._login_refused is not None:  # the same password would be refused again
            raise AuthError(self._login_refused.reason, target=self.name)
        log.info("target %s: logging in as %s", self.name, self._cfg.handle)
        try:
            client.login(self._cfg.handle, self._password.reveal(), fetch_bsky_profile=False)
        except Exception as exc:
            err = self._translate(exc, "logging in")
            if isinstance(err, PermanentError):  # 401, or 400 for a malformed handle
                err = self._login_refused = AuthError(err.reason, target=self.name)
            raise err from None

    def _relogin(self) -> Client:
        client = self._client
        if client is None:
            return self._login()
        log.info("target %s: the session was rejected, logging in again", self.name)
        self._password_login(client)
        return client

    def _call(self, what: str, op: Callable[[Client], T]) -> T:
        """Run ``op`` with a logged-in client; translate errors; re-login once if the session is rejected."""
        client = self._login()
        try:
            return op(client)
        except (PermanentError, TransientError):
            raise
        except Exception as exc:
            if not _auth_rejected(exc):
                raise self._translate(exc, what) from None
        client = self._relogin()
        try:
            return op(client)
        except (PermanentError, TransientError):
            raise
        except Exception as exc:
            err = self._translate(exc, what)
            if _auth_rejected(exc):
                raise AuthError(err.reason, target=self.name) from None
            raise err from None

    # -- records --

    def _repo(self, client: Client) -> str:
        session = client._session
        if session is None:  # pragma: no cover - _login always leaves a session
            raise AuthError("not logged in", target=self.name)
        return str(session.did)

    def _get_post(self, client: Client, rkey: str) -> Posted | None:
        from atproto import exceptions, models

        repo = self._repo(client)
        try:
            resp = client.com.atproto.repo.get_record(
                models.ComAtprotoRepoGetRecord.Params(repo=repo, collection=POST_COLLECTION, rkey=rkey)
            )
        except exceptions.BadRequestError as exc:
            if _xrpc_error(exc)[0] == "RecordNotFound":
                return None
            raise
        value = resp.value
        created = value.get("createdAt") if isinstance(value, dict) else getattr(value, "created_at", None)
        return Posted(remote_id=resp.uri, url=post_url(repo, rkey), posted_at=_parse_time(created))

    def _create_post(self, client: Client, draft: PostDraft, rkey: str) -> Posted:
        from atproto import exceptions, models

        now = datetime.now(UTC)
        embed = None
        if draft.card is not None and self._cfg.link_card:
            embed = self._card(client, draft.card)
        try:
            record = models.AppBskyFeedPost.Record(
                text=draft.text,
                created_at=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                facets=[_facet(f) for f in draft.facets] or None,
                langs=[draft.language] if draft.language and LANGUAGE_TAG.match(draft.language) else None,
                embed=embed,
            )
        except ValueError as exc:  # pydantic's ValidationError: the draft itself is unfit
            raise PermanentError(f"posting: invalid post: {_one_line(exc)}", target=self.name) from None
        repo = self._repo(client)
        try:
            resp = client.com.atproto.repo.create_record(
                models.ComAtprotoRepoCreateRecord.Data(
                    repo=repo, collection=POST_COLLECTION, rkey=rkey, record=record, validate_=True
                )
            )
        except exceptions.BadRequestError as exc:
            if embed is None or _xrpc_error(exc)[0] != "BlobNotFound":
                raise
            self._blobs.clear()  # a reused blob the PDS no longer holds: upload it again next time
            raise TransientError(f"posting: 400 BlobNotFound: {_xrpc_error(exc)[1]} "
                                 "(the thumbnail is uploaded again)", target=self.name) from None
        log.info("target %s: posted %s", self.name, resp.uri)
        return Posted(remote_id=resp.uri, url=post_url(repo, rkey), posted_at=now)

    def _card(self, client: Client, card: LinkCard) -> Any:
        from atproto import models

        thumb = None
        thumb_url = card.thumb_url or self._og_image(card.uri)
        if thumb_url:
            thumb = self._thumb(client, thumb_url)
        return models.AppBskyEmbedExternal.Main(
            external=models.AppBskyEmbedExternal.External(
                uri=card.uri, title=card.title, description=card.description, thumb=thumb
            )
        )

    def _og_image(self, article_url: str) -> str | None:
        """The article page's og:image, read once per article (a retry reuses it)."""
        if self._page_image is None:
            return None
        found = self._page_images.get(article_url)
        if found is None:
            found = self._page_image(article_url)
            if found:  # a page that failed to load is read again next time
                self._page_images.put(article_url, found)
        return found

    def _thumb(self, client: Client, url: str) -> Any:
        """The uploaded thumbnail's blob, or None (with one log line) when it cannot be had.

        A blob uploaded for ``url`` within ``BLOB_REUSE`` is reused: a retry
        neither fetches the image nor uploads it again.
        """
        if self._fetch_image is None:
            log.info("target %s: no thumbnail for %s: no image fetcher", self.name, url)
            return None
        reused = self._blobs.get(url)
        if reused is not None:
            return reused
        try:
            data, content_type = self._fetch_image(url)
            data, mime = prepare_thumb(data, content_type)
            with warnings.catch_warnings():  # the SDK hands httpx bytes as data=, which it deprecates
                warnings.filterwarnings("ignore", "Use 'content=", DeprecationWarning)
                resp = client.com.atproto.repo.upload_blob(data, headers={"Content-Type": mime})
            self._blobs.put(url, resp.blob)
            return resp.blob
        except Exception as exc:
            if _auth_rejected(exc):
                raise  # the session was rejected: log in again, not a missing thumbnail
            log.warning("target %s: no thumbnail for %s: %s", self.name, url, _one_line(exc))
            return None

    # -- errors --

    def _translate(self, exc: BaseException, what: str) -> DeliveryError:
        """An SDK or httpx error as a ``syndicate.errors`` error by its one status table (one
        line, no secrets)."""
        import httpx
        from atproto import exceptions

        name = self.name
        if isinstance(exc, exceptions.RateLimitExceededError):
            retry_at = exc.reset_at
            if retry_at is None and exc.retry_after is not None:
                retry_at = datetime.fromtimestamp(datetime.now(UTC).timestamp() + exc.retry_after, UTC)
            when = f", retry at {retry_at.isoformat()}" if retry_at else ""
            return delivery_error(429, f"{what}: rate limited (429){when}", retry_at=retry_at, target=name)
        if isinstance(exc, exceptions.InvokeTimeoutError | httpx.TimeoutException):
            return delivery_error(None, f"{what}: timed out after {self._cfg.timeout:g}s", target=name)
        if isinstance(exc, exceptions.RequestErrorBase):
            response = exc.response
            if response is None:  # a transport failure
                return delivery_error(None, f"{what}: {_one_line(exc.__cause__ or exc)}", target=name)
            status = response.status_code
            error, message = _xrpc_error(exc)
            detail = f"{status} {error}: {message}" if message else f"{status} {error}"
            if error in AUTH_REJECTED:  # the words say more than the status (400 ExpiredToken)
                return AuthError(f"{what}: {detail}", target=name)
            return delivery_error(status, f"{what}: {detail}", target=name)
        if isinstance(exc, httpx.TransportError):
            return delivery_error(None, f"{what}: {_one_line(exc)}", target=name)
        if isinstance(exc, exceptions.LoginRequiredError):
            return AuthError(f"{what}: not logged in", target=name)
        # A model error on an answer, or anything else the SDK raised: retrying is safe
        # (the next attempt looks the record up first) and the retry policy bounds it.
        return internal_error(what, exc, target=name)


def _service_key(url: str | None) -> str:
    return (url or "").strip().rstrip("/").lower()


def _handle_key(handle: str | None) -> str:
    return (handle or "").strip().lstrip("@").lower()


def _auth_rejected(exc: BaseException) -> bool:
    """The server refused our tokens (not our password): worth one fresh login."""
    from atproto import exceptions

    if isinstance(exc, exceptions.LoginRequiredError):
        return True
    if not isinstance(exc, exceptions.RequestErrorBase) or exc.response is None:
        return False
    status = exc.response.status_code
    error = _xrpc_error(exc)[0]
    return status == 401 or (status == 400 and error in {"ExpiredToken", "InvalidToken"})


def _xrpc_error(exc: Any) -> tuple[str, str]:
    """``(error, message)`` of an XRPC error answer."""
    content = getattr(getattr(exc, "response", None), "content", None)
    error = getattr(content, "error", None)
    message = getattr(content, "message", None)
    if error is None and isinstance(content, dict):
        error, message = content.get("error"), content.get("message")
    if error is None:
        status = getattr(getattr(exc, "response", None), "status_code", "")
        return (f"HTTP {status}".strip(), "")
    return (str(error), _one_line(message or ""))


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


def _one_line(exc: object) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, BaseException) and str(exc) and type(exc).__name__ not in text:
        text = f"{type(exc).__name__}: {text}"
    return " ".join(text.split())[:300]


def build(name: str, cfg: BlueskyTarget, password: Secret, services: Services) -> BlueskyAdapter:
    """The adapter for one ``kind: bluesky`` target."""
    return BlueskyAdapter(name, cfg, password, session_store=services.session_store,
                          fetch_image=services.fetch_image, page_image=services.page_image)


PLATFORM = Platform(kind="bluesky", config=BlueskyTarget, limits=bluesky_post.LIMITS,
                    offline_limits=offline_limits, build=build, draft=bluesky_post.draft)
