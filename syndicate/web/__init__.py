"""The HTTP listener: health, metrics, the re-generated feeds, the editors' API and page.

``create_app(app, api_token=...)`` builds a Starlette application;
``serve(asgi, host, port)`` runs it with uvicorn in a daemon thread and
returns a handle with ``.url``, ``.port`` and ``.stop()``.  By job:

==========  ==================================================================
``site``    the App a request holds, the editors' service over it, JSON errors
``auth``    the editors' token, the page's sessions, the limit on wrong tokens
``feeds``   ``/feed.xml``, ``/feed.atom``, ``/feed.json``: ETag, Last-Modified, 304, gzip
``api``     the JSON API under ``/api/`` (its routes are in its docstring)
``page``    the editors' page (``templates/``, ``static/``), sign-in and sign-out
``server``  ``serve`` and ``ServerHandle``
==========  ==================================================================

Routes beside those of ``api``::

    GET  /healthz                        200 {"status": "ok", "last_cycle_age": s} | 503 {"reason"}
                                         | 200 {"status": "degraded", "reason", "paused_targets"}
    GET  /metrics                        Prometheus text exposition
    GET  /feed.xml /feed.atom /feed.json the re-generated feeds
    GET  /                               the editors' page (sign-in form until the token is given)
    POST /login, POST /logout            the page's session cookie
    GET  /static/page.css, page.js       the page's stylesheet and script

No token configured means the API and the page are **off** (404), never
open.  Signing in to the page opens a server-side session: an HttpOnly,
SameSite=Strict cookie holding a random id, valid ``session_ttl`` seconds,
revoked by signing out or by a new token; the page's buttons call the API
with that cookie plus the session's own CSRF token, so a cookie alone
cannot change anything.  Ten wrong tokens a minute from one address
(sign-in or bearer) and it is refused (429 with ``Retry-After``) for the
rest of that minute; each is logged with the address, never the token.

Every error is JSON ``{"error": "..."}``: Starlette's ``HTTPException``
wherever a request turns out wrong, written by one handler; 503 when the
state database cannot be read, 500 (details in the log) for a crash.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syndicate.app_holder import AppHolder
from syndicate.errors import StoreError
from syndicate.feed_out import FEED_FILES
from syndicate.metrics import Metrics
from syndicate.web.api import Api
from syndicate.web.auth import DEFAULT_TTL, EditorAuth
from syndicate.web.feeds import ServedFeeds
from syndicate.web.page import EditorsPage
from syndicate.web.server import ServerHandle, serve
from syndicate.web.site import AppSource, HoldApp, Lease, Site, answer, error, http_error

if TYPE_CHECKING:
    from syndicate.app import App

__all__ = ["ServerHandle", "create_app", "serve"]

log = logging.getLogger("syndicate.web")


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
    site = Site(lease, auth=auth, metrics=metrics, on_queued=on_queued, max_age=max_age)
    if not metrics.bound:
        metrics.bind(lambda: site.app().store)  # the scrape's own App

    async def healthz(request: Request) -> Response:
        from syndicate.editors import as_json

        report = await run_in_threadpool(lambda: site.editors().health(site.max_age))
        return answer(as_json.health(report), 200 if report.healthy else 503)

    async def metrics_route(request: Request) -> Response:
        body, content_type = await run_in_threadpool(metrics.exposition, request.headers.get("accept"))
        return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})

    async def store_failed(request: Request, exc: Exception) -> Response:
        log.error("state database failed", extra={"path": request.url.path, "error": str(exc)})
        return error(503, f"the state database is unavailable: {exc}")

    async def crashed(request: Request, exc: Exception) -> Response:
        return error(500, "internal error (see the daemon's log)")

    feeds = ServedFeeds(site)
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
        *(Route(f"/{name}", feeds.route, methods=["GET"]) for name in FEED_FILES),
        *Api(site).routes(),
        *EditorsPage(site).routes(),
    ]
    asgi = Starlette(routes=routes, middleware=[Middleware(HoldApp, lease=lease)], exception_handlers={
        HTTPException: http_error, StoreError: store_failed, Exception: crashed})
    asgi.state.site = site
    asgi.state.editors = auth
    asgi.state.metrics = metrics
    return asgi
