"""The re-generated feeds served to mirror sites: ``/feed.xml``, ``/feed.atom``, ``/feed.json``.

Each file is read from the state (``Store.mirror_file``: rebuilt by the
cycle of whichever worker saw a change, or once here if there is none yet),
so every worker's listener serves the same bytes with the same ``ETag``;
it is kept in memory while its ETag stays the same (one small query per
request), with its gzip-compressed bytes made once.  Answers carry a
strong ``ETag`` per representation (either validates the other's cached
copy), ``Last-Modified`` (when its bytes last changed), ``Cache-Control:
public, max-age=300`` and ``Vary: Accept-Encoding``; ``If-None-Match``
(weak comparison) or, without it, ``If-Modified-Since`` gets a 304.
"""

from __future__ import annotations

import gzip
import logging
import threading
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from syndicate.errors import StoreError
from syndicate.feed_out import MEDIA_TYPES
from syndicate.value import valueclass
from syndicate.web.site import Site

log = logging.getLogger("syndicate.web")

FEED_MAX_AGE = 300  # seconds mirror sites may cache a feed


@valueclass
class FeedFile:
    stamp: str  # the ETag the state gives it: unchanged, the cached bytes serve
    data: bytes
    etag: str
    mtime: float
    gzipped: bytes  # the same bytes, gzip-compressed once

    @property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + '-gzip"'


def accepts_gzip(header: str) -> bool:
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


def etag_matches(header: str, *etags: str) -> bool:
    """If-None-Match uses the weak comparison: ``W/`` prefixes are ignored."""
    wanted = {e.removeprefix("W/") for e in etags}
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") in wanted:
            return True
    return False


def not_modified_since(header: str, mtime: float) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return int(mtime) <= since.timestamp()


class ServedFeeds:
    """The feed routes of one listener, with their cache."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self._cache: dict[str, FeedFile] = {}
        self._write_lock = threading.Lock()

    def _load(self, name: str) -> FeedFile | None:
        app = self.site.app()
        for attempt in (1, 2):
            stamps = app.store.mirror_stamps()
            if name in stamps:
                break
            if attempt == 2:
                return None
            with self._write_lock:  # one writer, however many requests wait
                if name not in app.store.mirror_stamps():
                    log.info("output feed missing: writing it", extra={"file": name})
                    app.write_output()
        etag = stamps[name][0]
        cached = self._cache.get(name)
        if cached is not None and cached.stamp == etag:
            return cached
        published = app.store.mirror_file(name)
        if published is None:
            return None
        entry = FeedFile(published.etag, published.data, published.etag, published.updated_at,
                         gzip.compress(published.data, compresslevel=6, mtime=0))
        self._cache[name] = entry
        return entry

    async def route(self, request: Request) -> Response:
        name = request.url.path.rsplit("/", 1)[-1]
        if not self.site.app().config.output.enabled:
            raise HTTPException(404, "the output feed is disabled (output: enabled: false)")
        try:
            entry = await run_in_threadpool(self._load, name)
        except (StoreError, OSError) as exc:
            log.error("output feed unavailable", extra={"file": name, "error": str(exc)})
            raise HTTPException(503, f"the output feed cannot be written: {exc}") from None
        if entry is None:
            raise HTTPException(503, "the output feed is not written yet")
        zipped = accepts_gzip(request.headers.get("accept-encoding", ""))
        headers = {
            "ETag": entry.gzip_etag if zipped else entry.etag,
            "Last-Modified": formatdate(entry.mtime, usegmt=True),
            "Cache-Control": f"public, max-age={FEED_MAX_AGE}",
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
        }
        inm = request.headers.get("if-none-match")
        ims = request.headers.get("if-modified-since")
        if (inm is not None and etag_matches(inm, entry.etag, entry.gzip_etag)) or (
                inm is None and ims is not None and not_modified_since(ims, entry.mtime)):
            return Response(status_code=304, headers=headers)
        headers["Content-Type"] = MEDIA_TYPES[name]
        if zipped:
            headers["Content-Encoding"] = "gzip"
            return Response(entry.gzipped, headers=headers)
        return Response(entry.data, headers=headers)
