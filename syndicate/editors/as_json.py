"""The service's values as JSON, once for every face.

``status`` is ``syndicate status --json`` and ``GET /api/status`` (times as
``YYYY-MM-DD HH:MM`` UTC, ``-`` for never; its ``"fleet"``, ``fleet``, in ISO 8601); ``article_rows`` is
``GET /api/articles`` and ``detail`` is ``GET /api/articles/{id}`` and
``syndicate show --json`` (ISO 8601 times); ``repost``, ``retry`` and
``release`` are the API's answers and the CLI's ``--json`` ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syndicate.editors.values import (
        ArticleDetail,
        DeleteOutcome,
        Fleet,
        Health,
        PostNowOutcome,
        Preview,
        ReleaseOutcome,
        RepostOutcome,
        RetryOutcome,
        Status,
        TargetPreview,
    )
    from syndicate.models import Article
    from syndicate.store import ArticleStatus, Delivery

When = Callable[[float], str]
Json = dict[str, Any]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def minute(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _opt(when: When, ts: float | None) -> str | None:
    return when(ts) if ts is not None else None


def delivery(d: Delivery, when: When = iso, *, history: bool = False) -> Json:
    out: Json = {"target": d.target, "seq": d.seq, "state": d.state, "attempts": d.attempts,
                 "url": d.remote_url, "sent_at": _opt(when, d.sent_at or None),
                 "next_attempt": _opt(when, d.next_attempt_at) if d.state == "pending" else None,
                 "error": d.last_error, "requested_by": d.requested_by,
                 "planned": _opt(when, d.planned_at), "planned_why": d.planned_why,
                 "op": d.op, "settle_until": _opt(when, d.settle_until)}
    if history:
        out["history"] = [{"at": when(e.at), "kind": e.kind, "detail": e.detail} for e in d.history]
    return out


def article_row(a: ArticleStatus, when: When = iso, *, history: bool = False) -> Json:
    return {"id": a.id, "feed": a.feed, "guid": a.guid, "title": a.title, "link": a.link,
            "published": iso(a.published), "first_seen": iso(a.first_seen_at),
            "deliveries": [delivery(d, when, history=history) for d in a.deliveries], "notes": list(a.notes)}


def article_rows(articles: Iterable[ArticleStatus]) -> list[Json]:
    """``GET /api/articles``: ISO times, no history (the detail has it)."""
    return [article_row(a) for a in articles]


def status(s: Status) -> Json:
    """``syndicate status --json`` and ``GET /api/status``."""
    def never(ts: float | None) -> str:
        return minute(ts) if ts is not None else "-"

    return {
        "articles": [article_row(a, minute, history=True) for a in s.articles],
        "feeds": [{"name": f.name, "url": f.url, "last_success": never(f.last_success_at),
                   "errors": f.error_count, "last_error": f.last_error, "held": f.held} for f in s.feeds],
        "targets": [{"name": t.name, "paused": t.pause is not None,
                     "since": never(t.pause.since) if t.pause else None,
                     "reason": t.pause.reason if t.pause else None,
                     "fix": t.pause.fix if t.pause else None} for t in s.targets],
        "fleet": fleet(s.fleet) if s.fleet is not None else None,
    }


def fleet(f: Fleet) -> Json:
    """The ``"fleet"`` of ``status``: workers, shared budgets, queues (ISO times)."""
    return {
        "workers": [{"owner": w.owner, "host": w.host, "pid": w.pid, "state": w.state,
                     "started": iso(w.started_at), "last_seen": iso(w.last_seen_at),
                     "stopped": _opt(iso, w.stopped_at), "leased": w.leased, "leases_expired": w.expired}
                    for w in f.workers],
        "budgets": [{"target": b.target, "remaining": b.remaining, "reset": _opt(iso, b.reset_at),
                     "updated": iso(b.updated_at), "spent": b.spent} for b in f.budgets],
        "queues": [{"target": q.target, "rows": dict(q.states), "leased_by": q.leased_by,
                    "lease_expired": q.lease_expired} for q in f.queues],
    }


def previews(targets: Iterable[TargetPreview]) -> Json:
    out: Json = {}
    for p in targets:
        if p.draft is None or p.limits is None:
            out[p.target] = {"error": p.error}
            continue
        draft = p.draft
        out[p.target] = {
            "text": draft.text, "length": draft.length, "limit": p.limits.max_length,
            "unit": p.limits.unit, "language": draft.language, "notes": list(p.notes),
            "facets": [{"byte_start": f.byte_start, "byte_end": f.byte_end, "kind": f.kind,
                        "value": f.value} for f in draft.facets],
            "card": None if draft.card is None else {
                "uri": draft.card.uri, "title": draft.card.title,
                "description": draft.card.description, "thumb_url": draft.card.thumb_url},
        }
    return out


def _article(article_id: int | None, article: Article) -> Json:
    source = article.source
    return {
        "id": article_id, "feed": article.feed, "guid": article.id, "title": article.title,
        "link": article.link, "published": article.published.isoformat(),
        "author": article.author, "categories": list(article.categories),
        "standfirst": article.standfirst,
        "source": None if source is None else {
            "name": source.name, "url": source.url,
            "published": source.published.isoformat() if source.published else None},
    }


def detail(d: ArticleDetail) -> Json:
    """``GET /api/articles/{id}`` and ``syndicate show --json``."""
    return _article(d.article_id, d.article) | {
        "deliveries": [delivery(x, history=True) for x in d.deliveries],
        "preview": previews(d.previews)}


def preview(p: Preview) -> Json:
    """``GET /api/preview`` and ``syndicate preview --json``: ``id`` is None for an article not
    recorded (found in a feed or on its page: ``origin``)."""
    return _article(p.found.article_id, p.found.article) | {"origin": p.found.origin,
                                                            "preview": previews(p.targets)}


def repost(r: RepostOutcome, force_hint: str) -> Json:
    """The API's 202 (queued), 409 (needs force) or 422 (not queued) body."""
    not_queued = [{"target": t, "reason": why} for t, why in r.not_queued]
    if r.outcome == "needs_force":
        return {"error": f"article {r.article_id}: {r.refused}; {force_hint} to post it again",
                "posted": [{"target": d.target, "url": d.remote_url, "sent_at": _opt(iso, d.sent_at)}
                           for d in r.posted],
                "queued": [{"target": d.target, "state": d.state} for d in r.in_queue]}
    if r.outcome == "not_queued":
        return {"error": f"article {r.article_id}: {r.refused}", "not_queued": not_queued}
    answer: Json = {"article": r.article_id, "queued": list(r.queued), "requested_by": r.requested_by,
                    "intro": r.intro}
    return answer | ({"not_queued": not_queued} if not_queued else {})


def retry(r: RetryOutcome) -> Json:
    return {"article": r.article_id, "requeued": r.requeued}


def release(r: ReleaseOutcome) -> Json:
    return {"feed": r.feed, "article": r.article_id, "discarded" if r.discarded else "released": r.count}


def health(h: Health) -> Json:
    """``/healthz``'s body (503 when ``status`` is ``unhealthy``)."""
    out: Json = {"status": h.status}
    if h.last_cycle_age is not None:
        out["last_cycle_age"] = round(h.last_cycle_age, 1)
    if h.reason is not None:
        out["reason"] = h.reason
    if h.paused:
        out["paused_targets"] = sorted(p.target for p in h.paused)
    return out


def post_now(done: PostNowOutcome) -> Json:
    """``POST /api/articles/{id}/post-now`` and ``syndicate post-now --json``."""
    return {"article_id": done.article_id, "targets": list(done.targets), "requested_by": done.requested_by}


def delete(done: DeleteOutcome) -> Json:
    """``POST /api/articles/{id}/delete`` and ``syndicate delete --json``."""
    return {"article_id": done.article_id, "queued": list(done.queued), "withdrawn": list(done.withdrawn),
            "already": list(done.already), "nothing": list(done.nothing), "requested_by": done.requested_by}
