"""One Bluesky account's logged-in client: the stored session first, the password sparingly.

Log in: reuse the session the ``SessionStore`` holds if it was made for the
configured ``service`` and ``handle`` (the SDK refreshes the access token
itself, and every new session is saved back with the two); log in with
handle and app password only when there is none, when it was made for
another service or handle (or saved without saying), or when the server
rejects it (``ExpiredToken``/``InvalidToken``: once per call).  A refused
password is not sent again until ``forget_refusal`` (an explicit check).

Several workers share one stored session.  The SDK refreshes an access
token that is about to expire (``refreshSession``, which rotates the
refresh token); here that refresh runs holding the stored session's lock
(``SessionLocks.locked_session``: a row lock on PostgreSQL), and first
reads the stored session again: one another worker refreshed meanwhile is
taken as it is, and not refreshed a second time with a spent refresh token.
The refreshed session is saved in the lock's transaction.

Every answer's ``ratelimit-*`` headers are remembered (``budget``).
Neither the password nor any token is ever logged or put in a message.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from syndicate.config import BlueskyTarget, Secret
from syndicate.errors import AuthError, DeliveryError, PermanentError, TransientError
from syndicate.models import StoredSession
from syndicate.targets.base import SessionLocks, SessionStore
from syndicate.targets.bluesky.errors import auth_rejected, translate

if TYPE_CHECKING:
    import httpx
    from atproto import Client

log = logging.getLogger(__package__)  # the platform's one logger: syndicate.targets.bluesky

T = TypeVar("T")


class BlueskySession:
    """The client of target ``name`` (``cfg``), logged in when first used."""

    def __init__(self, name: str, cfg: BlueskyTarget, password: Secret,
                 store: SessionStore | None = None) -> None:
        self.name = name
        self._cfg = cfg
        self._password = password
        self._store = store
        self._client: Client | None = None
        self._login_refused: AuthError | None = None  # the password was refused: don't ask again
        self._budget: tuple[int, datetime | None] | None = None  # the last ratelimit-* headers
        self._held = threading.local()  # .save: a refresh holds the session's lock, saves through it

    @property
    def budget(self) -> tuple[int, datetime | None] | None:
        """``(remaining, reset)`` from the last answer's ``ratelimit-*`` headers; None before any."""
        return self._budget

    def forget_refusal(self) -> None:
        """Send the password again even if it was refused before (an explicit check asks)."""
        self._login_refused = None

    def call(self, what: str, op: Callable[[Client], T]) -> T:
        """Run ``op`` with a logged-in client; translate errors; re-login once if the session is rejected."""
        client = self._login()
        try:
            return op(client)
        except (PermanentError, TransientError):
            raise
        except Exception as exc:
            if not auth_rejected(exc):
                raise self._translate(exc, what) from None
        client = self._relogin()
        try:
            return op(client)
        except (PermanentError, TransientError):
            raise
        except Exception as exc:
            err = self._translate(exc, what)
            if auth_rejected(exc):
                raise AuthError(err.reason, target=self.name) from None
            raise err from None

    def repo(self, client: Client) -> str:
        """The account's DID: the repository its posts are records in."""
        session = client._session
        if session is None:  # pragma: no cover - _login always leaves a session
            raise AuthError("not logged in", target=self.name)
        return str(session.did)

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.request.close()
            finally:
                self._client = None

    def _translate(self, exc: BaseException, what: str) -> DeliveryError:
        return translate(exc, what, target=self.name, timeout=self._cfg.timeout)

    def _login(self) -> Client:
        """A logged-in client: the stored session if there is one, else handle and password."""
        if self._client is not None:
            return self._client
        from atproto import Request, SessionEvent

        from syndicate.deadline_httpcore import DeadlineTransport

        # atproto's timeout is per socket operation; the transport makes it a total per request.
        # Request hands its keywords to httpx.Client: every answer's rate-limit headers are read.
        request = Request(timeout=self._cfg.timeout, transport=DeadlineTransport(self._cfg.timeout),
                          event_hooks={"response": [self._remember]})
        client = _locked_refresh_client()(base_url=self._cfg.service, request=request)
        client.refresh_with = lambda refresh: self._refresh_locked(client, refresh)

        def on_session_change(event: SessionEvent, session: Any) -> None:
            if event in (SessionEvent.CREATE, SessionEvent.REFRESH) and self._store is not None:
                store = self._store
                save = getattr(self._held, "save", None) or (lambda s: store.save_session(self.name, s))
                try:
                    save(StoredSession(session.export(), service=self._cfg.service, handle=self._cfg.handle))
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

    def _refresh_locked(self, client: Client, refresh: Callable[[], Any]) -> Any:
        """The SDK's refresh (``refresh``), holding the stored session's lock: unless another worker
        refreshed it meanwhile (the stored refresh token is no longer ours), then that is taken."""
        store = self._store
        if not isinstance(store, SessionLocks):
            return refresh()
        with store.locked_session(self.name) as held:
            stored = held.stored
            mine = client._session.refresh_jwt if client._session is not None else None
            theirs = _refresh_token(stored.data) if stored is not None and self._made_here(stored) else None
            if stored is not None and theirs not in (None, mine):
                client._import_session_string(stored.data)
                if not client._should_refresh_session():
                    log.debug("target %s: reusing the session another worker refreshed", self.name)
                    return None
            self._held.save = held.save
            try:
                return refresh()
            finally:
                self._held.save = None

    def _made_here(self, stored: StoredSession) -> bool:
        return _service_key(stored.service) == _service_key(self._cfg.service) \
            and _handle_key(stored.handle) == _handle_key(self._cfg.handle)

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


@functools.cache
def _locked_refresh_client() -> type[Any]:
    """atproto's ``Client``, its session refresh handed to ``refresh_with`` when that is set
    (made on first use: ``import atproto`` is slow)."""
    from atproto import Client

    class LockedRefreshClient(Client):  # type: ignore[misc]
        refresh_with: Callable[[Callable[[], Any]], Any] | None = None

        def _refresh_and_set_session(self) -> Any:
            refresh = super()._refresh_and_set_session
            return refresh() if self.refresh_with is None else self.refresh_with(refresh)

    return LockedRefreshClient


def _refresh_token(data: str) -> str | None:
    """The refresh token of an exported session, or None if it cannot be read."""
    from atproto_client.client.session import Session

    try:
        return str(Session.decode(data).refresh_jwt)
    except Exception:
        return None


def _service_key(url: str | None) -> str:
    return (url or "").strip().rstrip("/").lower()


def _handle_key(handle: str | None) -> str:
    return (handle or "").strip().lstrip("@").lower()
