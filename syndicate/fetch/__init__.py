"""HTTP for feeds (and the odd image or page): conditional GET, limits, redirects.

``Fetcher.fetch_feed`` returns a ``FetchResult`` (status 200 with bytes, or 304
with ``content=None``) or raises ``FetchError``/``FeedRateLimited`` with a
one-line reason.  No socket, ssl or httpx exception ever leaves this package,
and httpx is not even imported unless a caller hands ``Fetcher`` a transport.

Limits, all per call:

- ``timeout`` is a *total* deadline: connect, request, response headers and
  every read of the body share it, so a server trickling one byte at a time
  cannot keep us beyond it.  (Name resolution is the one blocking step that
  no socket timeout covers.)
- ``max_bytes`` caps the decoded body: a Content-Length above it is refused
  before the body is read, and a streamed body is abandoned as soon as it
  passes the cap, so a 50 MB response never sits in memory.
- redirects are followed by hand (at most ``max_redirects``) so the chain can
  be recorded and permanent moves (every hop 301/308) reported to the store.

Where: ``fetch_feed`` fetches the operator's own feed URLs, wherever they
point.  ``get_bytes`` fetches what a feed's content names (pages, images) on
a second connection pool that applies the content ``AddressPolicy``
(``syndicate.netguard``) to every connection it opens: on every redirect hop,
to the address actually connected to.  Two pools, so a
connection opened for a feed is never reused for content.

By job: ``fetcher`` (``Fetcher``, ``FetchResult``: the requests, the
redirects, the two pools), ``reading`` (a body within the limits; every
failure as one line), ``wire`` (the keep-alive pool, targets, responses),
``http11`` (one GET on a standard-library socket: connect, TLS, the head,
the body's framing), ``urls`` (URLs as httpx.URL parses and joins them),
``failures`` (the wire's exceptions), ``transport`` (a caller's httpx
transport, the one path that imports httpx).
"""

from __future__ import annotations

from syndicate.fetch.fetcher import FEED_ACCEPT, Fetcher, FetchResult, body_hash
from syndicate.fetch.reading import parse_retry_after

__all__ = ["FEED_ACCEPT", "FetchResult", "Fetcher", "body_hash", "parse_retry_after"]
