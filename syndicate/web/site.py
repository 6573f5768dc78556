"""What every part of the listener shares: the App a request holds, JSON answers and errors.

A request holds one ``App`` from its start until its answer is sent
(``HoldApp``, on the daemon's ``AppHolder``), so a reload in between can
neither close it nor hand the request a different one midway; ``Site.app()``
is that App, and ``Site.editors()`` the editors' service over it.

Errors are Starlette's own ``HTTPException`` (status, message, headers),
raised wherever a request turns out wrong and written by one handler
(``http_error``) as ``{"error": message}``, never cached.
"""

from __future__ import annotations

import contextvars
import http.client
import json
import logging
from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from syndicate.web.auth import EditorAuth

if TYPE_CHECKING:
    from syndicate.app import App
    from syndicate.editors import Editors
    from syndicate.metrics import Metrics

log = logging.getLogger("syndicate.web")

MAX_BODY = 64 * 1024

AppSource = Callable[[], "App"]
Lease = Callable[[], AbstractContextManager["App"]]  # holds an App for the length of a request

_REQUEST_APP: contextvars.ContextVar[App | None] = contextvars.ContextVar("syndicate_request_app",
                                                                          default=None)


class HoldApp:
    """ASGI middleware: each HTTP request holds one App (``lease()``) until its answer is sent."""

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


class Site:
    """The listener's state (one per ``create_app``)."""

    def __init__(self, lease: Lease, *, auth: EditorAuth, metrics: Metrics,
                 on_queued: Callable[[], None] | None, max_age: float | None) -> None:
        self.lease = lease
        self.auth = auth
        self.metrics = metrics
        self.on_queued = on_queued
        self.max_age = max_age

    def app(self) -> App:
        """The App this request holds (outside a request: the current one)."""
        app = _REQUEST_APP.get()
        if app is None:
            with self.lease() as current:
                return current
        return app

    def editors(self) -> Editors:
        """The editors' service over this request's App (its store, drafts and credentials)."""
        from syndicate.editors import Editors

        app = self.app()
        return Editors(app.config, app.store, composer=app, fetcher=app.fetcher,
                       cannot_post_here=app.no_credentials, clock=app.clock, worker=app.owner)

    def off_message(self) -> str:
        return f"the editors' API is off: set {self.app().config.listen.api_token_env}"

    def wake(self) -> None:
        """Something was queued: wake the daemon's delivery loop."""
        if self.on_queued is not None:
            try:
                self.on_queued()
            except Exception:
                log.exception("waking the daemon failed")


# --- answers ----------------------------------------------------------------------------------


def answer(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers={"Cache-Control": "no-store"})


def error(status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status,
                        headers={"Cache-Control": "no-store", **(headers or {})})


async def http_error(request: Request, exc: Exception) -> Response:
    """The one handler of ``HTTPException``: ours carry their message; Starlette's own (no route,
    wrong method) get one saying so."""
    assert isinstance(exc, HTTPException)
    message = exc.detail
    if message == http.client.responses.get(exc.status_code, ""):  # raised by Starlette's router
        if exc.status_code == 404:
            message = f"no such route: {request.method} {request.url.path[:200]}"
        elif exc.status_code == 405:
            message = f"method {request.method} not allowed here"
    return error(exc.status_code, message, exc.headers)


# --- request bodies ---------------------------------------------------------------------------


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body, at most ``limit`` bytes (413 beyond)."""
    too_large = HTTPException(413, f"request body too large (at most {limit} bytes)")
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise too_large
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise too_large
    return bytes(chunks)


async def json_body(request: Request, fields: Collection[str]) -> dict[str, Any]:
    """A JSON object (an empty body is ``{}``) with only the known ``fields``."""
    raw = await read_body(request)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise HTTPException(400, "malformed JSON body: not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise HTTPException(400, f"malformed JSON body: {exc.msg} at line {exc.lineno} column {exc.colno}"
                            ) from None
    except ValueError as exc:
        raise HTTPException(400, f"malformed JSON body: {exc}") from None
    if not isinstance(data, dict):
        raise HTTPException(400, "malformed JSON body: expected an object")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise HTTPException(400, f"unknown field {unknown[0]!r} (expected: {', '.join(sorted(fields))})")
    return data
