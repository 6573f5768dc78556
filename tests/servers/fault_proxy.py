"""A loopback HTTP proxy in front of a real server, with faults injected on demand.

For what a real PDS cannot do when asked: answer 503 or 429, drop the
connection, or accept a write and then lose the answer (a crash after the
server committed)::

    with FaultProxy(pds.url) as proxy:
        proxy.add_faults("com.atproto.repo.createRecord", Fault(status=503), Fault(accept_then_drop=True))
        adapter = BlueskyAdapter(..., service=proxy.url)
        ...
        assert proxy.count("com.atproto.server.createSession") == 1

Faults queue per XRPC method (the NSID after ``/xrpc/``, or ``"*"`` for any
request); each request takes the first fault of its queue, and with none
left it is forwarded untouched — unless a seeded random rule fails it::

    proxy.random_faults(0.2, seed=7, nsids=("com.atproto.repo.createRecord",),
                        kinds=(503, "drop", "accept_then_drop"))

``on_request`` (a callable taking ``(method, nsid)``) is called as each
request arrives, before anything is done with it: tests that act on
progress (kill a client after N requests) hook it to a condition.  Request and response bodies and headers
are passed through (hop-by-hop headers aside); response bodies stream.
``seen`` lists every request with what became of it (and a forwarded answer's headers).

A PDS advertises its own URL in the DID document that ``createSession`` and
``refreshSession`` return, and the atproto SDK then talks to that URL.  Like
any reverse proxy in front of a PDS, whose public URL is the proxy's, this
proxy rewrites the upstream origin to its own in those answers, so a client
keeps coming through the proxy.
"""

from __future__ import annotations

import json
import random
import socket
import sys
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

import httpx

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade", "host", "content-length",
}
REWRITE_ORIGIN = {
    "com.atproto.server.createSession",
    "com.atproto.server.refreshSession",
    "com.atproto.server.getSession",
}


@dataclass(frozen=True)
class Fault:
    """What to do to one request instead of forwarding it.

    - ``Fault(status=503)``: answer 503 (``headers`` and ``body`` optional;
      the default body is an XRPC error JSON) without forwarding.
    - ``Fault(status=429, headers={"ratelimit-reset": "1767225600"})``.
    - ``Fault(drop=True)``: close the connection without answering, not forwarded.
    - ``Fault(accept_then_drop=True)``: forward, let the upstream answer, then
      close the connection without passing the answer on.
    - ``Fault(trickle=0.1)``: forward, let the upstream answer, then pass on
      its status and headers but, for a body, one space every 0.1 s for
      ever (until the client goes away or the proxy stops): only a total
      deadline ends it.  ``FaultProxy.trickling`` counts those in progress.
    - ``delay``: seconds to wait first (combine with the others, or alone).
    """

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    drop: bool = False
    accept_then_drop: bool = False
    trickle: float | None = None
    delay: float = 0.0


FAULT_KINDS = ("drop", "accept_then_drop")


def fault_of_kind(kind: int | str | Fault) -> Fault:
    """A :class:`Fault` from a short spec: an HTTP status (``503``), ``"drop"``,
    ``"accept_then_drop"``, or a ``Fault`` itself."""
    if isinstance(kind, Fault):
        return kind
    if isinstance(kind, int) and not isinstance(kind, bool):
        return Fault(status=kind)
    if kind in FAULT_KINDS:
        return Fault(**{str(kind): True})
    raise ValueError(f"unknown fault kind {kind!r}: an HTTP status or one of {', '.join(FAULT_KINDS)}")


class RandomFaults:
    """Fail ``rate`` of the requests to ``nsids`` (all, if empty) with one of ``kinds``, seeded."""

    def __init__(self, rate: float, kinds: Iterable[int | str | Fault], nsids: Iterable[str] = (),
                 seed: int | None = None) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        self.rate = rate
        self.faults = tuple(fault_of_kind(k) for k in kinds)
        if not self.faults:
            raise ValueError("kinds must not be empty")
        self.nsids = frozenset(_nsid(n) for n in nsids)
        self.seed = seed
        self.injected = 0
        self._rng = random.Random(seed)

    def draw(self, nsid: str) -> Fault | None:
        if self.nsids and nsid not in self.nsids:
            return None
        if self._rng.random() >= self.rate:
            return None
        self.injected += 1
        return self._rng.choice(self.faults)


@dataclass(frozen=True)
class Seen:
    """One request the proxy saw, and what became of it."""

    method: str
    nsid: str
    outcome: str  # "forwarded 200", "fault 503", "dropped", "accepted then dropped", ...
    headers: dict[str, str] = field(default_factory=dict)  # a forwarded answer's headers (lower-case)


class FaultProxy:
    """A threaded HTTP proxy on 127.0.0.1 in front of ``upstream``."""

    def __init__(self, upstream: str, *, timeout: float = 30.0) -> None:
        self.upstream = upstream.rstrip("/")
        self._client = httpx.Client(base_url=self.upstream, timeout=timeout)
        self._lock = threading.Lock()
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._random: list[RandomFaults] = []
        self.on_request: Callable[[str, str], None] | None = None  # (method, nsid), as each arrives
        self.calls: Counter[str] = Counter()  # requests seen per NSID, faulted ones included
        self.seen: list[Seen] = []
        self.trickling = 0  # answers being trickled right now (Fault(trickle=...))
        self._stopping = threading.Event()
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread: threading.Thread | None = None

    # -- programming it --

    def add_faults(self, nsid: str, *faults: Fault) -> None:
        """Queue ``faults`` for the next requests to ``nsid`` (or ``"*"``: any request)."""
        with self._lock:
            self._faults[_nsid(nsid)].extend(faults)

    def random_faults(self, rate: float = 0.2, *, seed: int | None = None,
                      nsids: Iterable[str] = (),
                      kinds: Iterable[int | str | Fault] = (503, "drop", "accept_then_drop")) -> RandomFaults:
        """Fail a seeded random ``rate`` of the requests to ``nsids`` (any, if empty) that have
        no queued fault, each with a fault drawn from ``kinds``.  Returns the rule (its
        ``injected`` counts the faults it made); ``clear()`` removes it."""
        rule = RandomFaults(rate, kinds, nsids, seed)
        with self._lock:
            self._random.append(rule)
        return rule

    def clear(self) -> None:
        """Forget queued faults, random rules and counters."""
        with self._lock:
            self._faults.clear()
            self._random.clear()
            self.calls.clear()
            self.seen.clear()

    def count(self, nsid: str) -> int:
        """How many requests to ``nsid`` reached the proxy."""
        with self._lock:
            return self.calls[_nsid(nsid)]

    def pending(self, nsid: str = "*") -> int:
        """How many queued faults are still unused (all of them for ``"*"``)."""
        with self._lock:
            if nsid == "*":
                return sum(len(q) for q in self._faults.values())
            return len(self._faults[_nsid(nsid)])

    def _take(self, method: str, nsid: str) -> Fault | None:
        hook = self.on_request
        if hook is not None:
            hook(method, nsid)
        with self._lock:
            self.calls[nsid] += 1
            for key in (nsid, "*"):
                queue = self._faults.get(key)
                if queue:
                    return queue.popleft()
            for rule in self._random:
                fault = rule.draw(nsid)
                if fault is not None:
                    return fault
            return None

    def _record(self, method: str, nsid: str, outcome: str, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self.seen.append(Seen(method, nsid, outcome, headers or {}))

    # -- lifetime --

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._client.close()
        if self._thread:
            self._thread.join(5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # the client went away (killed)
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def _nsid(path_or_nsid: str) -> str:
    if path_or_nsid == "*":
        return "*"
    path = urlsplit(path_or_nsid).path if "/" in path_or_nsid else path_or_nsid
    return path.rsplit("/xrpc/", 1)[-1].strip("/")


class _ProxyHandler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _handle(self) -> None:
        try:
            self._proxy()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. its timeout)
            self.close_connection = True

    def _proxy(self) -> None:
        owner = self.owner
        nsid = _nsid(urlsplit(self.path).path)
        body = self._read_body()
        fault = owner._take(self.command, nsid)
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.drop:
            owner._record(self.command, nsid, "dropped")
            return self._drop()
        if fault and fault.status is not None and not fault.accept_then_drop:
            owner._record(self.command, nsid, f"fault {fault.status}")
            payload = fault.body
            if payload is None:
                error = {"error": _error_name(fault.status), "message": "injected fault"}
                payload = json.dumps(error).encode()
            self.send_response(fault.status)
            headers = {"content-type": "application/json", **fault.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return None

        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
        if nsid in REWRITE_ORIGIN:  # ask for an uncompressed answer, to rewrite it
            headers = [(k, v) for k, v in headers if k.lower() != "accept-encoding"]
            headers.append(("accept-encoding", "identity"))
        request = owner._client.build_request(self.command, self.path, headers=headers, content=body)
        try:
            upstream = owner._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            owner._record(self.command, nsid, f"upstream error {type(exc).__name__}")
            payload = json.dumps({"error": "BadGateway", "message": str(exc)}).encode()
            self.send_response(502)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return None
        try:
            if fault and fault.accept_then_drop:
                upstream.read()  # the upstream has done the work; its answer is lost
                owner._record(self.command, nsid, f"accepted {upstream.status_code} then dropped")
                return self._drop()
            if fault and fault.trickle is not None:
                upstream.read()  # the upstream has done the work; its answer never gets through
                owner._record(self.command, nsid, f"accepted {upstream.status_code} then trickled")
                return self._trickle(upstream, fault.trickle)
            owner._record(self.command, nsid, f"forwarded {upstream.status_code}",
                          {k.lower(): v for k, v in upstream.headers.items()})
            out_headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
            if nsid in REWRITE_ORIGIN:
                payload = upstream.read().replace(owner.upstream.encode(), owner.url.encode())  # decoded
                out_headers = [(k, v) for k, v in out_headers if k.lower() != "content-encoding"]
                self._start(upstream.status_code, out_headers, len(payload))
                self.wfile.write(payload)
                return None
            length = upstream.headers.get("content-length")
            self._start(upstream.status_code, out_headers, int(length) if length is not None else None)
            for chunk in upstream.iter_raw():
                if length is not None:
                    self.wfile.write(chunk)
                elif chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if length is None:
                self.wfile.write(b"0\r\n\r\n")
            return None
        finally:
            upstream.close()

    def _trickle(self, upstream: httpx.Response, every: float) -> None:
        owner = self.owner
        headers = [(k, v) for k, v in upstream.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() != "content-encoding"]
        self.close_connection = True
        with owner._lock:
            owner.trickling += 1
        try:
            self._start(upstream.status_code, headers, None)
            while not owner._stopping.wait(every):
                self.wfile.write(b"1\r\n \r\n")
        except OSError:  # the client gave up: what the fault is there to see
            pass
        finally:
            with owner._lock:
                owner.trickling -= 1

    def _start(self, status: int, headers: list[tuple[str, str]], length: int | None) -> None:
        self.send_response_only(status)  # the upstream's own Date and Server headers follow
        for name, value in headers:
            self.send_header(name, value)
        if length is not None:
            self.send_header("content-length", str(length))
        else:
            self.send_header("transfer-encoding", "chunked")
        self.end_headers()


def _error_name(status: int) -> str:
    return {
        400: "InvalidRequest", 401: "AuthenticationRequired", 429: "RateLimitExceeded",
        500: "InternalServerError", 502: "UpstreamFailure", 503: "ServiceUnavailable",
    }.get(status, "Error")
