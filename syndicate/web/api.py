"""The editors' JSON API: parsing requests and rendering answers over ``syndicate.editors``.

Routes (``Authorization: Bearer TOKEN``, or the page's session with its CSRF token)::

    GET  /api/articles?limit=N         recent articles with per-target deliveries
    GET  /api/articles/{id}            one article: deliveries with their history, previews
    POST /api/articles/{id}/repost     {"targets"?, "text"?, "by"?, "force"?} → 202 | 409 | 422
    POST /api/articles/{id}/retry      {"target"?} → 200 {"requeued": n}
    GET  /api/status?limit=N           what ``syndicate status --json`` says: articles, feeds, targets, fleet
    GET  /api/preview?ref=R            what would be posted for R (``&target=T``…, ``&text=…``)
    POST /api/repost                   {"ref", "targets"?, "text"?, "by"?, "force"?}: as above, for
                                       any ref ``syndicate repost`` takes (number, guid, URL of an
                                       entry of a feed or of an old article's page)
    POST /api/retry                    {"ref"?, "target"?}: failed deliveries of one article, or all
    POST /api/release                  {"ref", "discard"?}: held deliveries of a feed or an article

A ``ref`` is what the CLI takes: an article's number, guid or URL (and for
``release``, a feed's name).  Errors: 400 malformed body or field, 404
unknown article, 409 already posted or queued (repost without ``force``),
413 body too large, 422 unknown target or no target that can post.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syndicate.editors import InvalidInput, NoTarget, NotFound, RepostOutcome, UnknownTarget
from syndicate.editors import as_json as to_json
from syndicate.web.auth import api_user
from syndicate.web.site import Site, answer, json_body

log = logging.getLogger("syndicate.web")

MAX_LIMIT = 500
FORCE_HINT = 'send "force": true'
REPOST_FIELDS = ("targets", "text", "by", "force")

T = TypeVar("T")
Handler = Callable[[Request, str], Awaitable[Response]]


async def call(work: Callable[[], T]) -> T:
    """Run a service call in the thread pool; its refusals become HTTP errors."""
    try:
        return await run_in_threadpool(work)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except (UnknownTarget, NoTarget) as exc:
        raise HTTPException(422, str(exc)) from None
    except InvalidInput as exc:
        raise HTTPException(400, str(exc)) from None


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "20")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise HTTPException(400, f"limit: expected a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def _repost_fields(body: dict[str, Any]) -> dict[str, Any]:
    """``text``, ``by``, ``force`` and ``targets`` of a repost body, type-checked (as the
    service's ``intro``, ``requested_by``, ``force`` and ``targets``)."""
    intro, requested_by, targets = body.get("text"), body.get("by"), body.get("targets")
    force = body.get("force", False)
    if intro is not None and not isinstance(intro, str):
        raise HTTPException(400, "text: expected a string of at most 1000 characters")
    if requested_by is not None and not isinstance(requested_by, str):
        raise HTTPException(400, "by: expected a name of at most 100 characters")
    if not isinstance(force, bool):
        raise HTTPException(400, "force: expected true or false")
    if targets is not None and (not isinstance(targets, list) or not targets
                                or not all(isinstance(n, str) for n in targets)):
        raise HTTPException(400, "targets: expected a non-empty list of target names")
    return {"intro": intro, "requested_by": requested_by, "force": force, "targets": targets}


def _optional_str(body: dict[str, Any], name: str, what: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise HTTPException(400, f"{name}: expected {what}")
    return value


class Api:
    """The API's handlers over one listener's ``Site``."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def routes(self) -> list[Route]:
        def route(path: str, handler: Handler, method: str) -> Route:
            async def endpoint(request: Request) -> Response:
                user = api_user(request, self.site.auth, self.site.off_message)
                return await handler(request, user)

            return Route(path, endpoint, methods=[method])

        return [
            route("/api/articles", self.list_articles, "GET"),
            route("/api/articles/{id}", self.get_article, "GET"),
            route("/api/articles/{id}/repost", self.repost_by_id, "POST"),
            route("/api/articles/{id}/retry", self.retry_by_id, "POST"),
            route("/api/articles/{id}/post-now", self.post_now, "POST"),
            route("/api/articles/{id}/delete", self.delete, "POST"),
            route("/api/status", self.status, "GET"),
            route("/api/preview", self.preview, "GET"),
            route("/api/repost", self.repost, "POST"),
            route("/api/retry", self.retry, "POST"),
            route("/api/release", self.release, "POST"),
        ]

    def _article_id(self, raw: str) -> int:
        """The recorded article a path's ``{id}`` names, or 404."""
        if raw.isascii() and raw.isdigit() and len(raw) < 19 and self.site.app().store.article(int(raw)):
            return int(raw)
        raise HTTPException(404, f"article {raw[:100]}: no such article")

    # -- reading --

    async def list_articles(self, request: Request, user: str) -> Response:
        limit = _limit(request)
        editors = self.site.editors()
        return answer({"articles": to_json.article_rows(await call(lambda: editors.recent(limit)))})

    async def get_article(self, request: Request, user: str) -> Response:
        editors = self.site.editors()

        def work() -> dict[str, Any]:
            return to_json.detail(editors.detail(self._article_id(request.path_params["id"])))

        return answer(await call(work))

    async def status(self, request: Request, user: str) -> Response:
        limit = _limit(request)
        editors = self.site.editors()
        return answer(to_json.status(await call(lambda: editors.status(limit))))

    async def preview(self, request: Request, user: str) -> Response:
        ref = request.query_params.get("ref", "").strip()
        if not ref:
            raise HTTPException(400, "ref: expected an article's number, guid or URL")
        targets = request.query_params.getlist("target")
        intro = request.query_params.get("text")
        editors = self.site.editors()
        try:
            shown = await call(lambda: editors.preview(ref, targets, intro))
        finally:
            editors.close()
        return answer(to_json.preview(shown))

    # -- requests --

    async def repost_by_id(self, request: Request, user: str) -> Response:
        article_id = await run_in_threadpool(self._article_id, request.path_params["id"])
        fields = _repost_fields(await json_body(request, REPOST_FIELDS))
        return await self._repost(article_id, user, fields)

    async def repost(self, request: Request, user: str) -> Response:
        body = await json_body(request, ("ref", *REPOST_FIELDS))
        ref = _optional_str(body, "ref", "an article's number, guid or URL")
        if not ref or not ref.strip():
            raise HTTPException(400, "ref: expected an article's number, guid or URL")
        return await self._repost(ref.strip(), user, _repost_fields(body))

    async def _repost(self, ref: str | int, user: str, fields: dict[str, Any]) -> Response:
        editors = self.site.editors()
        try:
            done: RepostOutcome = await call(lambda: editors.repost(ref, requester=user, **fields))
        finally:
            editors.close()
        status = {"queued": 202, "needs_force": 409, "not_queued": 422}[done.outcome]
        if done.outcome == "queued":
            log.info("repost queued", extra={"article": done.found.article.link, "by": done.requested_by,
                                             "targets": ",".join(done.queued), "force": fields["force"]})
            self.site.wake()
        return answer(to_json.repost(done, FORCE_HINT), status)

    async def retry_by_id(self, request: Request, user: str) -> Response:
        article_id = await run_in_threadpool(self._article_id, request.path_params["id"])
        body = await json_body(request, ("target",))
        return await self._retry(article_id, _optional_str(body, "target", "a target name"), user)

    async def retry(self, request: Request, user: str) -> Response:
        body = await json_body(request, ("ref", "target"))
        ref = _optional_str(body, "ref", "an article's number, guid or URL")
        return await self._retry(ref, _optional_str(body, "target", "a target name"), user)

    async def _retry(self, ref: str | int | None, target: str | None, user: str) -> Response:
        editors = self.site.editors()
        done = await call(lambda: editors.retry(ref, target))
        log.info("failed deliveries re-queued", extra={"article_id": done.article_id, "rows": done.requeued,
                                                       "by": user})
        if done.requeued:
            self.site.wake()
        return answer(to_json.retry(done))

    async def release(self, request: Request, user: str) -> Response:
        body = await json_body(request, ("ref", "discard"))
        what = _optional_str(body, "ref", "a feed's name or an article's number, guid or URL")
        discard = body.get("discard", False)
        if not what:
            raise HTTPException(400, "ref: expected a feed's name or an article's number, guid or URL")
        if not isinstance(discard, bool):
            raise HTTPException(400, "discard: expected true or false")
        editors = self.site.editors()
        done = await call(lambda: editors.release(what, discard=discard))
        log.info("held deliveries " + ("discarded" if discard else "released"),
                 extra={"what": done.label, "rows": done.count, "by": user})
        if done.count and not discard:
            self.site.wake()
        return answer(to_json.release(done))

    async def post_now(self, request: Request, user: str) -> Response:
        """The article's posts go at once, without waiting to settle."""
        article_id = await run_in_threadpool(self._article_id, request.path_params["id"])
        body = await json_body(request, ("by",))
        by = _optional_str(body, "by", "a name")
        editors = self.site.editors()
        done = await call(lambda: editors.post_now(article_id, requester=user, requested_by=by))
        log.info("post now", extra={"article_id": article_id, "targets": ",".join(done.targets),
                                    "by": done.requested_by})
        if done.targets:
            self.site.wake()
        return answer(to_json.post_now(done))

    async def delete(self, request: Request, user: str) -> Response:
        """Delete the article's posts (``targets``: only those), recorded with who asked; the page
        asks for confirmation first, the API takes the request as it."""
        article_id = await run_in_threadpool(self._article_id, request.path_params["id"])
        body = await json_body(request, ("by", "targets"))
        by = _optional_str(body, "by", "a name")
        targets = body.get("targets")
        if targets is not None and (not isinstance(targets, list) or not targets
                                    or not all(isinstance(t, str) for t in targets)):
            raise HTTPException(400, "targets: expected a non-empty list of target names")
        editors = self.site.editors()
        done = await call(lambda: editors.delete(article_id, requester=user, requested_by=by,
                                                 targets=targets))
        log.info("delete requested", extra={"article_id": article_id, "targets": ",".join(done.queued),
                                            "by": done.requested_by})
        if done.queued:
            self.site.wake()
        return answer(to_json.delete(done), 202 if done.queued else 200)
