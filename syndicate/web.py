"""The HTTP listener: health, metrics, the re-generated feeds, the editors' API and page.

``create_app(app, api_token=...)`` builds a Starlette application;
``serve(asgi, host, port)`` runs it with uvicorn in a daemon thread and
returns a handle with ``.url``, ``.port`` and ``.stop()``.

Routes::

    GET  /healthz                        200 {"status": "ok", "last_cycle_age": s} | 503 {"reason"}
                                         | 200 {"status": "degraded", "reason", "paused_targets"}
    GET  /metrics                        Prometheus text exposition
    GET  /feed.xml /feed.atom /feed.json the re-generated feeds: ETag, Last-Modified, 304, gzip
    GET  /api/articles?limit=N           recent articles with per-target deliveries
    GET  /api/articles/{id}              one article, with a preview of the post per target
    POST /api/articles/{id}/repost       {"targets"?, "text"?, "by"?, "force"?} → 202 | 409
    POST /api/articles/{id}/retry        {"target"?} → 200 {"requeued": n}
    GET  /                               the editors' page (login form until the token is given)
    POST /login, POST /logout            the page's session cookie

The API takes ``Authorization: Bearer TOKEN`` (compared in constant time).
No token configured means the API and the page are **off** (404), never
open.  Signing in to the page opens a server-side session (see
``web_auth``): an HttpOnly, SameSite=Strict cookie holding a random id,
valid ``session_ttl`` seconds, revoked by signing out or by a new token;
the page's buttons call the same API with that cookie plus the session's
own CSRF token, so a cookie alone cannot change anything.  Ten wrong tokens
a minute from one address (sign-in or bearer) and it is refused (429 with
``Retry-After``) for the rest of that minute; each is logged with the
address, never the token.

Every error is JSON ``{"error": "..."}``: 400 malformed body or field, 401
missing or wrong token or an expired session, 404 unknown route or article,
409 already posted (repost without ``force``), 413 body too large, 422
unknown target, 429 too many wrong tokens.
"""

from __future__ import annotations

import contextvars
import gzip
import hashlib
import html
import json
import logging
import math
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from syndicate.app_holder import AppHolder
from syndicate.errors import StoreError
from syndicate.feed_out import FEED_FILES, MEDIA_TYPES
from syndicate.metrics import Metrics
from syndicate.web_auth import DEFAULT_TTL, EditorAuth, EditorSession

if TYPE_CHECKING:
    import uvicorn

    from syndicate.app import App
    from syndicate.store import Delivery

log = logging.getLogger("syndicate.web")

COOKIE = "syndicate_session"
CSRF_HEADER = "x-csrf-token"
MAX_BODY = 64 * 1024
MAX_LIMIT = 500
MAX_INTRO = 1000
MAX_BY = 100
FEED_MAX_AGE = 300  # seconds mirror sites may cache a feed
API_USER = "api"
PAGE_USER = "editors' page"

AppSource = Callable[[], "App"]
Lease = Callable[[], AbstractContextManager["App"]]  # holds an App for the length of a request

_REQUEST_APP: contextvars.ContextVar[App | None] = contextvars.ContextVar("syndicate_request_app",
                                                                          default=None)


class _Reply(Exception):
    """A finished response raised from deep inside a handler."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _error(status: int, message: str, headers: Mapping[str, str] | None = None,
           **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status,
                        headers={"Cache-Control": "no-store", **(headers or {})})


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers={"Cache-Control": "no-store"})


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts is not None else None


def _http_url(url: str | None) -> str | None:
    """``url`` if it is an http(s) URL (safe in an ``href``), else None."""
    if not url:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


# --- authentication -------------------------------------------------------------------------


_CHALLENGE = 'Bearer realm="syndicate"'


def _client(request: Request) -> str:
    """The client's address, for wrong-token limits and log lines."""
    return request.client.host if request.client else "-"


# --- the served feeds -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _FeedFile:
    stamp: tuple[int, int, int]  # (mtime_ns, size, inode): unchanged file, cached bytes
    data: bytes
    etag: str
    mtime: float
    gzipped: bytes  # the same bytes, gzip-compressed once

    @property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + '-gzip"'


def _accepts_gzip(header: str) -> bool:
    """True if ``Accept-Encoding`` accepts gzip (explicitly or by ``*``) with q > 0."""
    gzip_q: float | None = None
    star_q: float | None = None
    for part in header.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        name = name.lower()
        if name in ("gzip", "x-gzip"):
            gzip_q = q
        elif name == "*":
            star_q = q
    if gzip_q is not None:
        return gzip_q > 0
    return star_q is not None and star_q > 0


def _etag_matches(header: str, *etags: str) -> bool:
    """If-None-Match uses the weak comparison: ``W/`` prefixes are ignored."""
    wanted = {e.removeprefix("W/") for e in etags}
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") in wanted:
            return True
    return False


def _not_modified_since(header: str, mtime: float) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return int(mtime) <= since.timestamp()


# --- the application ------------------------------------------------------------------------


class _Site:
    """The listener's state and handlers (one per ``create_app``)."""

    def __init__(self, lease: Lease, *, auth: EditorAuth, metrics: Metrics,
                 on_queued: Callable[[], None] | None, max_age: float | None) -> None:
        self.lease = lease
        self.auth = auth
        self.metrics = metrics
        self.on_queued = on_queued
        self.max_age = max_age
        self._feeds: dict[str, _FeedFile] = {}
        self._feed_lock = threading.Lock()

    # -- helpers --

    def get_app(self) -> App:
        """The App this request holds from its start to its answer (``_HoldApp``)."""
        app = _REQUEST_APP.get()
        if app is None:  # called outside a request: the current one
            with self.lease() as current:
                return current
        return app

    def _off_message(self) -> str:
        return f"the editors' API is off: set {self.get_app().config.listen.api_token_env}"

    def _api_user(self, request: Request) -> str:
        """Who is calling (``api`` or the page), or raise the 401/403/404/429 reply."""
        if not self.auth.on:
            raise _Reply(_error(404, self._off_message()))
        header = request.headers.get("authorization")
        if header is not None:
            address = _client(request)
            self._check_not_refused(address, lambda wait: _error(
                429, f"too many wrong tokens from {address}: try again in {wait} s",
                {"Retry-After": str(wait)}))
            scheme, _, credential = header.strip().partition(" ")
            if scheme.lower() != "bearer" or not credential.strip():
                self._wrong_token(address, "malformed Authorization header")
                raise _Reply(_error(401, "malformed Authorization header: expected 'Bearer TOKEN'",
                                    {"WWW-Authenticate": _CHALLENGE + ', error="invalid_request"'}))
            if not self.auth.token_ok(credential.strip()):
                self._wrong_token(address, "wrong bearer token")
                raise _Reply(_error(401, "wrong token",
                                    {"WWW-Authenticate": _CHALLENGE + ', error="invalid_token"'}))
            return API_USER
        cookie = request.cookies.get(COOKIE)
        session = self.auth.session(cookie)
        if session is not None:
            if request.method not in ("GET", "HEAD") and not session.csrf_ok(
                    request.headers.get(CSRF_HEADER)):
                raise _Reply(_error(403, "missing or wrong CSRF token: reload the editors' page"))
            return PAGE_USER
        if cookie:
            raise _Reply(_error(401, "the editors' page session has expired or was signed out: "
                                     "sign in again", {"WWW-Authenticate": _CHALLENGE}))
        raise _Reply(_error(401, "missing token: send 'Authorization: Bearer TOKEN'",
                            {"WWW-Authenticate": _CHALLENGE}))

    def _check_not_refused(self, address: str, reply: Callable[[int], Response]) -> None:
        """Raise ``reply(seconds)`` if ``address`` gave too many wrong tokens lately."""
        wait = self.auth.refused_for(address)
        if wait is not None:
            raise _Reply(reply(max(1, math.ceil(wait))))

    def _wrong_token(self, address: str, what: str) -> None:
        """Count and log a wrong token (the address, never the token)."""
        if self.auth.failed(address):
            log.warning("editors' API: too many wrong tokens, refusing this address for a while",
                        extra={"client": address, "limit": self.auth.limit,
                               "window": f"{self.auth.window:g}s"})
        else:
            log.warning(f"editors' API: {what}", extra={"client": address})

    def _article_id(self, raw: str) -> int:
        app = self.get_app()
        if raw.isascii() and raw.isdigit() and len(raw) < 19 and app.store.article(int(raw)) is not None:
            return int(raw)
        raise _Reply(_error(404, f"article {raw[:100]}: no such article"))

    @staticmethod
    async def _body(request: Request, limit: int = MAX_BODY) -> bytes:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            raise _Reply(_error(413, f"request body too large (at most {limit} bytes)"))
        chunks = bytearray()
        async for chunk in request.stream():
            chunks += chunk
            if len(chunks) > limit:
                raise _Reply(_error(413, f"request body too large (at most {limit} bytes)"))
        return bytes(chunks)

    async def _json_body(self, request: Request, fields: Mapping[str, str]) -> dict[str, Any]:
        """A JSON object (an empty body is ``{}``) with only the known ``fields``."""
        raw = await self._body(request)
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except UnicodeDecodeError:
            raise _Reply(_error(400, "malformed JSON body: not UTF-8")) from None
        except ValueError as exc:
            msg = getattr(exc, "msg", str(exc))
            where = f" at line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else ""
            raise _Reply(_error(400, f"malformed JSON body: {msg}{where}")) from None
        if not isinstance(data, dict):
            raise _Reply(_error(400, "malformed JSON body: expected an object"))
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise _Reply(_error(400, f"unknown field {unknown[0]!r} (expected: {', '.join(sorted(fields))})"))
        return data

    def _targets(self, names: Any, default: list[str] | None) -> list[str]:
        config = self.get_app().config
        if names is None:
            names = default
        elif not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise _Reply(_error(400, "targets: expected a non-empty list of target names"))
        names = list(dict.fromkeys(names or []))
        for name in names:
            if name not in config.targets:
                known = ", ".join(sorted(config.targets)) or "none"
                raise _Reply(_error(422, f"target {name[:100]}: not in {config.source} (known: {known})"))
        if not names:
            raise _Reply(_error(422, "no target to post to: the feed's targets are all disabled"))
        return names

    # -- serialising --

    @staticmethod
    def _delivery(d: Delivery) -> dict[str, Any]:
        return {"target": d.target, "seq": d.seq, "state": d.state, "attempts": d.attempts,
                "url": d.remote_url, "sent_at": _iso(d.sent_at),
                "next_attempt": _iso(d.next_attempt_at) if d.state == "pending" else None,
                "error": d.last_error, "requested_by": d.requested_by}

    def _articles(self, limit: int) -> list[dict[str, Any]]:
        return [{"id": a.id, "feed": a.feed, "guid": a.guid, "title": a.title, "link": a.link,
                 "published": _iso(a.published), "first_seen": _iso(a.first_seen_at),
                 "deliveries": [self._delivery(d) for d in a.deliveries]}
                for a in self.get_app().store.recent(limit)]

    def _previews(self, article_id: int) -> dict[str, Any]:
        app = self.get_app()
        article = app.store.article(article_id)
        if article is None:
            return {}
        names = self.get_app().config.targets_for_feed(article.feed) or list(app.config.targets)
        out: dict[str, Any] = {}
        for name in names:
            try:
                draft = app.draft_for(article, name, None)
                limits = app.limits(name)
            except Exception as exc:  # a broken template must not break the page
                log.warning("preview failed", extra={"article": article.link, "target": name,
                                                     "error": str(exc)})
                out[name] = {"error": f"cannot compose: {exc}"}
                continue
            out[name] = {
                "text": draft.text, "length": draft.length, "limit": limits.max_length,
                "unit": limits.unit, "language": draft.language, "notes": list(draft.notes),
                "facets": [{"byte_start": f.byte_start, "byte_end": f.byte_end, "kind": f.kind,
                            "value": f.value} for f in draft.facets],
                "card": None if draft.card is None else {
                    "uri": draft.card.uri, "title": draft.card.title,
                    "description": draft.card.description, "thumb_url": draft.card.thumb_url},
            }
        return out

    def _article_detail(self, article_id: int) -> dict[str, Any]:
        app = self.get_app()
        article = app.store.article(article_id)
        if article is None:
            raise _Reply(_error(404, f"article {article_id}: no such article"))
        source = article.source
        return {
            "id": article_id, "feed": article.feed, "guid": article.id, "title": article.title,
            "link": article.link, "published": article.published.isoformat(),
            "author": article.author, "categories": list(article.categories),
            "standfirst": article.standfirst,
            "source": None if source is None else {
                "name": source.name, "url": source.url,
                "published": source.published.isoformat() if source.published else None},
            "deliveries": [self._delivery(d) | {"history": [
                {"at": _iso(e.at), "kind": e.kind, "detail": e.detail} for e in d.history]}
                for d in app.store.deliveries(article_id)],
            "preview": self._previews(article_id),
        }

    def _wake(self) -> None:
        if self.on_queued is not None:
            try:
                self.on_queued()
            except Exception:
                log.exception("waking the daemon failed")

    # -- health and metrics --

    def _health(self) -> JSONResponse:
        app = self.get_app()
        config = app.config
        limit = self.max_age if self.max_age is not None else 3 * min(
            config.poll_interval_for(f) for f in config.feeds) + 300
        try:
            last = app.store.get_meta("last_cycle_at")
        except StoreError as exc:
            return _json({"status": "unhealthy", "reason": f"store unreadable: {exc}"}, 503)
        if last is None:
            return _json({"status": "unhealthy", "reason": "no cycle has run yet"}, 503)
        try:
            age = app.clock() - float(last)
        except ValueError:
            return _json({"status": "unhealthy", "reason": f"bad last_cycle_at in the store: {last!r}"}, 503)
        if age > limit:
            return _json({"status": "unhealthy", "last_cycle_age": round(age, 1),
                          "reason": f"last cycle {age:.0f}s ago (limit {limit:.0f}s)"}, 503)
        pauses = app.store.paused_targets()
        if pauses:  # running, but not posting there: 200, so no supervisor restarts it in vain
            reason = "; ".join(f"target {p.target} paused, credentials refused: {p.reason}; fix {p.fix}"
                               for p in pauses.values())
            return _json({"status": "degraded", "last_cycle_age": round(age, 1), "reason": reason,
                          "paused_targets": sorted(pauses)})
        return _json({"status": "ok", "last_cycle_age": round(age, 1)})

    async def healthz(self, request: Request) -> Response:
        return await run_in_threadpool(self._health)

    async def metrics_route(self, request: Request) -> Response:
        body, content_type = await run_in_threadpool(self.metrics.exposition,
                                                     request.headers.get("accept"))
        return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})

    # -- feeds --

    def _load_feed(self, name: str) -> _FeedFile | None:
        app = self.get_app()
        path = Path(app.config.output.dir) / name
        for attempt in (1, 2):
            try:
                with open(path, "rb") as fh:
                    st = os.fstat(fh.fileno())
                    stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
                    cached = self._feeds.get(name)
                    if cached is not None and cached.stamp == stamp:
                        return cached
                    data = fh.read()
            except FileNotFoundError:
                if attempt == 2:
                    return None
                with self._feed_lock:  # one writer, however many requests wait
                    if not path.exists():
                        log.info("output feed missing: writing it", extra={"file": str(path)})
                        app.write_output()
                continue
            digest = hashlib.sha256(data).hexdigest()[:32]
            entry = _FeedFile(stamp, data, f'"{digest}"', st.st_mtime,
                              gzip.compress(data, compresslevel=6, mtime=0))
            self._feeds[name] = entry
            return entry
        return None

    async def feed(self, request: Request) -> Response:
        name = request.url.path.rsplit("/", 1)[-1]
        if not self.get_app().config.output.enabled:
            return _error(404, "the output feed is disabled (output: enabled: false)")
        try:
            entry = await run_in_threadpool(self._load_feed, name)
        except (StoreError, OSError) as exc:
            log.error("output feed unavailable", extra={"file": name, "error": str(exc)})
            return _error(503, f"the output feed cannot be written: {exc}")
        if entry is None:
            return _error(503, "the output feed is not written yet")
        zipped = _accepts_gzip(request.headers.get("accept-encoding", ""))
        etag = entry.gzip_etag if zipped else entry.etag
        headers = {
            "ETag": etag,
            "Last-Modified": formatdate(entry.mtime, usegmt=True),
            "Cache-Control": f"public, max-age={FEED_MAX_AGE}",
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
        }
        inm = request.headers.get("if-none-match")
        ims = request.headers.get("if-modified-since")
        if (inm is not None and _etag_matches(inm, entry.etag, entry.gzip_etag)) or (
                inm is None and ims is not None and _not_modified_since(ims, entry.mtime)):
            return Response(status_code=304, headers=headers)
        headers["Content-Type"] = MEDIA_TYPES[name]
        if zipped:
            headers["Content-Encoding"] = "gzip"
            return Response(entry.gzipped, headers=headers)
        return Response(entry.data, headers=headers)

    # -- the API --

    async def api(self, request: Request, handler: Callable[[Request, str], Any]) -> Response:
        """Authenticate, run ``handler(request, user)``, turn a raised ``_Reply`` into its response."""
        try:
            user = self._api_user(request)
            return await handler(request, user)
        except _Reply as reply:
            return reply.response

    async def list_articles(self, request: Request, user: str) -> Response:
        raw = request.query_params.get("limit", "20")
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
            return _error(400, f"limit: expected a whole number from 1 to {MAX_LIMIT}")
        rows = await run_in_threadpool(self._articles, int(raw))
        return _json({"articles": rows})

    async def get_article(self, request: Request, user: str) -> Response:
        def work() -> dict[str, Any]:
            return self._article_detail(self._article_id(request.path_params["id"]))

        return _json(await run_in_threadpool(work))

    async def repost(self, request: Request, user: str) -> Response:
        article_id = await run_in_threadpool(self._article_id, request.path_params["id"])
        body = await self._json_body(request, {"targets": "", "text": "", "by": "", "force": ""})
        intro, requested_by, force = body.get("text"), body.get("by"), body.get("force", False)
        if intro is not None and (not isinstance(intro, str) or len(intro) > MAX_INTRO):
            return _error(400, f"text: expected a string of at most {MAX_INTRO} characters")
        if requested_by is not None and (not isinstance(requested_by, str) or len(requested_by) > MAX_BY):
            return _error(400, f"by: expected a name of at most {MAX_BY} characters")
        if not isinstance(force, bool):
            return _error(400, "force: expected true or false")
        intro = (intro or "").strip() or None
        requested_by = (requested_by or "").strip() or user

        def work() -> Response:
            app = self.get_app()
            article = app.store.article(article_id)
            assert article is not None
            names = self._targets(body.get("targets"), app.config.targets_for_feed(article.feed))
            request = app.store.request_repost(article_id, names, requested_by=requested_by, intro=intro,
                                               force=force, no_credentials=app.no_credentials)
            if request.refused:
                return _error(409, f"article {article_id}: {request.why_refused()}; "
                                   'send "force": true to post it again',
                              posted=[{"target": d.target, "url": d.remote_url, "sent_at": _iso(d.sent_at)}
                                      for d in request.posted],
                              queued=[{"target": d.target, "state": d.state} for d in request.in_queue])
            skipped = [{"target": t, "reason": app.no_credentials[t]} for t in request.no_credentials]
            if not request.queued:
                return _error(422, f"article {article_id}: not queued: no target it goes to can post here",
                              not_queued=skipped)
            log.info("repost queued", extra={"article": article.link, "targets": ",".join(request.queued),
                                             "by": requested_by, "force": force})
            self._wake()
            answer: dict[str, Any] = {"article": article_id, "queued": list(request.queued),
                                      "requested_by": requested_by, "intro": intro}
            return _json(answer | ({"not_queued": skipped} if skipped else {}), 202)

        return await run_in_threadpool(work)

    async def retry(self, request: Request, user: str) -> Response:
        article_id = await run_in_threadpool(self._article_id, request.path_params["id"])
        body = await self._json_body(request, {"target": ""})
        target = body.get("target")
        if target is not None and not isinstance(target, str):
            return _error(400, "target: expected a target name")

        def work() -> Response:
            if target is not None:
                self._targets([target], None)
            count = self.get_app().store.retry_failed(article_id, target)
            log.info("failed deliveries re-queued", extra={"article_id": article_id, "rows": count,
                                                           "by": user})
            if count:
                self._wake()
            return _json({"article": article_id, "requeued": count})

        return await run_in_threadpool(work)

    # -- the editors' page --

    def _page_headers(self, nonce: str) -> dict[str, str]:
        return {
            "Cache-Control": "no-store",
            "Content-Security-Policy": (
                f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
                "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        }

    async def page(self, request: Request) -> Response:
        nonce = secrets.token_urlsafe(16)
        if not self.auth.on:
            return HTMLResponse(_page_off(self._off_message(), nonce), 404, self._page_headers(nonce))
        cookie = request.cookies.get(COOKIE)
        session = self.auth.session(cookie)
        if session is None:
            problem = "Your session has ended: sign in again." if cookie else None
            response = HTMLResponse(_page_login(nonce, problem), 200, self._page_headers(nonce))
            if cookie:
                response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
            return response
        body = await run_in_threadpool(self._dashboard, nonce, session)
        return HTMLResponse(body, 200, self._page_headers(nonce))

    async def login(self, request: Request) -> Response:
        nonce = secrets.token_urlsafe(16)
        if not self.auth.on:
            return HTMLResponse(_page_off(self._off_message(), nonce), 404, self._page_headers(nonce))
        address = _client(request)
        try:
            self._check_not_refused(address, lambda wait: HTMLResponse(
                _page_login(nonce, f"Too many wrong tokens: try again in {wait} seconds."), 429,
                {**self._page_headers(nonce), "Retry-After": str(wait)}))
            raw = await self._body(request, 4096)
        except _Reply as reply:
            return reply.response
        token = (parse_qs(raw.decode("utf-8", "replace")).get("token") or [""])[0].strip()
        if not self.auth.token_ok(token):
            self._wrong_token(address, "wrong token at sign-in")
            return HTMLResponse(_page_login(nonce, "That token is not right."), 401,
                                self._page_headers(nonce))
        self.auth.close_session(request.cookies.get(COOKIE))  # a new sign-in, a new session id
        cookie, _session = self.auth.open_session()
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, cookie, max_age=max(1, int(self.auth.ttl)), httponly=True,
                            samesite="strict", path="/", secure=request.url.scheme == "https")
        return response

    async def logout(self, request: Request) -> Response:
        self.auth.close_session(request.cookies.get(COOKIE))
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    def _dashboard(self, nonce: str, session: EditorSession) -> str:
        app = self.get_app()
        articles = app.store.recent(50)
        previews = {a.id: self._previews(a.id) for a in articles}
        try:
            last = app.store.get_meta("last_cycle_at")
            depth = app.store.outbox_depth()
        except StoreError:
            last, depth = None, {}
        age = f"{app.clock() - float(last):.0f} s ago" if last else "never"
        queues = "; ".join(
            f"{t}: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items()) if s != "sent")
            for t, states in sorted(depth.items()) if any(s != "sent" for s in states)
        ) or "empty"
        return _page_dashboard(articles, previews, nonce=nonce, csrf=session.csrf,
                               status=f"Last cycle: {age} · outbox: {queues}")


class _HoldApp:
    """ASGI middleware: an HTTP request holds one App from its start until its answer is sent,
    so a reload in between can neither close it nor hand the request a different one midway."""

    def __init__(self, app: ASGIApp, lease: Lease) -> None:
        self.app = app
        self.lease = lease

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.lease() as held:
            token = _REQUEST_APP.set(held)
            try:
                await self.app(scope, receive, send)
            finally:
                _REQUEST_APP.reset(token)


def create_app(app: App | AppSource | AppHolder[App], *, api_token: str | None,
               metrics: Metrics | None = None,
               on_queued: Callable[[], None] | None = None, max_age: float | None = None,
               session_ttl: float = DEFAULT_TTL,
               clock: Callable[[], float] = time.monotonic) -> Starlette:
    """The listener's ASGI application.

    ``app`` is the running ``App``, a callable returning the current one, or
    the daemon's ``AppHolder`` (it builds a new ``App`` on SIGHUP): with a
    holder, each request holds the App it started with until its answer is
    sent, and the old App is closed only after that.  ``api_token`` is the
    editors' token (None or empty: the API and the page are off); a reload
    hands a new one to ``asgi.state.editors.set_token()`` (the ``EditorAuth``),
    which revokes every session.  ``session_ttl`` is how long a sign-in to
    the page lasts; ``clock`` times sessions and wrong-token limits.
    ``metrics`` defaults to a fresh ``Metrics`` reading this app's store;
    ``on_queued`` is called after a repost or retry queued something (wake
    the daemon's delivery loop).  ``max_age`` overrides the health limit
    (default: 3 × the shortest poll interval + 300 s).
    """
    lease: Lease
    if isinstance(app, AppHolder):
        lease = app.use
    else:
        source: AppSource = app if callable(app) else (lambda: app)
        lease = lambda: nullcontext(source())  # noqa: E731 - nothing to hold: it is not swapped
    if metrics is None:
        metrics = Metrics()
    auth = EditorAuth(api_token or None, ttl=session_ttl, clock=clock)
    site = _Site(lease, auth=auth, metrics=metrics, on_queued=on_queued, max_age=max_age)
    if not metrics.bound:
        metrics.bind(lambda: site.get_app().store)  # the scrape's own App

    def api_route(path: str, handler: Callable[..., Any], methods: list[str]) -> Route:
        async def endpoint(request: Request) -> Response:
            return await site.api(request, handler)

        return Route(path, endpoint, methods=methods)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(404, f"no such route: {request.method} {request.url.path[:200]}")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error(405, f"method {request.method} not allowed here")

    async def store_failed(request: Request, exc: Exception) -> Response:
        log.error("state database failed", extra={"path": request.url.path, "error": str(exc)})
        return _error(503, f"the state database is unavailable: {exc}")

    async def crashed(request: Request, exc: Exception) -> Response:
        return _error(500, "internal error (see the daemon's log)")

    routes = [
        Route("/healthz", site.healthz, methods=["GET"]),
        Route("/metrics", site.metrics_route, methods=["GET"]),
        *(Route(f"/{name}", site.feed, methods=["GET"]) for name in FEED_FILES),
        api_route("/api/articles", site.list_articles, ["GET"]),
        api_route("/api/articles/{id}", site.get_article, ["GET"]),
        api_route("/api/articles/{id}/repost", site.repost, ["POST"]),
        api_route("/api/articles/{id}/retry", site.retry, ["POST"]),
        Route("/", site.page, methods=["GET"]),
        Route("/login", site.login, methods=["POST"]),
        Route("/logout", site.logout, methods=["POST"]),
    ]
    asgi = Starlette(routes=routes, middleware=[Middleware(_HoldApp, lease=lease)], exception_handlers={
        404: not_found, 405: not_allowed, StoreError: store_failed, Exception: crashed})
    asgi.state.site = site
    asgi.state.editors = auth
    asgi.state.metrics = metrics
    return asgi


# --- running it -----------------------------------------------------------------------------


@dataclass
class ServerHandle:
    """A uvicorn server running in a daemon thread."""

    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let requests in flight finish (at most ``timeout`` s), then close."""
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(2.0)
        self.sock.close()
        if self.thread.is_alive():
            log.warning("listener thread did not stop", extra={"url": self.url})

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _bind(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def serve(asgi: Any, host: str = "127.0.0.1", port: int = 0, *, access_log: bool = False,
          startup_timeout: float = 10.0, graceful_timeout: float = 5.0) -> ServerHandle:
    """Run ``asgi`` with uvicorn on ``host:port`` (0: a free port) in a daemon thread.

    The socket is bound before this returns (``.port`` is the real port), so
    a bad address fails here with ``OSError``.  Logs go to the ``uvicorn``
    loggers under the root logger's handlers.
    """
    import uvicorn

    sock = _bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    config = uvicorn.Config(asgi, log_config=None, access_log=access_log, lifespan="off",
                            timeout_graceful_shutdown=graceful_timeout, server_header=False)
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported by serve() if it happens during startup
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"listener-{bound_port}", daemon=True)
    thread.start()
    handle = ServerHandle(server, thread, sock, bound_host, bound_port)
    deadline = time.monotonic() + startup_timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        thread.join(0.01)  # uvicorn has no start callback: poll its flag
    if not server.started:
        handle.stop(1.0)
        reason = f": {failure[0]}" if failure else ""
        raise RuntimeError(f"the listener on {handle.url} did not start{reason}")
    log.info("listening", extra={"url": handle.url})
    return handle


# --- HTML -----------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{display:flex;gap:1em;align-items:center;flex-wrap:wrap;padding:.7em 1.2em;
  background:#24292f;color:#fff}
header h1{font-size:1.1em;margin:0 auto 0 0}
header input{width:10em}
main{padding:1em 1.2em}
.status{color:#555;margin:0 0 1em}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #ddd;padding:.5em;text-align:left;vertical-align:top}
th{background:#f0f0f0}
.meta,.by,.notes{color:#666;font-size:.85em}
ul{margin:0;padding:0;list-style:none}
.state{font-weight:600;padding:0 .35em;border-radius:3px;background:#eee}
.state-sent .state{background:#d8f5d8}.state-failed .state{background:#ffd9d9}
.state-pending .state,.state-sending .state{background:#fff2c6}
.error{display:block;color:#a40000;font-size:.85em}
pre{white-space:pre-wrap;background:#f6f8fa;padding:.5em;border:1px solid #ddd;margin:.3em 0}
.actions input{width:100%;box-sizing:border-box;margin-bottom:.3em}
button{cursor:pointer}
output{display:block;font-size:.85em;margin-top:.3em}
.login{max-width:24em;margin:4em auto;background:#fff;padding:1.5em;border:1px solid #ddd}
.login input{width:100%;box-sizing:border-box;margin:.4em 0 .8em}
.problem{color:#a40000}
"""

_JS = """
(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const editor = document.getElementById('editor');
  editor.value = localStorage.getItem('syndicate-editor') || '';
  editor.addEventListener('change', () => localStorage.setItem('syndicate-editor', editor.value.trim()));
  async function post(path, body) {
    const r = await fetch(path, {method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}, body: JSON.stringify(body)});
    let data = {};
    try { data = await r.json(); } catch (e) { data = {error: r.statusText}; }
    return [r.status, data];
  }
  document.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const row = button.closest('tr[data-article]');
    const id = row.dataset.article;
    const out = row.querySelector('output');
    button.disabled = true;
    out.textContent = 'Working\u2026';
    try {
      let status, data;
      if (button.dataset.action === 'repost') {
        const body = {};
        const intro = row.querySelector('input.intro').value.trim();
        if (intro) body.text = intro;
        if (editor.value.trim()) body.by = editor.value.trim();
        [status, data] = await post(`/api/articles/${id}/repost`, body);
        if (status === 409) {
          const where = (data.posted || []).map((p) => `${p.target}: ${p.url}`).join('\\n');
          if (confirm(`Already posted:\\n${where}\\n\\nPost it again?`)) {
            [status, data] = await post(`/api/articles/${id}/repost`, {...body, force: true});
          } else {
            out.textContent = 'Not reposted.';
            return;
          }
        }
        out.textContent = status === 202 ? `Queued for ${data.queued.join(', ')}.`
                                         : `Error: ${data.error || status}`;
      } else {
        [status, data] = await post(`/api/articles/${id}/retry`, {});
        const n = data.requeued;
        out.textContent = status === 200 ? `Re-queued ${n} failed deliver${n === 1 ? 'y' : 'ies'}.`
                                         : `Error: ${data.error || status}`;
      }
      if (status === 401 || status === 403) location.reload();
    } catch (e) {
      out.textContent = `Error: ${e}`;
    } finally {
      button.disabled = false;
    }
  });
})();
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _doc(title: str, body: str, nonce: str, head: str = "") -> str:
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="referrer" content="same-origin">{head}'
            f'<title>{_e(title)}</title><style nonce="{nonce}">{_CSS}</style></head>'
            f'<body>{body}</body></html>\n')


def _page_off(message: str, nonce: str) -> str:
    return _doc("syndicate: editors' page off",
                f'<main class="login"><h1>Editors\' page</h1><p class="problem">{_e(message)}</p></main>',
                nonce)


def _page_login(nonce: str, problem: str | None = None) -> str:
    note = f'<p class="problem" role="alert">{_e(problem)}</p>' if problem else ""
    return _doc("syndicate: sign in", f"""<main class="login"><h1>Editors' page</h1>{note}
<form method="post" action="/login">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form></main>""", nonce)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _link(url: str | None, text: str, cls: str = "") -> str:
    href = _http_url(url)
    klass = f' class="{cls}"' if cls else ""
    if href is None:
        return f"<span{klass}>{_e(text)}</span>"
    return f'<a{klass} href="{_e(href)}" rel="noopener noreferrer" target="_blank">{_e(text)}</a>'


def _delivery_html(d: Delivery) -> str:
    label = d.target + (f" (repost {d.seq})" if d.seq else "")
    parts = [f'<span class="target">{_e(label)}</span>', f'<span class="state">{_e(d.state)}</span>']
    if d.remote_url:
        parts.append(_link(d.remote_url, d.remote_url, "post"))
    if d.state == "pending" and d.attempts:
        nxt = _e(_when(d.next_attempt_at or 0))
        parts.append(f'<span class="meta">{d.attempts} attempt(s); next {nxt}</span>')
    if d.requested_by:
        parts.append(f'<span class="by">requested by {_e(d.requested_by)}</span>')
    if d.last_error:
        parts.append(f'<span class="error">last error: {_e(d.last_error)}</span>')
    return f'<li class="delivery state-{_e(d.state)}">{" ".join(parts)}</li>'


def _preview_html(previews: Mapping[str, Any]) -> str:
    if not previews:
        return ""
    sections = []
    for target, p in previews.items():
        if "error" in p:
            sections.append(f'<section><h3>{_e(target)}</h3>'
                            f'<p class="problem">{_e(p["error"])}</p></section>')
            continue
        notes = "".join(f"<li>{_e(n)}</li>" for n in p["notes"])
        card = ""
        if p["card"]:
            card = f'<p class="meta">link card: {_e(p["card"]["title"])} &lt;{_e(p["card"]["uri"])}&gt;</p>'
        sections.append(
            f'<section class="draft" data-target="{_e(target)}"><h3>{_e(target)} '
            f'<span class="meta">{p["length"]}/{p["limit"]} {_e(p["unit"])}</span></h3>'
            f'<pre>{_e(p["text"])}</pre>{card}<ul class="notes">{notes}</ul></section>')
    return f'<details class="preview"><summary>Preview</summary>{"".join(sections)}</details>'


def _page_dashboard(articles: list[Any], previews: Mapping[int, Any], *, nonce: str, csrf: str,
                    status: str) -> str:
    rows = []
    for a in articles:
        deliveries = "".join(_delivery_html(d) for d in a.deliveries) or \
            '<li class="meta">seen only, not queued</li>'
        failed = any(d.state == "failed" for d in a.deliveries)
        rows.append(f"""<tr data-article="{a.id}" id="article-{a.id}">
<td class="article">{_link(a.link, a.title, "title")}<div class="meta">#{a.id} · {_e(a.feed)}</div>
{_preview_html(previews.get(a.id, {}))}</td>
<td class="date"><time datetime="{_e(_iso(a.published))}">{_e(_when(a.published))}</time></td>
<td class="deliveries"><ul>{deliveries}</ul></td>
<td class="actions">
<input class="intro" aria-label="Intro line for article {a.id}" placeholder="Intro line (optional)">
<button type="button" data-action="repost">Repost</button>
<button type="button" data-action="retry"{"" if failed else " disabled"}>Retry</button>
<output aria-live="polite"></output></td></tr>""")
    table = "<p>No articles recorded yet.</p>"
    if rows:
        table = ("<table><thead><tr><th>Article</th><th>Published</th><th>Posts</th><th>Actions</th></tr>"
                 f"</thead><tbody>{''.join(rows)}</tbody></table>")
    body = f"""<header><h1>syndicate · editors</h1>
<label>Your name <input id="editor" autocomplete="name"></label>
<form method="post" action="/logout"><button type="submit">Sign out</button></form></header>
<main><p class="status">{_e(status)}</p>{table}</main>
<script nonce="{nonce}">{_JS}</script>"""
    return _doc("syndicate: editors", body, nonce, f'<meta name="csrf-token" content="{_e(csrf)}">')
