"""``Article`` <-> the JSON the state database keeps of it (``articles.data``).

Dates are ISO 8601 strings, so a stored article reads back equal to the one
that was written (``article_from_json(article_to_json(a)) == a``).  A field
added since an article was written takes its default; ``content_hash``, the
fingerprint's name before schema 10, is read as ``fingerprint``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from syndicate.models import Article, Source
from syndicate.value import asdict


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def article_to_json(article: Article) -> str:
    data = asdict(article)
    for key in ("published", "feed_published", "updated"):
        data[key] = _dt(getattr(article, key))
    if article.source:
        data["source"]["published"] = _dt(article.source.published)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def article_from_json(text: str) -> Article:
    data: dict[str, Any] = json.loads(text)
    if "content_hash" in data:  # written before schema 10
        data.setdefault("fingerprint", data.pop("content_hash"))
    for key in ("published", "feed_published", "updated"):
        data[key] = _parse_dt(data.get(key))
    data["categories"] = tuple(data.get("categories") or ())
    src = data.get("source")
    if src:
        data["source"] = Source(name=src.get("name"), url=src.get("url"),
                                published=_parse_dt(src.get("published")))
    return Article(**data)
