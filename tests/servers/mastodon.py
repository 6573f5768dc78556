"""A loopback Mastodon server for tests: the REST API as the docs and the source describe it.

Only what syndicate uses, but that part faithfully (Mastodon 4.x, mastodon/mastodon):

- ``POST /api/v1/statuses`` (form, multipart or JSON body): ``status``, ``visibility``,
  ``language``, ``spoiler_text``, ``sensitive``, ``media_ids[]``.  Validation failures are
  ``422 {"error": "Validation failed: Text character limit of 500 exceeded"}``
  (``Api::ErrorHandling`` renders ``RecordInvalid#to_s``).  Length is counted as
  ``StatusLengthValidator`` does: the spoiler text plus the text, every http(s) URL replaced by
  ``characters_reserved_per_url`` characters and every ``@user@domain`` mention by ``@user``,
  measured in extended grapheme clusters (Ruby ``each_grapheme_cluster``).  With
  ``count_mode="codepoints"`` it counts as stricter servers do (Pleroma/Akkoma and others):
  code points, every URL literally, while ``/api/v2/instance`` still advertises the limit and
  ``characters_reserved_per_url`` — and it answers the same 422.
  A status's ``mentions`` are what ``ProcessMentionsService`` makes of its text with
  ``Account::MENTION_RE`` (:func:`mentions_in`), every named account taken to exist.
  ``Idempotency-Key``: as ``PostStatusService#with_idempotency``, the key is scoped to the
  account, kept for ``idempotency_ttl`` (3600 s), and a repeat returns the first status
  without creating anything, whatever the rest of the request says.
- ``GET /api/v1/statuses/:id``, ``GET /api/v1/accounts/verify_credentials``,
  ``GET /api/v1/accounts/:id/statuses`` (newest first, ``limit`` default 20, at most 40,
  ``max_id``/``since_id``/``min_id``, ``exclude_replies``/``only_media``/``pinned``; a ``Link``
  header as ``Api::V1::Accounts::StatusesController`` sets it: ``rel="next"`` with ``max_id``
  only when the page is full, ``rel="prev"`` with ``min_id`` unless it is empty, each URL
  carrying the request's ``limit`` and filters, query keys sorted as Rails' ``to_query``).
- ``PUT /api/v1/statuses/:id`` as ``UpdateStatusService`` (the same validation as a new status;
  what a request leaves out is reset, except the language; a call changing nothing makes no
  edit), ``GET /api/v1/statuses/:id/history`` (``StatusEdit`` entities, oldest first),
  ``GET /api/v1/statuses/:id/source`` and ``DELETE /api/v1/statuses/:id`` (the status and its
  source text; :attr:`MastodonServer.deleted` lists what was deleted).
- ``GET /api/v1/instance`` and ``/api/v2/instance`` with ``configuration.statuses``
  ``max_characters`` and ``characters_reserved_per_url``, and (v2) ``api_versions.mastodon``
  (``api_version``: 2 as 4.3 says; 7, as 4.5 says, also takes ``quote_approval_policy`` on a
  status — ``public``, ``followers`` or ``nobody``, else 422 — and shows it as the status's
  ``quote_approval``; below 7 the parameter is ignored, as any unknown one).
- ``POST /api/v2/media`` → 202 with ``url: null``; ``GET /api/v1/media/:id`` → 206 while
  processing, and the ``media_polls``-th GET finds it processed (200, ``url`` set;
  ``media_polls=0``: the upload itself answers 200); attaching it earlier is a 422.
  ``PUT /api/v1/media/:id``; ``POST /api/v1/media`` (the old synchronous endpoint, 200).
- ``X-RateLimit-Limit/Remaining/Reset`` (Reset in ISO 8601 with microseconds, as Rails'
  ``iso8601(6)``) on every API response; a budget of ``budget`` requests per ``window``
  seconds; ``429 {"error": "Too many requests"}`` once it is spent (``Rack::Attack``
  ``throttled_responder``).  Time is ``clock()`` (inject ``tests.fakes.FakeClock``), and
  :meth:`MastodonServer.reset_window` starts a fresh window, so tests never sleep.
  ``latency`` (``--latency``) makes every API request wait that many seconds first.
  :attr:`MastodonServer.peak_window` is the most requests any one window counted (those
  answered 429 included): a fleet that shares its budget keeps it ``<= budget``.
- ``401 {"error": "The access token is invalid"}`` (Doorkeeper) on a bad or missing token,
  ``403 {"error": "This action is outside the authorized scopes"}`` on a read-only token,
  ``404 {"error": "Record not found"}``.

Fault injection: :meth:`MastodonServer.queue_faults` with :class:`Fault` values; each request
takes the first queued fault that matches its method and path.  With no queued fault for it,
:meth:`MastodonServer.random_faults` fails a seeded random share of the matching requests
(``random_faults(0.2, seed=7, kinds=(503, 500, "drop", "accept_then_drop"), method="POST",
path="/api/v1/statuses")``); the same seed and the same request order give the same faults.
A ``Fault(hang=True)`` waits until :meth:`MastodonServer.release_hangs` (or ``hang_for``, or
the server closes), then drops the connection, or answers normally with ``then_answer=True``.
``Fault(accept_then_hang=True)`` does the work (the status is created), then holds the answer
the same way and drops it: the moment between the server's acceptance and the client's record.

Steering the account: :meth:`MastodonServer.post_as_account` makes statuses as the account's
owner would from another app (no Idempotency-Key); :meth:`MastodonServer.forget_idempotency_keys`
empties the Idempotency-Key store, as Mastodon's one-hour expiry does.
A ``Fault(trickle=0.1)`` does the request's work, sends the status line and headers, then one
byte of body (a space) every 0.1 s for ever: until the client goes away or the server closes
(:attr:`MastodonServer.trickling` counts the answers still trickling).  No per-read timeout
ever fires on it; only a total deadline ends it.

Inspection: :attr:`MastodonServer.statuses`, :attr:`MastodonServer.media`,
:attr:`MastodonServer.requests` (with the response status and headers, and the fault applied),
and :attr:`MastodonServer.errors` (tracebacks of handler bugs; tests should expect it empty).
:meth:`MastodonServer.wait_for_request` blocks (bounded) until a request matching a predicate
has arrived; ``on_request`` (a callable taking the :class:`LoggedRequest`) is called as each
request arrives, before it is answered — for tests that act on progress, not on time.

Outside pytest (for the daemon's crash tests)::

    python -m tests.servers.mastodon --port 0 --token T --state-file statuses.json

prints ``http://127.0.0.1:PORT`` on its first line, writes the created statuses to the state
file (atomically) after every change, and serves ``/__control/...`` (faults, random_faults,
release_hangs, reset_window, config, state, forget_idempotency_keys, post_as_account) so
another process can steer it.  SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import email.utils
import html
import itertools
import json
import os
import random
import signal
import socket
import sys
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import regex

QUOTES_API_VERSION = 7  # api_versions.mastodon from which POST /api/v1/statuses takes quote_approval_policy
QUOTE_POLICIES = ("public", "followers", "nobody")

# --- counting as StatusLengthValidator does ------------------------------------------------

# twitter-text's valid_url as Mastodon patches it (config/initializers/twitter_regex.rb), with
# extract_url_without_protocol: false.  The domain part is simplified: labels of word
# characters and hyphens ending in an alphabetic (or punycode) TLD; twitter-text checks the
# TLD against its list, which rejects bare IP addresses and 'localhost' just as this does.
_GENERAL_PATH = r"[^\p{White_Space}<>()?]"
_BALANCED_PARENS = rf"\((?:{_GENERAL_PATH}+|(?:{_GENERAL_PATH}*\({_GENERAL_PATH}+\){_GENERAL_PATH}*))\)"
_PATH_ENDING = rf"(?:[^\p{{White_Space}}()?!*\"'「」<>;:=,.$%\[\]~&|@]|{_BALANCED_PARENS})"
_URL_PATH = (
    rf"(?:(?:{_GENERAL_PATH}*(?:{_BALANCED_PARENS}{_GENERAL_PATH}*)*{_PATH_ENDING})"
    rf"|(?:{_GENERAL_PATH}+/))"
)
_UCHARS = (
    r"\u00A0-\uD7FF\uF900-\uFDCF\uFDF0-\uFFEF\U00010000-\U0001FFFD\U00020000-\U0002FFFD"
    r"\U00030000-\U0003FFFD\U000E1000-\U000EFFFD\uE000-\uF8FF"
)
_QUERY_CHARS = rf"[a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@\^{_UCHARS}]"
_QUERY_ENDING = rf"[a-z0-9_&=#/\-{_UCHARS}]"
_DOMAIN = r"(?:[\w](?:[\w-]*[\w])?\.)+(?:xn--[a-z0-9-]+|[^\W\d_]{2,})(?![\w@+-])"
URL_RE = regex.compile(
    rf"(?<![A-Za-z0-9@＠$#＃\u202A-\u202E])"
    rf"(?P<url>(?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://"
    rf"{_DOMAIN}(?::[0-9]+)?(?:/{_URL_PATH}*)?(?:\?{_QUERY_CHARS}*{_QUERY_ENDING})?)",
    regex.IGNORECASE | regex.VERSION1,
)
# Account::MENTION_RE as Extractor.extract_mentions_or_lists_with_indices applies it (with
# twitter-text's end_mention_match after it); a mention counts as "@username", its domain is free.
MENTION_RE = regex.compile(
    r"(?<![=/\w])@(?P<acct>(?P<user>[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@[\w.-]+\w+)?)(?!@|://)",
    regex.IGNORECASE,
)
# Account::MENTION_RE itself, as ProcessMentionsService#scan_text! applies it to make the
# status's mentions (and notify them): Ruby's [[:word:]] is Letter, Mark, Decimal_Number and
# Connector_Punctuation; USERNAME_RE (/[a-z0-9_]+([.-]+[a-z0-9_]+)*/i) keeps its /i inside.
_WORD = r"\p{L}\p{M}\p{Nd}\p{Pc}"
ACCOUNT_MENTION_RE = regex.compile(
    rf"(?<![=/{_WORD}])@(?P<acct>(?P<user>(?i:[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*))"
    rf"(?:@(?P<domain>[{_WORD}]+(?:[.-]+[{_WORD}]+)*))?)"
)
_HASHTAG_RE = regex.compile(r"(?<![=/)\w#])#(?P<tag>\w*[^\W\d_]\w*)")


def grapheme_length(text: str) -> int:
    """Extended grapheme clusters, as Ruby's ``String#each_grapheme_cluster``."""
    return len(regex.findall(r"\X", text))


def _entities(text: str) -> list[tuple[int, int, str, regex.Match[str]]]:
    found = [(m.start("url"), m.end("url"), "url", m) for m in URL_RE.finditer(text)]
    found += [(m.start(), m.end(), "mention", m) for m in MENTION_RE.finditer(text)]
    found.sort(key=lambda e: e[0])
    kept: list[tuple[int, int, str, regex.Match[str]]] = []
    for entity in found:  # Extractor.remove_overlapping_entities: the earlier one wins
        if kept and entity[0] < kept[-1][1]:
            continue
        kept.append(entity)
    return kept


def countable_text(text: str, url_length: int = 23) -> str:
    """The text as StatusLengthValidator measures it (URLs and mentions rewritten)."""
    if not text.strip():
        return ""
    out, last = [], 0
    for start, end, kind, m in _entities(text):
        out.append(text[last:start])
        out.append("x" * url_length if kind == "url" else "@" + m.group("user"))
        last = end
    out.append(text[last:])
    return "".join(out)


COUNT_MODES = ("mastodon", "codepoints")


def status_length(text: str, spoiler_text: str = "", url_length: int = 23, mode: str = "mastodon") -> int:
    """How many characters the server charges a status: spoiler text plus countable text.

    ``mode="mastodon"``: as ``StatusLengthValidator`` (graphemes, URLs as ``url_length``);
    ``mode="codepoints"``: code points, URLs and mentions literally (stricter servers).
    """
    if mode == "codepoints":
        return len(spoiler_text + text) if text.strip() else len(spoiler_text)
    return grapheme_length(spoiler_text + countable_text(text, url_length))


def mentions_in(text: str) -> list[tuple[str, str | None]]:
    """``(username, domain or None)`` of every mention Mastodon would make of ``text``, in order,
    once each.  Every one is taken to resolve (as if each named account existed): the case
    where a mention notifies someone, and with ``visibility: direct`` addresses them."""
    found: dict[tuple[str, str | None], None] = {}
    for m in ACCOUNT_MENTION_RE.finditer(text):
        domain = m.group("domain")
        found[(m.group("user").lower(), domain.lower() if domain else None)] = None
    return list(found)


# --- rendering content as TextFormatter does ----------------------------------------------


def _link_html(url: str) -> str:
    prefix_m = regex.match(r"(?i)^(?:https?://(?:www\.)?|[a-z]+://)", url)
    prefix = prefix_m.group(0) if prefix_m else ""
    rest = url[len(prefix):]
    shown, hidden = rest[:30], rest[30:]
    return (
        f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener" translate="no">'
        f'<span class="invisible">{html.escape(prefix)}</span>'
        f'<span class="{"ellipsis" if hidden else ""}">{html.escape(shown)}</span>'
        f'<span class="invisible">{html.escape(hidden)}</span></a>'
    )


def render_content(text: str, base_url: str) -> str:
    """Plain text → Mastodon's HTML: paragraphs, ``<br />``, linkified URLs and hashtags."""

    def inline(chunk: str) -> str:
        out, last = [], 0
        spans = [(m.start("url"), m.end("url"), "url", m) for m in URL_RE.finditer(chunk)]
        for m in _HASHTAG_RE.finditer(chunk):
            if not any(s <= m.start() < e for s, e, _, _ in spans):
                spans.append((m.start(), m.end(), "tag", m))
        for start, end, kind, m in sorted(spans, key=lambda s: s[0]):
            out.append(html.escape(chunk[last:start]))
            if kind == "url":
                out.append(_link_html(m.group("url")))
            else:
                tag = m.group("tag")
                out.append(
                    f'<a href="{base_url}/tags/{html.escape(tag.lower())}" class="mention hashtag" '
                    f'rel="tag">#<span>{html.escape(tag)}</span></a>'
                )
            last = end
        out.append(html.escape(chunk[last:]))
        return "".join(out)

    paragraphs = [p for p in regex.split(r"\n{2,}", text.replace("\r\n", "\n")) if p]
    return "".join("<p>" + "<br />".join(inline(line) for line in p.split("\n")) + "</p>" for p in paragraphs)


# --- values ---------------------------------------------------------------------------------


@dataclass
class Fault:
    """One injected failure, applied to the next request that matches ``method`` and ``path``.

    ``path`` is a regular expression matched against the whole path (no query string), so
    ``Fault(status=503, method="POST", path="/api/v1/statuses")`` hits only status posts.
    """

    status: int | None = None  # answer with this status (body: Mastodon's error JSON)
    body: Any = None  # dict/list → JSON, str → text/html; default depends on status
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: int | None = None  # add Retry-After: N
    reset_in: float | None = None  # for a 429: X-RateLimit-Reset = now + reset_in
    drop: bool = False  # close the connection without answering
    hang: bool = False  # never answer (until release_hangs(), hang_for passes or the server closes)
    hang_for: float = 30.0
    then_answer: bool = False  # with hang: once released, answer normally instead of dropping
    accept_then_drop: bool = False  # process normally, then close instead of answering
    accept_then_hang: bool = False  # process normally, then hold the answer as hang does, and drop it
    trickle: float | None = None  # process normally, then a byte of answer every `trickle` s, for ever
    method: str | None = None
    path: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return not self.path or regex.fullmatch(self.path, path) is not None


FAULT_KINDS = ("drop", "accept_then_drop", "accept_then_hang", "hang")


def fault_of_kind(kind: int | str | Fault) -> Fault:
    """A :class:`Fault` from a short spec: an HTTP status (``503``), ``"drop"``,
    ``"accept_then_drop"``, ``"accept_then_hang"``, ``"hang"``, or a ``Fault`` used as a template."""
    if isinstance(kind, Fault):
        return Fault(**{k: v for k, v in asdict(kind).items() if k not in ("method", "path")})
    if isinstance(kind, int) and not isinstance(kind, bool):
        return Fault(status=kind)
    if kind in FAULT_KINDS:
        return Fault(**{str(kind): True})
    raise ValueError(f"unknown fault kind {kind!r}: an HTTP status or one of {', '.join(FAULT_KINDS)}")


@dataclass
class RandomFaults:
    """Fail ``rate`` of the requests matching ``method``/``path`` with one of ``kinds``, seeded."""

    rate: float
    kinds: tuple[int | str | Fault, ...]
    method: str | None = None
    path: str | None = None
    seed: int | None = None
    injected: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if not self.kinds:
            raise ValueError("kinds must not be empty")
        for kind in self.kinds:
            fault_of_kind(kind)  # fail early on a bad spec
        self.rng = random.Random(self.seed)

    def draw(self, method: str, path: str) -> Fault | None:
        if not Fault(method=self.method, path=self.path).matches(method, path):
            return None
        if self.rng.random() >= self.rate:
            return None
        self.injected += 1
        return fault_of_kind(self.rng.choice(self.kinds))


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, Any]
    headers: dict[str, str]
    params: dict[str, Any]  # the parsed body (files as {"filename", "content_type", "size"})
    status: int | None = None  # None: no response was sent (drop, hang, accept_then_drop)
    response_headers: dict[str, str] = field(default_factory=dict)
    fault: Fault | None = None


class _Reply(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _err(status: int, message: str) -> _Reply:
    return _Reply(status, {"error": message})


def _iso(ts: float) -> str:
    """Mastodon's entity datetimes: ``2024-05-01T12:00:00.000Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def _iso6(when: datetime) -> str:
    """Rails ``Time#iso8601(6)`` in UTC: ``2024-05-01T12:05:00.000000Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _to_query(params: dict[str, str]) -> str:
    """Rails' ``Hash#to_query``: keys sorted, values escaped."""
    return urlencode(sorted(params.items()))


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "t", "on", "yes")


# --- the server -----------------------------------------------------------------------------


class MastodonServer:
    """See the module docstring.  Use as a context manager or call start()/close()."""

    VISIBILITIES = ("public", "unlisted", "private", "direct")
    MEDIA_LIMIT = 4
    DESCRIPTION_LIMIT = 1500

    def __init__(
        self,
        *,
        token: str = "test-token",
        username: str = "syndicate",
        max_characters: int = 500,
        characters_reserved_per_url: int = 23,
        budget: int = 300,
        window: float = 300.0,
        clock: Callable[[], float] = time.time,
        media_polls: int = 2,
        latency: float = 0.0,
        idempotency_ttl: float = 3600.0,
        count_mode: str = "mastodon",
        version: str = "4.3.0",
        api_version: int = 2,
        instance_v2: bool = True,
        default_language: str = "en",
        host: str = "127.0.0.1",
        port: int = 0,
        state_file: str | os.PathLike[str] | None = None,
        control: bool = False,
    ) -> None:
        self.username = username
        self.max_characters = max_characters
        self.characters_reserved_per_url = characters_reserved_per_url
        self.budget = budget
        self.window = window
        self.clock = clock
        self.media_polls = media_polls
        self.latency = latency  # seconds every API request waits before it is handled (a far server)
        self.idempotency_ttl = idempotency_ttl
        if count_mode not in COUNT_MODES:
            raise ValueError(f"count_mode: one of {', '.join(COUNT_MODES)}")
        self.count_mode = count_mode  # how _post_status measures a status (see status_length)
        self.version = version
        self.api_version = api_version  # api_versions.mastodon: 2 is 4.3; 7 (4.5) knows quote policies
        self.instance_v2 = instance_v2  # False: an instance older than 4.0 (v2 is a 404)
        self.default_language = default_language
        self.state_file = Path(state_file) if state_file else None
        self.control = control
        self.account_id = "109000000000000001"
        self.lock = threading.RLock()
        self.requests: list[LoggedRequest] = []
        self.errors: list[str] = []
        self.deleted: list[str] = []  # ids of the statuses deleted, in order
        self.trickling = 0  # answers being trickled right now (Fault(trickle=...))
        self._tokens: dict[str, frozenset[str]] = {token: frozenset({"read", "write"})}
        self._faults: list[Fault] = []
        self._random: list[RandomFaults] = []
        self._arrived = threading.Condition(self.lock)
        self._hang_release = threading.Event()
        self.held = 0  # requests being held by a hang or accept_then_hang fault right now
        self.on_request: Callable[[LoggedRequest], None] | None = None  # called as each request arrives
        self._statuses: dict[str, dict[str, Any]] = {}
        self._media: dict[str, dict[str, Any]] = {}
        self._idempotency: dict[str, tuple[str, float]] = {}  # key → (status id, expires)
        self._ids = itertools.count(110_000_000_000_000_001)
        self._created_at = self.clock()
        self._window_start = self.clock()
        self._used = 0
        self.peak_window = 0  # the most requests counted in any one rate window (429s included)
        self._stop = threading.Event()
        self._httpd = _QuietServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.app = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # lifecycle

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MastodonServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="mastodon-server", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._hang_release.set()
        if self._thread:
            self._httpd.shutdown()
            self._thread.join(5)
        self._httpd.server_close()

    def __enter__(self) -> MastodonServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # steering

    def add_token(self, token: str, scopes: Iterable[str] = ("read", "write")) -> None:
        """Another token for the same account (e.g. ``scopes=("read",)`` to provoke 403)."""
        with self.lock:
            self._tokens[token] = frozenset(scopes)

    def revoke_token(self, token: str) -> None:
        with self.lock:
            self._tokens.pop(token, None)

    def queue_faults(self, *faults: Fault) -> None:
        with self.lock:
            self._faults.extend(faults)

    @property
    def pending_faults(self) -> list[Fault]:
        with self.lock:
            return list(self._faults)

    def random_faults(
        self,
        rate: float = 0.2,
        *,
        seed: int | None = None,
        kinds: Iterable[int | str | Fault] = (503, 500, "drop", "accept_then_drop"),
        method: str | None = None,
        path: str | None = None,
    ) -> RandomFaults:
        """Fail a seeded random ``rate`` of the requests matching ``method`` and ``path`` (a
        regular expression over the whole path), each with a kind drawn from ``kinds``.

        Queued faults come first; rules apply in the order they were added.  The returned rule
        counts what it ``injected``; :meth:`clear_random_faults` removes every rule.
        """
        rule = RandomFaults(rate, tuple(kinds), method, path, seed)
        with self.lock:
            self._random.append(rule)
        return rule

    def clear_random_faults(self) -> None:
        with self.lock:
            self._random.clear()

    def release_hangs(self) -> None:
        """Let every request held by a ``Fault(hang=True)`` go on (dropped, or answered with
        ``then_answer``); later hangs wait again."""
        with self.lock:
            released, self._hang_release = self._hang_release, threading.Event()
        released.set()

    def wait_for_request(
        self, predicate: Callable[[LoggedRequest], bool] = lambda r: True, timeout: float = 10.0
    ) -> LoggedRequest | None:
        """The first logged request matching ``predicate``, waiting up to ``timeout`` seconds for
        it to arrive; None if none came."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for entry in self.requests:
                    if predicate(entry):
                        return entry
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._arrived.wait(left)

    def wait_until_held(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Block (bounded) until ``count`` requests are held by a hang or accept_then_hang fault."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while self.held < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._arrived.wait(left)
            return True

    def reset_window(self) -> None:
        """Start a fresh rate-limit window now, with the whole budget."""
        with self.lock:
            self._window_start = self.clock()
            self._used = 0

    @property
    def reset_at(self) -> datetime:
        """When the current rate-limit window ends (what X-RateLimit-Reset says)."""
        with self.lock:
            self._roll_window()
            return datetime.fromtimestamp(self._window_start + self.window, UTC)

    @property
    def remaining(self) -> int:
        with self.lock:
            self._roll_window()
            return max(0, self.budget - self._used)

    def status_length(self, text: str, spoiler_text: str = "") -> int:
        return status_length(text, spoiler_text, self.characters_reserved_per_url, self.count_mode)

    def forget_idempotency_keys(self) -> int:
        """Empty the Idempotency-Key store (what Mastodon's one-hour expiry does); returns how many."""
        with self.lock:
            count = len(self._idempotency)
            self._idempotency.clear()
            return count

    def post_as_account(self, *texts: str, visibility: str = "public") -> list[dict[str, Any]]:
        """Statuses the account's owner posts from another app (a person, not syndicate):
        no Idempotency-Key, created now.  Returns their records, as :attr:`statuses` has them."""
        with self.lock:
            made = [self._create_status(text, visibility=visibility, application="Web") for text in texts]
            self._save_state()
            return [self._public_record(s) for s in made]

    # inspection

    @property
    def statuses(self) -> list[dict[str, Any]]:
        """Created statuses, oldest first: id, text, visibility, language, spoiler_text,
        sensitive, idempotency_key, media (the attachment entities), url, created_at, and
        mentions (the accts Mastodon would have mentioned, and notified)."""
        with self.lock:
            return [self._public_record(s) for s in self._statuses.values()]

    @property
    def media(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self._media_entity(m) | {"size": len(m["data"])} for m in self._media.values()]

    def _public_record(self, s: dict[str, Any]) -> dict[str, Any]:
        keys = ("id", "text", "visibility", "language", "spoiler_text", "sensitive", "idempotency_key", "url")
        record = {k: s[k] for k in keys}
        record["edits"] = len(s.get("edits") or ()) - 1 if s.get("edits") else 0  # edits made
        record["quote_policy"] = s.get("quote_policy")
        record["mentions"] = [f"{u}@{d}" if d else u for u, d in mentions_in(s["text"])]
        record["created_at"] = _iso(s["created_at"])
        record["media"] = [self._media_entity(self._media[mid]) for mid in s["media_ids"]]
        return record

    # rate limit

    def _roll_window(self) -> None:
        now = self.clock()
        if now >= self._window_start + self.window:
            # a new window starts where the old one would have ended (Rack::Attack's periods)
            periods = int((now - self._window_start) // self.window)
            self._window_start += periods * self.window
            self._used = 0

    def _take_budget(self) -> dict[str, str]:
        """Count one request; raise the 429 when the budget is spent; return the headers."""
        with self.lock:
            self._roll_window()
            self._used += 1
            self.peak_window = max(self.peak_window, self._used)
            reset = _iso6(datetime.fromtimestamp(self._window_start + self.window, UTC))
            headers = {
                "X-RateLimit-Limit": str(self.budget),
                "X-RateLimit-Remaining": str(max(0, self.budget - self._used)),
                "X-RateLimit-Reset": reset,
            }
            if self._used > self.budget:
                raise _Reply(429, {"error": "Too many requests"}, headers)
            return headers

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for i, fault in enumerate(self._faults):
                if fault.matches(method, path):
                    return self._faults.pop(i)
            for rule in self._random:
                drawn = rule.draw(method, path)
                if drawn is not None:
                    return drawn
        return None

    # state file

    def _save_state(self) -> None:
        if not self.state_file:
            return
        data = {"statuses": self.statuses}
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.state_file)

    # entities

    def _account_entity(self, credential: bool = False) -> dict[str, Any]:
        own = list(self._statuses.values())
        account = {
            "id": self.account_id,
            "username": self.username,
            "acct": self.username,
            "display_name": self.username.title(),
            "locked": False,
            "bot": True,
            "discoverable": True,
            "group": False,
            "created_at": _iso(self._created_at),
            "note": "<p>Cross-posted articles.</p>",
            "url": f"{self.url}/@{self.username}",
            "uri": f"{self.url}/users/{self.username}",
            "avatar": f"{self.url}/avatars/original/missing.png",
            "avatar_static": f"{self.url}/avatars/original/missing.png",
            "header": f"{self.url}/headers/original/missing.png",
            "header_static": f"{self.url}/headers/original/missing.png",
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": len(own),
            "last_status_at": (
                datetime.fromtimestamp(own[-1]["created_at"], UTC).date().isoformat() if own else None
            ),
            "emojis": [],
            "fields": [],
        }
        if credential:
            account["source"] = {
                "privacy": "public",
                "sensitive": False,
                "language": self.default_language,
                "note": "Cross-posted articles.",
                "fields": [],
                "follow_requests_count": 0,
            }
        return account

    def _media_entity(self, m: dict[str, Any]) -> dict[str, Any]:
        processed = m["polls_left"] <= 0
        return {
            "id": m["id"],
            "type": m["type"],
            "url": f"{self.url}/system/media_attachments/files/{m['id']}/original/{m['filename']}"
            if processed
            else None,
            "preview_url": f"{self.url}/system/media_attachments/files/{m['id']}/small/{m['filename']}",
            "remote_url": None,
            "preview_remote_url": None,
            "text_url": None,
            "meta": {"focus": {"x": 0.0, "y": 0.0}} if processed else {},
            "description": m["description"],
            "blurhash": "UFBWY:8_0Jxv4mx]t8t64.%M-:IUWGWAt6M}" if processed else None,
        }

    def _status_entity(self, s: dict[str, Any]) -> dict[str, Any]:
        tags = sorted({m.group("tag").lower() for m in _HASHTAG_RE.finditer(s["text"])})
        if s.get("quote_policy") is not None:  # api version 7: the QuoteApproval entity, as its author sees it
            automatic = {"public": ["public"], "followers": ["followers"], "nobody": []}[s["quote_policy"]]
            return self._entity(s, tags) | {"quote_approval": {"automatic": automatic, "manual": [],
                                                               "current_user": "automatic"}}
        return self._entity(s, tags)

    def _entity(self, s: dict[str, Any], tags: list[str]) -> dict[str, Any]:
        return {
            "id": s["id"],
            "created_at": _iso(s["created_at"]),
            "in_reply_to_id": s["in_reply_to_id"],
            "in_reply_to_account_id": None,
            "sensitive": s["sensitive"],
            "spoiler_text": s["spoiler_text"],
            "visibility": s["visibility"],
            "language": s["language"],
            "uri": f"{self.url}/users/{self.username}/statuses/{s['id']}",
            "url": s["url"],
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": _iso(s["edited_at"]) if s.get("edited_at") else None,
            "favourited": False,
            "reblogged": False,
            "muted": False,
            "bookmarked": False,
            "pinned": False,
            "content": render_content(s["text"], self.url),
            "filtered": [],
            "reblog": None,
            "application": {"name": s.get("application", "syndicate"), "website": None},
            "account": self._account_entity(),
            "media_attachments": [self._media_entity(self._media[mid]) for mid in s["media_ids"]],
            "mentions": [self._mention_entity(user, domain) for user, domain in mentions_in(s["text"])],
            "tags": [{"name": t, "url": f"{self.url}/tags/{t}"} for t in tags],
            "emojis": [],
            "card": None,
            "poll": None,
        }

    def _mention_entity(self, user: str, domain: str | None) -> dict[str, Any]:
        acct = f"{user}@{domain}" if domain else user
        return {"id": str(zlib.crc32(acct.encode())), "username": user, "acct": acct,
                "url": f"https://{domain}/@{user}" if domain else f"{self.url}/@{user}"}

    def _instance_v1(self) -> dict[str, Any]:
        host = f"127.0.0.1:{self.port}"
        return {
            "uri": host,
            "title": "Loopback Mastodon",
            "short_description": "A test server",
            "description": "A test server",
            "email": "admin@example.org",
            "version": self.version,
            "urls": {"streaming_api": f"ws://{host}"},
            "stats": {"user_count": 1, "status_count": len(self._statuses), "domain_count": 1},
            "thumbnail": None,
            "languages": ["en"],
            "registrations": False,
            "approval_required": False,
            "invites_enabled": False,
            "configuration": self._configuration(),
            "contact_account": self._account_entity(),
            "rules": [],
        }

    def _instance_v2(self) -> dict[str, Any]:
        host = f"127.0.0.1:{self.port}"
        return {
            "domain": host,
            "title": "Loopback Mastodon",
            "version": self.version,
            "source_url": "https://github.com/mastodon/mastodon",
            "description": "A test server",
            "usage": {"users": {"active_month": 1}},
            "thumbnail": {"url": f"{self.url}/packs/media/images/preview.png"},
            "icon": [],
            "languages": ["en"],
            "configuration": {"urls": {"streaming": f"ws://{host}", "status": None}}
            | self._configuration()
            | {"translation": {"enabled": False}, "vapid": {"public_key": ""}},
            "registrations": {"enabled": False, "approval_required": False, "message": None},
            "api_versions": {"mastodon": self.api_version},
            "contact": {"email": "admin@example.org", "account": self._account_entity()},
            "rules": [],
        }

    def _configuration(self) -> dict[str, Any]:
        return {
            "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5},
            "statuses": {
                "max_characters": self.max_characters,
                "max_media_attachments": self.MEDIA_LIMIT,
                "characters_reserved_per_url": self.characters_reserved_per_url,
            },
            "media_attachments": {
                "supported_mime_types": ["image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4"],
                "image_size_limit": 16777216,
                "image_matrix_limit": 33177600,
                "video_size_limit": 103809024,
                "video_frame_rate_limit": 120,
                "video_matrix_limit": 8294400,
                "description_limit": self.DESCRIPTION_LIMIT,
            },
            "polls": {
                "max_options": 4,
                "max_characters_per_option": 50,
                "min_expiration": 300,
                "max_expiration": 2629746,
            },
        }

    # routing (called with the lock held)

    def handle(self, method: str, path: str, query: dict[str, Any], params: dict[str, Any],
               headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        """Route one API request: (status, body, extra headers); errors raise _Reply."""
        scopes = self._auth(headers)
        path = path.rstrip("/") or "/"
        parts = path.strip("/").split("/")
        if method == "GET" and path in ("/api/v1/instance", "/api/v2/instance"):
            if path == "/api/v2/instance" and not self.instance_v2:
                raise _err(404, "Record not found")
            return 200, self._instance_v2() if path.startswith("/api/v2") else self._instance_v1(), {}
        if method == "GET" and path == "/api/v1/accounts/verify_credentials":
            self._require(scopes, "read")
            return 200, self._account_entity(credential=True), {}
        if method == "POST" and path == "/api/v1/statuses":
            self._require(scopes, "write")
            return self._post_status(params, headers)
        if len(parts) in (4, 5) and parts[:3] == ["api", "v1", "statuses"] and (
                method in ("PUT", "DELETE") or parts[4:] in (["history"], ["source"])):
            return self._status_change(method, parts, params, scopes)
        if method == "GET" and len(parts) == 4 and parts[:3] == ["api", "v1", "statuses"]:
            status = self._statuses.get(parts[3])
            if status is None or (status["visibility"] in ("private", "direct") and scopes is None):
                raise _err(404, "Record not found")
            return 200, self._status_entity(status), {}
        if method == "GET" and len(parts) == 5 and parts[:3] == ["api", "v1", "accounts"] and parts[4] == "statuses":
            if parts[3] != self.account_id:
                raise _err(404, "Record not found")
            return self._account_statuses(query, scopes)
        if method == "POST" and path in ("/api/v1/media", "/api/v2/media"):
            self._require(scopes, "write")
            return self._post_media(params, synchronous=path.startswith("/api/v1"))
        if len(parts) == 4 and parts[:3] == ["api", "v1", "media"] and method in ("GET", "PUT"):
            self._require(scopes, "write" if method == "PUT" else "read")
            media = self._media.get(parts[3])
            if media is None or media["status_id"] is not None:
                raise _err(404, "Record not found")
            if method == "PUT":
                if "description" in params:
                    self._check_description(params["description"])
                    media["description"] = params["description"] or None
            else:
                media["polls_left"] -= 1
            return (200 if media["polls_left"] <= 0 else 206), self._media_entity(media), {}
        raise _err(404, "Record not found")

    def _auth(self, headers: dict[str, str]) -> frozenset[str] | None:
        """The token's scopes; None without a token; 401 for a token we do not know."""
        value = headers.get("authorization", "")
        if not value:
            return None
        token = value[7:].strip() if value.lower().startswith("bearer ") else ""
        if token not in self._tokens:
            raise _err(401, "The access token is invalid")
        return self._tokens[token]

    @staticmethod
    def _require(scopes: frozenset[str] | None, scope: str) -> None:
        if scopes is None:
            raise _err(401, "The access token is invalid")
        if scope not in scopes:
            raise _err(403, "This action is outside the authorized scopes")

    def _valid_text(self, params: dict[str, Any], media_ids: list[str]) -> tuple[str, str]:
        """A new or edited status's text and spoiler, validated as Mastodon does (a 422 otherwise):
        a spoiler alone becomes the text (PostStatusService#preprocess_attributes!), a blank text
        needs media, and the length counts URLs as ``characters_reserved_per_url``."""
        text = str(params.get("status") or "")
        spoiler = str(params.get("spoiler_text") or "")
        if not text.strip() and spoiler.strip():
            text, spoiler = spoiler, ""
        problems = []
        if not text.strip() and not media_ids:
            problems.append("Text can't be blank")
        if status_length(text, spoiler, self.characters_reserved_per_url, self.count_mode) > self.max_characters:
            problems.append(f"Text character limit of {self.max_characters} exceeded")
        if problems:
            raise _err(422, "Validation failed: " + ", ".join(problems))
        return text, spoiler

    def _post_status(self, params: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        key = headers.get("idempotency-key", "")
        now = self.clock()
        if key:
            seen = self._idempotency.get(key)
            if seen and seen[1] > now:
                return 200, self._status_entity(self._statuses[seen[0]]), {}
        media_ids = params.get("media_ids") or []
        if isinstance(media_ids, str):
            media_ids = [media_ids]
        media_ids = [str(m) for m in media_ids]
        if len(media_ids) > self.MEDIA_LIMIT:
            raise _err(422, f"You cannot attach more than {self.MEDIA_LIMIT} files.")
        missing = [m for m in media_ids if m not in self._media or self._media[m]["status_id"] is not None]
        if missing:
            raise _err(422, f"Media {', '.join(missing)} not found or already attached to another post")
        if any(self._media[m]["polls_left"] > 0 for m in media_ids):
            raise _err(422, "Cannot attach files that have not finished processing. Try again in a moment!")
        visibility = str(params.get("visibility") or "public").lower()
        if visibility not in self.VISIBILITIES:
            raise _err(422, "Validation failed: Visibility is not included in the list")
        text, spoiler = self._valid_text(params, media_ids)
        quote_policy = None  # an instance before api version 7 knows no quote policy: ignored, as any unknown
        if self.api_version >= QUOTES_API_VERSION:
            quote_policy = str(params.get("quote_approval_policy") or "public")  # the account's default
            if quote_policy not in QUOTE_POLICIES:
                raise _err(422, "Validation failed: Quote approval policy is not included in the list")
        status = self._create_status(
            text, spoiler=spoiler, sensitive=_truthy(params.get("sensitive", False)) or bool(spoiler),
            visibility=visibility, language=params.get("language"),
            in_reply_to_id=params.get("in_reply_to_id"), key=key or None, media_ids=media_ids)
        status["quote_policy"] = quote_policy
        if key:
            self._idempotency[key] = (status["id"], now + self.idempotency_ttl)
        self._save_state()
        return 200, self._status_entity(status), {}

    def _status_change(self, method: str, parts: list[str], params: dict[str, Any],
                       scopes: frozenset[str] | None) -> tuple[int, Any, dict[str, str]]:
        """``PUT /api/v1/statuses/:id`` (``UpdateStatusService``), ``DELETE`` (the status, as
        ``RemoveStatusService``, its source text in the answer for a redraft), ``GET …/history``
        (``StatusEdit`` entities, oldest first; an unedited status answers its one snapshot) and
        ``GET …/source``."""
        status = self._statuses.get(parts[3])
        if method == "GET":
            self._require(scopes, "read")
            if status is None or len(parts) != 5:
                raise _err(404, "Record not found")
            if parts[4] == "source":
                return 200, {"id": status["id"], "text": status["text"],
                             "spoiler_text": status["spoiler_text"]}, {}
            return 200, [self._edit_entity(e) for e in status["edits"] or [self._snapshot(status)]], {}
        self._require(scopes, "write")
        if status is None or len(parts) != 4:
            raise _err(404, "Record not found")
        if method == "DELETE":
            del self._statuses[status["id"]]
            self.deleted.append(status["id"])
            entity = self._status_entity(status) | {"text": status["text"]}
            self._save_state()
            return 200, entity, {}
        return 200, self._update_status(status, params), {}

    def _update_status(self, status: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        """``UpdateStatusService#call``: a call that changes something is an edit (the first also
        snapshots the original); one that changes nothing makes none (``NoChangesSubmittedError``:
        the status is answered as it is).  What the request leaves out is reset as the controller
        passes it on — no ``media_ids`` removes the media, no ``spoiler_text`` the warning;
        ``language`` (which Mastodon.py's ``status_update`` does not send) is kept unless given
        (``valid_locale_cascade``).  Visibility never changes.  The same validation as a new
        status: a 422 changes nothing."""
        media_ids = params.get("media_ids") or []
        media_ids = [str(m) for m in ([media_ids] if isinstance(media_ids, str) else media_ids)]
        if len(media_ids) > self.MEDIA_LIMIT:
            raise _err(422, f"You cannot attach more than {self.MEDIA_LIMIT} files.")
        missing = [m for m in media_ids if m not in self._media
                   or self._media[m]["status_id"] not in (None, status["id"])]
        if missing:
            raise _err(422, f"Media {', '.join(missing)} not found or already attached to another post")
        text, spoiler = self._valid_text(params, media_ids)
        sensitive = _truthy(params.get("sensitive", False)) or bool(spoiler)
        language = str(params["language"]) if params.get("language") else status["language"]
        if (text, spoiler, sensitive, language, media_ids) == (
                status["text"], status["spoiler_text"], status["sensitive"], status["language"],
                status["media_ids"]):
            return self._status_entity(status)  # NoChangesSubmittedError: no edit, the status as it is
        if not status["edits"]:
            status["edits"].append(self._snapshot(status))
        for m in status["media_ids"]:
            self._media[m]["status_id"] = None
        status.update(text=text, spoiler_text=spoiler, media_ids=media_ids, sensitive=sensitive,
                      language=language, edited_at=self.clock())
        for m in media_ids:
            self._media[m]["status_id"] = status["id"]
        status["edits"].append(self._snapshot(status))
        self._save_state()
        return self._status_entity(status)

    def _snapshot(self, s: dict[str, Any]) -> dict[str, Any]:
        return {"text": s["text"], "spoiler_text": s["spoiler_text"], "sensitive": s["sensitive"],
                "media_ids": list(s["media_ids"]), "at": s.get("edited_at") or s["created_at"]}

    def _edit_entity(self, e: dict[str, Any]) -> dict[str, Any]:
        return {"content": render_content(e["text"], self.url), "spoiler_text": e["spoiler_text"],
                "sensitive": e["sensitive"], "created_at": _iso(e["at"]), "account": self._account_entity(),
                "poll": None, "emojis": [],
                "media_attachments": [self._media_entity(self._media[m]) for m in e["media_ids"]
                                      if m in self._media]}

    def _create_status(self, text: str, *, spoiler: str = "", sensitive: bool = False,
                       visibility: str = "public", language: str | None = None,
                       in_reply_to_id: str | None = None, key: str | None = None,
                       media_ids: list[str] | None = None, application: str = "syndicate") -> dict[str, Any]:
        sid = str(next(self._ids))
        status = {
            "id": sid,
            "text": text,
            "spoiler_text": spoiler,
            "sensitive": sensitive,
            "visibility": visibility,
            "language": language or self.default_language,
            "in_reply_to_id": in_reply_to_id,
            "idempotency_key": key,
            "media_ids": list(media_ids or ()),
            "created_at": self.clock(),
            "url": f"{self.url}/@{self.username}/{sid}",
            "application": application,
            "edits": [],  # StatusEdit snapshots once edited (the original first)
            "edited_at": None,
        }
        self._statuses[sid] = status
        for m in status["media_ids"]:
            self._media[m]["status_id"] = sid
        return status

    # AccountStatusesFilter::KEYS: the filters a page's Link URLs carry on
    STATUS_FILTERS = ("pinned", "tagged", "only_media", "exclude_replies", "exclude_reblogs")

    def _account_statuses(
        self, query: dict[str, Any], scopes: frozenset[str] | None
    ) -> tuple[int, Any, dict[str, str]]:
        try:
            limit = int(query.get("limit") or 20)
        except ValueError:
            limit = 20
        limit = min(abs(limit), 40) or 20
        rows = sorted(self._statuses.values(), key=lambda s: int(s["id"]), reverse=True)
        if scopes is None:
            rows = [s for s in rows if s["visibility"] in ("public", "unlisted")]
        if _truthy(query.get("pinned", False)):
            rows = []  # nothing is ever pinned here
        if _truthy(query.get("only_media", False)):
            rows = [s for s in rows if s["media_ids"]]
        if _truthy(query.get("exclude_replies", False)):
            rows = [s for s in rows if not s["in_reply_to_id"]]
        if query.get("tagged"):
            tag = str(query["tagged"]).lower().lstrip("#")
            rows = [s for s in rows if tag in {m.group("tag").lower() for m in _HASHTAG_RE.finditer(s["text"])}]
        if query.get("max_id"):
            rows = [s for s in rows if int(s["id"]) < int(query["max_id"])]
        if query.get("since_id"):
            rows = [s for s in rows if int(s["id"]) > int(query["since_id"])]
        if query.get("min_id"):
            rows = [s for s in rows if int(s["id"]) > int(query["min_id"])][-limit:]
        rows = rows[:limit]
        # insert_pagination_headers: next while the page is full, prev unless it is empty
        base = f"{self.url}/api/v1/accounts/{self.account_id}/statuses"
        kept = {k: str(query[k]) for k in ("limit", *self.STATUS_FILTERS) if k in query}
        links = []
        if rows and len(rows) == limit:
            links.append(f'<{base}?{_to_query(kept | {"max_id": rows[-1]["id"]})}>; rel="next"')
        if rows:
            links.append(f'<{base}?{_to_query(kept | {"min_id": rows[0]["id"]})}>; rel="prev"')
        headers = {"Link": ", ".join(links)} if links else {}
        return 200, [self._status_entity(s) for s in rows], headers

    def _check_description(self, description: Any) -> None:
        if description and len(str(description)) > self.DESCRIPTION_LIMIT:
            raise _err(422, f"Validation failed: Description is too long (maximum is {self.DESCRIPTION_LIMIT} characters)")

    def _post_media(self, params: dict[str, Any], synchronous: bool) -> tuple[int, Any, dict[str, str]]:
        upload = params.get("file")
        if not isinstance(upload, dict):
            raise _err(400, "param is missing or the value is empty: file")
        ctype = upload["content_type"]
        kind = ctype.split("/")[0]
        if kind not in ("image", "video", "audio"):
            raise _err(422, "Validation failed: File content type is invalid, File is invalid")
        self._check_description(params.get("description"))
        mid = str(next(self._ids))
        polls = 0 if synchronous else self.media_polls
        self._media[mid] = {
            "id": mid,
            "type": "gifv" if ctype == "image/gif" else kind,
            "filename": f"{mid}{Path(upload['filename'] or '').suffix or '.bin'}",
            "content_type": ctype,
            "data": upload["data"],
            "description": params.get("description") or None,
            "polls_left": polls,
            "status_id": None,
        }
        return (200 if polls <= 0 else 202), self._media_entity(self._media[mid]), {}

    def media_file(self, path: str) -> tuple[bytes, str] | None:
        parts = path.strip("/").split("/")
        if len(parts) == 6 and parts[:3] == ["system", "media_attachments", "files"]:
            m = self._media.get(parts[3])
            if m and m["polls_left"] <= 0:
                return m["data"], m["content_type"]
        return None

    # control API (subprocess mode)

    def handle_control(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, Any]:
        if method == "POST" and path == "/__control/faults":
            self.queue_faults(*(Fault(**f) for f in params.get("faults", [])))
            return 200, {"pending": len(self._faults)}
        if method == "POST" and path == "/__control/random_faults":
            if not params.get("rate"):
                self.clear_random_faults()
                return 200, {"rules": 0}
            kinds = [Fault(**k) if isinstance(k, dict) else k for k in params.get("kinds") or (503, 500, "drop", "accept_then_drop")]
            self.random_faults(float(params["rate"]), seed=params.get("seed"), kinds=kinds,
                               method=params.get("method"), path=params.get("path"))
            return 200, {"rules": len(self._random)}
        if method == "POST" and path == "/__control/release_hangs":
            self.release_hangs()
            return 200, {}
        if method == "POST" and path == "/__control/forget_idempotency_keys":
            return 200, {"forgotten": self.forget_idempotency_keys()}
        if method == "POST" and path == "/__control/post_as_account":
            made = self.post_as_account(*[str(t) for t in params.get("texts", [])],
                                        visibility=str(params.get("visibility") or "public"))
            return 200, {"statuses": made}
        if method == "POST" and path == "/__control/reset_window":
            self.reset_window()
            return 200, {"reset_at": _iso6(self.reset_at)}
        if method == "POST" and path == "/__control/config":
            if params.get("count_mode", self.count_mode) not in COUNT_MODES:
                raise _err(422, f"count_mode: one of {', '.join(COUNT_MODES)}")
            for name in ("max_characters", "characters_reserved_per_url", "budget", "window", "media_polls",
                         "count_mode"):
                if name in params:
                    setattr(self, name, params[name])
            return 200, {}
        if method == "GET" and path == "/__control/state":
            return 200, {
                "statuses": self.statuses,
                "requests": len(self.requests),
                "held": self.held,
                "remaining": self.remaining,
                "reset_at": _iso6(self.reset_at),
                "peak_window": self.peak_window,
                "faults": [asdict(f) for f in self._faults],
            }
        raise _err(404, "Record not found")


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # the client went away (killed)
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Mastodon"
    sys_version = ""

    @property
    def app(self) -> MastodonServer:
        return self.server.app  # type: ignore[attr-defined]

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, delayed ACKs cost 40 ms each
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        return email.utils.formatdate(self.app.clock() if timestamp is None else timestamp, usegmt=True)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    # plumbing

    def _read_params(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type", "")
        if not raw:
            return {}
        if ctype.startswith("application/json"):
            data = json.loads(raw or b"{}")
            return data if isinstance(data, dict) else {}
        if ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + raw
            )
            params: dict[str, Any] = {}
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True) or b""
                if part.get_filename() is not None:
                    params[name] = {
                        "filename": part.get_filename(),
                        "content_type": part.get_content_type(),
                        "data": payload,
                    }
                else:
                    self._put(params, name, payload.decode("utf-8"))
            return params
        params = {}
        for name, values in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items():
            for value in values:
                self._put(params, name, value)
        return params

    @staticmethod
    def _put(params: dict[str, Any], name: str, value: str) -> None:
        if name.endswith("[]"):
            params.setdefault(name[:-2], []).append(value)
        else:
            params[name] = value

    def _send(self, status: int, body: Any, headers: dict[str, str], entry: LoggedRequest | None) -> None:
        if isinstance(body, (dict, list)):
            payload, ctype = json.dumps(body).encode(), "application/json; charset=utf-8"
        elif isinstance(body, bytes):
            payload, ctype = body, headers.pop("Content-Type", "application/octet-stream")
        else:
            payload, ctype = str(body).encode(), "text/html; charset=utf-8"
        if entry is not None:  # logged before the client can see the answer
            entry.status = status
            entry.response_headers = {"Content-Type": ctype, **headers}
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self) -> None:
        app = self.app
        split = urlsplit(self.path)
        path, method = split.path, self.command
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        try:
            params = self._read_params()
        except (ValueError, UnicodeDecodeError):
            self._send(400, {"error": "Invalid request body"}, {}, None)
            return
        if path.startswith("/__control/") and app.control:
            try:
                with app.lock:
                    status, body = app.handle_control(method, path, params)
            except _Reply as reply:
                status, body = reply.status, reply.body
            self._send(status, body, {}, None)
            return
        if method == "GET" and path.startswith("/system/"):
            with app.lock:
                found = app.media_file(path)
            if found:
                self._send(200, found[0], {"Content-Type": found[1]}, None)
            else:
                self._send(404, "<h1>Not found</h1>", {}, None)
            return

        logged_params = {
            k: ({"filename": v["filename"], "content_type": v["content_type"], "size": len(v["data"])}
                if isinstance(v, dict) and "data" in v else v)
            for k, v in params.items()
        }
        entry = LoggedRequest(method, path, query, dict(self.headers.items()), logged_params)
        if app.latency > 0:
            app._stop.wait(app.latency)  # the answer takes this long, as from a server far away
        fault = app._take_fault(method, path)
        entry.fault = fault
        with app.lock:
            app.requests.append(entry)
            app._arrived.notify_all()
        if app.on_request is not None:
            app.on_request(entry)
        if fault and self._apply_fault(fault, entry):
            return

        headers_lower = {k.lower(): v for k, v in self.headers.items()}
        try:
            rate_headers = app._take_budget()
            try:
                with app.lock:
                    status, body, extra = app.handle(method, path, query, params, headers_lower)
            except _Reply as reply:
                status, body, extra = reply.status, reply.body, reply.headers
            headers = {**rate_headers, **extra}
        except _Reply as reply:  # the 429 from the budget
            status, body, headers = reply.status, reply.body, reply.headers
        except Exception:  # a bug in this server: answer as Rails would, and keep the traceback
            app.errors.append(traceback.format_exc())
            status, body, headers = 500, {"error": "Internal server error"}, {}
        if fault and fault.accept_then_hang:
            self._hold(fault)  # the work is done; the answer waits (the client may be killed meanwhile)
        if fault and (fault.accept_then_drop or fault.accept_then_hang):
            self._drop()  # the server did the work; the client never hears of it
            return
        if fault and fault.trickle is not None:
            self._trickle(status, headers, entry, fault.trickle)
            return
        self._send(status, body, headers, entry)

    def _hold(self, fault: Fault) -> None:
        """Wait until release_hangs(), ``hang_for`` seconds, or the server closes."""
        app = self.app
        with app.lock:
            release = app._hang_release
            app.held += 1
            app._arrived.notify_all()
        try:
            if not app._stop.is_set():
                release.wait(fault.hang_for)
        finally:
            with app.lock:
                app.held -= 1
    def _trickle(self, status: int, headers: dict[str, str], entry: LoggedRequest, every: float) -> None:
        """The status line and headers at once, then a space of body every ``every`` s, for ever."""
        app = self.app
        entry.status = status
        entry.response_headers = {"Content-Type": "application/json; charset=utf-8", **headers}
        self.close_connection = True
        with app.lock:
            app.trickling += 1
        try:
            self.send_response(status)
            for name, value in entry.response_headers.items():
                self.send_header(name, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while not app._stop.wait(every):
                self.wfile.write(b"1\r\n \r\n")
        except OSError:  # the client gave up: what the fault is there to see
            pass
        finally:
            with app.lock:
                app.trickling -= 1

    def _apply_fault(self, fault: Fault, entry: LoggedRequest) -> bool:
        """Answer (or not) as the fault says; False lets the request through (accept_then_drop)."""
        app = self.app
        if fault.accept_then_drop or fault.accept_then_hang or fault.trickle is not None:
            return False
        if fault.drop:
            self._drop()
            return True
        if fault.hang:
            self._hold(fault)
            if fault.then_answer and not app._stop.is_set():
                return False
            self._drop()
            return True
        status = fault.status or 500
        headers = dict(fault.headers)
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        body = fault.body
        if status == 429:
            reset = datetime.fromtimestamp(app.clock() + (fault.reset_in or 0.0), UTC)
            headers.setdefault("X-RateLimit-Limit", str(app.budget))
            headers.setdefault("X-RateLimit-Remaining", "0")
            headers.setdefault("X-RateLimit-Reset", _iso6(reset))
            if body is None:
                body = {"error": "Too many requests"}
        if body is None:
            if status >= 500:  # what the reverse proxy in front of Puma sends
                reason = self.responses.get(status, ("Error",))[0]
                body = f"<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>"
            else:
                body = {"error": self.responses.get(status, ("Error",))[0]}
        self._send(status, body, headers, entry)
        return True


# --- outside pytest -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.servers.mastodon", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--username", default="syndicate")
    parser.add_argument("--state-file")
    parser.add_argument("--max-characters", type=int, default=500)
    parser.add_argument("--characters-reserved-per-url", type=int, default=23)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--window", type=float, default=300.0)
    parser.add_argument("--media-polls", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--count-mode", choices=COUNT_MODES, default="mastodon")
    args = parser.parse_args(argv)
    server = MastodonServer(
        token=args.token,
        username=args.username,
        max_characters=args.max_characters,
        characters_reserved_per_url=args.characters_reserved_per_url,
        budget=args.budget,
        window=args.window,
        media_polls=args.media_polls,
        latency=args.latency,
        count_mode=args.count_mode,
        host=args.host,
        port=args.port,
        state_file=args.state_file,
        control=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    server._save_state()
    print(server.url, flush=True)
    try:
        while not stop.wait(0.2):
            pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
