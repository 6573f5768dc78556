"""The editors' page: sign-in, the table of recent articles, and its CSS and JS.

``GET /`` is the sign-in form until the token is given, then the table:
each article's deliveries (state, post link, who asked, last error, the
row's history), a preview of what each target would get, and Repost /
Retry buttons that call the JSON API with the session's CSRF token.
``POST /login`` opens a session (``auth.EditorAuth``), ``POST /logout``
ends it on the server too.

The HTML is ``templates/*.html`` (Jinja2, every value escaped as
``html.escape`` does), the CSS and JS ``static/`` files served at
``/static/``.  Every page carries a strict Content-Security-Policy: nothing
but the page's own stylesheet and script, which it names with a fresh nonce.
"""

from __future__ import annotations

import html
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from syndicate.errors import StoreError
from syndicate.web.auth import COOKIE, client_address, refused_wait, wrong_token
from syndicate.web.site import Site, read_body

if TYPE_CHECKING:
    from syndicate.web.auth import EditorSession

HERE = Path(__file__).parent
STATIC = {"page.css": "text/css; charset=utf-8", "page.js": "text/javascript; charset=utf-8"}
RECENT = 50  # articles on the page


def http_url(url: str | None) -> str | None:
    """``url`` if it is an http(s) URL (safe in an ``href``), else None."""
    if not url:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def _escaped(value: object) -> Markup:
    """Every value a template writes, escaped (``"`` and ``'`` too); already-safe markup as it is."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True,
                      undefined=StrictUndefined, finalize=_escaped, trim_blocks=True)
    env.filters["when"] = lambda ts: datetime.fromtimestamp(ts or 0, UTC).strftime("%Y-%m-%d %H:%M UTC")
    env.filters["iso"] = lambda ts: datetime.fromtimestamp(ts, UTC).isoformat()
    env.filters["http_url"] = http_url
    return env


def headers(nonce: str) -> dict[str, str]:
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


class EditorsPage:
    """The page's handlers over one listener's ``Site``."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.templates = _environment()
        self.static = {name: (HERE / "static" / name).read_bytes() for name in STATIC}

    def routes(self) -> list[Route]:
        return [Route("/", self.page, methods=["GET"]), Route("/login", self.login, methods=["POST"]),
                Route("/logout", self.logout, methods=["POST"]),
                Route("/static/{name}", self.static_file, methods=["GET"])]

    def _html(self, template: str, status: int = 200, extra: dict[str, str] | None = None, /,
              **values: Any) -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        body = self.templates.get_template(template).render(nonce=nonce, **values)
        return HTMLResponse(body, status, {**headers(nonce), **(extra or {})})

    def _off(self) -> HTMLResponse:
        return self._html("off.html", 404, message=self.site.off_message())

    async def page(self, request: Request) -> Response:
        auth = self.site.auth
        if not auth.on:
            return self._off()
        cookie = request.cookies.get(COOKIE)
        session = auth.session(cookie)
        if session is None:
            response = self._html("login.html", problem="Your session has ended: sign in again." if cookie
                                  else None)
            if cookie:
                response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
            return response
        values = await run_in_threadpool(self._dashboard, session)
        return self._html("dashboard.html", **values)

    def _dashboard(self, session: EditorSession) -> dict[str, Any]:
        editors = self.site.editors()
        articles = editors.recent(RECENT)
        previews = {a.id: editors.previews(a.id) for a in articles}
        health = editors.health(self.site.max_age)
        try:
            depth = editors.queues()
        except StoreError:
            depth = {}
        age = f"{health.last_cycle_age:.0f} s ago" if health.last_cycle_age is not None else "never"
        queues = "; ".join(
            f"{t}: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items()) if s != "sent")
            for t, states in sorted(depth.items()) if any(s != "sent" for s in states)
        ) or "empty"
        return {"articles": articles, "previews": previews, "csrf": session.csrf,
                "status_line": f"Last cycle: {age} · outbox: {queues}"}

    async def login(self, request: Request) -> Response:
        auth = self.site.auth
        if not auth.on:
            return self._off()
        address = client_address(request)
        wait = refused_wait(auth, address)
        if wait is not None:
            return self._html("login.html", 429, {"Retry-After": str(wait)},
                              problem=f"Too many wrong tokens: try again in {wait} seconds.")
        raw = await read_body(request, 4096)
        token = (parse_qs(raw.decode("utf-8", "replace")).get("token") or [""])[0].strip()
        if not auth.token_ok(token):
            wrong_token(auth, address, "wrong token at sign-in")
            return self._html("login.html", 401, problem="That token is not right.")
        auth.close_session(request.cookies.get(COOKIE))  # a new sign-in, a new session id
        cookie, _session = auth.open_session()
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, cookie, max_age=max(1, int(auth.ttl)), httponly=True,
                            samesite="strict", path="/", secure=request.url.scheme == "https")
        return response

    async def logout(self, request: Request) -> Response:
        self.site.auth.close_session(request.cookies.get(COOKIE))
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    async def static_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self.static:
            raise HTTPException(404, f"no such file: /static/{name[:100]}")
        return Response(self.static[name], headers={
            "Content-Type": STATIC[name], "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})
