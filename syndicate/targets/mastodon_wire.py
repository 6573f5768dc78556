"""Mastodon.py's requests on one kept-alive httpcore connection, its answers only as typed as we read.

``WireSession(total)`` is the ``requests.Session`` the Mastodon adapter gives
Mastodon.py (its public ``session=`` parameter).  Mastodon.py still builds
every request (parameters, ``Authorization``, ``Idempotency-Key``) and reads
every answer (status codes → its errors, JSON, ``Link`` pages); only the way
there and back is cheaper:

- A plain request (a form, JSON or query; no files) goes over an httpcore
  connection pool of the target's own, on the deadline-clamping network backend
  (``syndicate.deadline``: the target's ``timeout`` is a total per request, as
  with ``DeadlineSession``): one connection, kept alive between posts, and none
  of requests' and urllib3's layers (adapters, cookie jar, ``PreparedRequest``,
  ``HTTPResponse``).  Anything else — a media upload (files), an HTTP proxy from
  the environment, a redirect — goes through requests itself (``DeadlineSession``).
  The certificates trusted are the ones requests would trust (``REQUESTS_CA_BUNDLE``,
  ``CURL_CA_BUNDLE``, else certifi).
- Mastodon.py turns every JSON answer into typed objects (``AttribAccessDict``:
  every field of the type, nested accounts, media, cards, cast one by one), which
  costs more CPU than the whole HTTP exchange.  For the answers named in
  ``TRIMMED`` (the status a post made: syndicate reads its id, url, uri and
  created_at, nothing else) the session hands Mastodon.py a value already of the
  type it casts to, holding only those fields; Mastodon.py returns a value of its
  type as it is.  Every other answer is cast as usual.
- ``X-RateLimit-Reset`` is left out of what Mastodon.py sees (it parses it with
  dateutil on every answer for its own pacing, which ``ratelimit_method="throw"``
  never uses); the adapter's response hooks see every header.

Errors are requests' (``requests.Timeout``, ``requests.ConnectionError``), which
Mastodon.py wraps in ``MastodonNetworkError`` as it does for its own session.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
import zlib
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpcore
import httpx
import requests
from requests.hooks import dispatch_hook
from requests.structures import CaseInsensitiveDict

from syndicate.deadline import total_deadline
from syndicate.deadline_httpcore import DeadlineBackend
from syndicate.deadline_requests import DeadlineSession
from syndicate.fetch.wire import decode_headers

__all__ = ["TRIMMED", "WireSession"]

# (method, path) → (Mastodon.py's type of the answer, the fields syndicate reads of it)
TRIMMED: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("POST", "/api/v1/statuses"): ("Status", ("id", "url", "uri", "created_at")),
}
HIDDEN = frozenset({"x-ratelimit-reset"})  # not shown to Mastodon.py (see the module's doc)
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _form(data: Mapping[str, Any]) -> bytes:
    """A form body as requests encodes a dict: lists as repeated keys, None left out."""
    pairs: list[tuple[str, Any]] = []
    for key, values in data.items():
        if values is None:
            continue
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            values = [values]
        pairs.extend((key, v) for v in values if v is not None)
    return urlencode(pairs).encode("ascii")


class _Answer(requests.Response):
    """requests' response, its JSON possibly decided already (a trimmed, typed answer)."""

    def __init__(self, parsed: Any = None) -> None:
        super().__init__()
        self._parsed = parsed

    def json(self, **kwargs: Any) -> Any:
        if self._parsed is not None:
            return self._parsed
        return super().json(**kwargs)


class WireSession(DeadlineSession):
    """The session for one Mastodon target: plain requests over a pool of its own (see above)."""

    def __init__(self, total: float, *, trimmed: Mapping[tuple[str, str], tuple[str, tuple[str, ...]]]
                 = TRIMMED) -> None:
        super().__init__(total)
        self._trimmed = dict(trimmed)
        try:
            context = _ssl_context()
        except OSError:  # a CA bundle that cannot be read: requests says so, at the first request
            self._pool: httpcore.ConnectionPool | None = None
        else:
            self._pool = httpcore.ConnectionPool(
                ssl_context=context, max_connections=4, max_keepalive_connections=1, keepalive_expiry=60.0,
                network_backend=DeadlineBackend())
        self._proxied: dict[str, bool] = {}
        self._lock = threading.Lock()

    def request(self, method: str | bytes, url: str | bytes, params: Any = None, data: Any = None,  # type: ignore[override]
                headers: Mapping[str, str] | None = None, files: Any = None, json: Any = None,
                timeout: Any = None, **kwargs: Any) -> requests.Response:
        method, url = str(method.decode() if isinstance(method, bytes) else method), \
            str(url.decode() if isinstance(url, bytes) else url)
        plain = self._pool is not None and not files \
            and not (data is not None and not isinstance(data, Mapping)) \
            and set(kwargs) <= {"auth"} and not self._proxy_for(url)
        if not plain:
            return super().request(method, url, params=params, data=data, headers=headers, files=files,
                                   json=json, timeout=timeout, **kwargs)
        answer = self._send(method, url, params, data, json, dict(headers or {}), timeout)
        if answer is None:  # a redirect: requests follows it as it always did
            return super().request(method, url, params=params, data=data, headers=headers, files=files,
                                   json=json, timeout=timeout, **kwargs)
        return answer

    def close(self) -> None:
        try:
            if self._pool is not None:
                self._pool.close()
        finally:
            super().close()

    # -- pieces --

    def _proxy_for(self, url: str) -> bool:
        """Would requests send this through a proxy from the environment?  (Asked once per host.)"""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            known = self._proxied.get(origin)
        if known is None:
            known = bool(self.trust_env and requests.utils.get_environ_proxies(url, no_proxy=None)) \
                or bool(self.proxies)
            with self._lock:
                self._proxied[origin] = known
        return known

    def _send(self, method: str, url: str, params: Any, data: Any, body_json: Any,
              headers: dict[str, str], timeout: Any) -> requests.Response | None:
        if params:
            url += ("&" if "?" in url else "?") + _form(params).decode("ascii")
        content = b""
        if body_json is not None:
            content = json.dumps(body_json, allow_nan=False).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        elif data:
            content = _form(data)
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        parts = urlsplit(url)
        sent = {"Host": parts.netloc, "User-Agent": requests.utils.default_user_agent(),
                "Accept-Encoding": "gzip, deflate", "Accept": "*/*"}
        sent.update(headers)
        if content or method in ("POST", "PUT", "PATCH"):
            sent["Content-Length"] = str(len(content))
        seconds = timeout if isinstance(timeout, (int, float)) else None
        extensions = {"timeout": {"connect": seconds, "read": seconds, "write": seconds, "pool": seconds}}
        with total_deadline(self.total) as deadline:
            assert self._pool is not None
            try:
                core = self._pool.request(method, url, headers=list(sent.items()), content=content,
                                          extensions=extensions)
            except httpcore.TimeoutException as exc:
                raise requests.Timeout(f"no answer within {self.total:g}s: {exc}") from None
            except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol,
                    httpcore.ProxyError) as exc:
                if deadline.passed:
                    raise requests.Timeout(f"no complete answer within {self.total:g}s (total deadline)") \
                        from None
                raise requests.ConnectionError(f"{type(exc).__name__}: {exc}") from None
        if core.status in REDIRECTS:
            return None
        all_headers = decode_headers(core.headers)
        body = _decoded(core.content, all_headers.get("content-encoding", ""))
        answer = _Answer(self._typed(method, parts.path, core.status, body, all_headers))
        answer.status_code = core.status
        answer.headers = CaseInsensitiveDict(all_headers)
        answer._content = body
        answer.url = url
        answer.encoding = "utf-8" if "json" in all_headers.get("content-type", "") else None
        reason = core.extensions.get("reason_phrase", b"")
        answer.reason = reason.decode("ascii", "ignore") if isinstance(reason, bytes) else str(reason)
        hooked: requests.Response = dispatch_hook("response", self.hooks, answer)  # the adapter's: all
        hooked.headers = CaseInsensitiveDict({k: v for k, v in all_headers.items() if k not in HIDDEN})
        return hooked

    def _typed(self, method: str, path: str, status: int, body: bytes, headers: Mapping[str, str]) -> Any:
        """The answer as a value of Mastodon.py's type holding only the fields read; None: cast it
        as usual (not a trimmed request, not a 2xx JSON object)."""
        trim = self._trimmed.get((method, path))
        if trim is None or not 200 <= status < 300 or "json" not in headers.get("content-type", ""):
            return None
        try:
            value = json.loads(body)
        except ValueError:
            return None  # Mastodon.py says the answer is not JSON, as it would
        if not isinstance(value, dict):
            return None
        from mastodon import return_types

        kind, fields = trim
        cls = getattr(return_types, kind)
        typed = cls.__new__(cls)  # of the type, without the field-by-field cast of its __init__
        dict.update(typed, {k: value[k] for k in fields if k in value})
        return typed


def _ssl_context() -> ssl.SSLContext:
    """The certificates requests would trust: ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` when
    set (a private CA an operator gave requests), else certifi or ``SSL_CERT_FILE`` / ``_DIR``."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        if os.path.isdir(bundle):
            return ssl.create_default_context(capath=bundle)
        return ssl.create_default_context(cafile=bundle)
    return httpx.create_ssl_context()


def _decoded(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding == "gzip":
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)
    return body
