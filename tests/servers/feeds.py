"""A real HTTP feed server on 127.0.0.1 for tests.

::

    with FeedServer() as server:
        server.set_feed("/feed", rss_bytes)                  # ETag + Last-Modified + 304
        server.queue_faults("/feed", Fault(status=429, headers={"Retry-After": "120"}))
        server.set_redirect("/old", "/feed", status=301)
        server.set_stream("/huge", 100_000_000)               # generated on the fly
        fetch(server.url("/feed"))
        server.requests                                       # [(method, path, headers), ...]

HTTP/1.1 with keep-alive, one thread per connection, no logging.  Faults are
served first-in first-out, one per request, before the path's normal answer.
A hanging fault waits (without polling) until the client goes away or the
server stops; ``stop()`` releases every waiting handler and closes every open
connection, so it returns at once.
"""

from __future__ import annotations

import gzip as gzip_module
import hashlib
import selectors
import socket
import socketserver
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

AUTO: Any = object()  # "work it out" for set_feed's etag and last_modified


@dataclass(frozen=True)
class Fault:
    """One misbehaving response, served once.

    ``status``/``headers``/``body``: a plain response (e.g. 429 + Retry-After).
    ``hang``: send nothing until the client goes away or the server stops.
    ``drop``: close the connection without a response.
    ``trickle``: send 200 headers, then one byte every ``trickle`` seconds,
    for ever (tests a total deadline rather than a per-read one).
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    hang: bool = False
    drop: bool = False
    trickle: float | None = None


class Seen(NamedTuple):
    """A request the server received; ``headers`` has lower-cased keys."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class _Feed:
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None
    gzipped: bytes | None
    headers: Mapping[str, str]


@dataclass
class _Redirect:
    to: str
    status: int


@dataclass
class _Stream:
    total: int
    chunk: int
    content_length: bool
    content_type: str
    sent: int = 0
    active: int = 0


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    timeout = None
    owner: FeedServer

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which can take seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return not self.owner._stopping.is_set()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # quiet: clients that go away mid-response are part of the tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "FeedServer/1.0"
    sys_version = ""
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.owner._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.owner._handle(self, head=False)

    def do_HEAD(self) -> None:
        self.server.owner._handle(self, head=True)


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class FeedServer:
    """A loopback feed server; use as a context manager or call start()/stop().

    ``host`` is the loopback address to listen on: ``127.0.0.1`` (default) or ``::1``.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._routes: dict[str, _Feed | _Redirect | _Stream] = {}
        self._faults: defaultdict[str, deque[Fault]] = defaultdict(deque)
        self._requests: list[Seen] = []
        self._conns: set[socket.socket] = set()
        self._last_modified = 0
        self._wake_r, self._wake_w = socket.socketpair()
        self.connections = 0  # TCP connections accepted so far
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    def start(self) -> FeedServer:
        server_class = _HTTPServer6 if ":" in self.host else _HTTPServer
        httpd = server_class((self.host, 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(target=self._serve, name=f"FeedServer:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None or self._stopping.is_set():
            return
        self._stopping.set()
        self._wake_w.send(b"x")  # releases hanging handlers (never read, so stays readable)
        try:  # wake the accept loop
            socket.create_connection(self._httpd.server_address[:2], timeout=1).close()
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # idle keep-alive handlers are blocked reading: end them
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self) -> None:
        assert self._httpd is not None
        while not self._stopping.is_set():
            self._httpd.handle_request()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    def url(self, path: str = "/") -> str:
        if not path.startswith("/"):
            path = "/" + path
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    # -- configuration --

    def set_feed(self, path: str, body: bytes, *,
                 content_type: str = "application/rss+xml; charset=utf-8",
                 etag: str | None = AUTO, last_modified: str | None = AUTO,
                 gzip: bool = False, headers: Mapping[str, str] | None = None) -> None:
        """Serve ``body`` at ``path``, honouring If-None-Match / If-Modified-Since.

        ``etag`` defaults to a hash of the body, ``last_modified`` to now (each
        call at least one second later than the last, so a change is always
        visible to If-Modified-Since).  Pass ``None`` to send no such header.
        ``gzip=True`` compresses for clients that accept it.
        """
        if etag is AUTO:
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        with self._lock:
            if last_modified is AUTO:
                self._last_modified = max(int(time.time()), self._last_modified + 1)
                last_modified = formatdate(self._last_modified, usegmt=True)
            self._routes[path] = _Feed(
                body=body, content_type=content_type, etag=etag, last_modified=last_modified,
                gzipped=gzip_module.compress(body, mtime=0) if gzip else None, headers=dict(headers or {}),
            )

    def set_redirect(self, path: str, to_path: str, status: int = 301) -> None:
        """Redirect ``path`` to ``to_path`` (sent as given: a path or an absolute URL)."""
        with self._lock:
            self._routes[path] = _Redirect(to_path, status)

    def set_stream(self, path: str, total_bytes: int, chunk: int = 65536, *,
                   content_length: bool = False,
                   content_type: str = "application/rss+xml; charset=utf-8") -> None:
        """Serve ``total_bytes`` generated on the fly (chunked unless ``content_length``).

        ``stream_sent(path)`` tells how many bytes the server managed to send.
        """
        with self._lock:
            self._routes[path] = _Stream(total_bytes, chunk, content_length, content_type)

    def remove(self, path: str) -> None:
        with self._lock:
            self._routes.pop(path, None)
            self._faults.pop(path, None)

    def queue_faults(self, path: str, *faults: Fault) -> None:
        """Serve these responses to the next requests for ``path``, in order."""
        with self._lock:
            self._faults[path].extend(faults)

    # -- observation --

    @property
    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self._requests if r.path == path]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def stream_sent(self, path: str, *, wait: float = 5.0) -> int:
        """Bytes sent on ``path`` so far, after waiting up to ``wait`` s for its responses to end."""
        with self._changed:
            stream = self._routes[path]
            assert isinstance(stream, _Stream), f"{path} is not a stream"
            self._changed.wait_for(lambda: stream.active == 0, timeout=wait)
            return stream.sent

    # -- serving (handler threads) --

    def _opened(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.add(conn)
            self.connections += 1

    def _closed(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.discard(conn)

    def _handle(self, h: _Handler, head: bool) -> None:
        path = h.path
        seen = Seen(h.command, path, {k.lower(): v for k, v in h.headers.items()})
        with self._lock:
            self._requests.append(seen)
            queue = self._faults.get(path)
            fault = queue.popleft() if queue else None
            route = self._routes.get(path) or self._routes.get(path.split("?", 1)[0])
        try:
            if fault is not None:
                self._fault(h, fault, head)
            elif isinstance(route, _Feed):
                self._feed(h, route, seen.headers, head)
            elif isinstance(route, _Redirect):
                self._send(h, route.status, {"Location": route.to}, b"", head)
            elif isinstance(route, _Stream):
                self._stream(h, route, head)
            else:
                self._send(h, 404, {"Content-Type": "text/plain"}, b"not found\n", head)
        except OSError:  # the client went away
            h.close_connection = True

    def _send(self, h: _Handler, status: int, headers: Mapping[str, str], body: bytes, head: bool) -> None:
        h.send_response(status)
        for name, value in headers.items():
            h.send_header(name, value)
        if status != 304 and not 100 <= status < 200 and status != 204:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if body and not head and status != 304:
            h.wfile.write(body)

    def _feed(self, h: _Handler, feed: _Feed, req: dict[str, str], head: bool) -> None:
        headers: dict[str, str] = {}
        if feed.etag:
            headers["ETag"] = feed.etag
        if feed.last_modified:
            headers["Last-Modified"] = feed.last_modified
        if _not_modified(feed, req):
            self._send(h, 304, headers, b"", head)
            return
        body = feed.body
        headers["Content-Type"] = feed.content_type
        if feed.gzipped is not None:
            headers["Vary"] = "Accept-Encoding"
            if "gzip" in req.get("accept-encoding", ""):
                headers["Content-Encoding"] = "gzip"
                body = feed.gzipped
        headers.update(feed.headers)
        self._send(h, 200, headers, body, head)

    def _fault(self, h: _Handler, fault: Fault, head: bool) -> None:
        if fault.drop:
            h.close_connection = True
            return
        if fault.hang:
            self._wait_for_client_or_stop(h.connection)
            h.close_connection = True
            return
        if fault.trickle is not None:
            h.send_response(fault.status)
            h.send_header("Content-Type", "application/rss+xml")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            h.close_connection = True
            while not self._stopping.wait(fault.trickle):
                h.wfile.write(b"1\r\n \r\n")
            return
        headers = dict(fault.headers)
        if fault.body:
            headers.setdefault("Content-Type", "text/plain")
        self._send(h, fault.status, headers, fault.body, head)

    def _stream(self, h: _Handler, stream: _Stream, head: bool) -> None:
        with self._lock:
            stream.active += 1
        try:
            h.send_response(200)
            h.send_header("Content-Type", stream.content_type)
            if stream.content_length:
                h.send_header("Content-Length", str(stream.total))
            else:
                h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            if head:
                return
            h.close_connection = True  # the client may stop reading half-way
            block = memoryview(b"<!-- " + b"x" * max(0, stream.chunk - 9) + b" -->\n")[: stream.chunk]
            left = stream.total
            while left > 0 and not self._stopping.is_set():
                n = min(left, len(block))
                if stream.content_length:
                    h.wfile.write(block[:n])
                else:
                    h.wfile.write(b"%x\r\n" % n + bytes(block[:n]) + b"\r\n")
                left -= n
                with self._lock:
                    stream.sent += n
            if not stream.content_length and left == 0:
                h.wfile.write(b"0\r\n\r\n")
                h.close_connection = False
        finally:
            with self._changed:
                stream.active -= 1
                self._changed.notify_all()

    def _wait_for_client_or_stop(self, conn: socket.socket) -> None:
        """Block until the client closes the connection or the server stops."""
        if self._stopping.is_set():
            return
        with selectors.DefaultSelector() as sel:
            sel.register(conn, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            for key, _ in sel.select():
                if key.fileobj is self._wake_r:
                    return
            try:
                data = conn.recv(1, socket.MSG_PEEK)
            except OSError:
                return
            if data:  # the client sent more (pipelining): wait for the server to stop
                self._stopping.wait()


@contextmanager
def internal_service() -> Iterator[FeedServer]:
    """An "internal" service a hostile feed would like us to reach: a page naming an image, the image."""
    with FeedServer() as srv:
        srv.set_feed("/admin/", b"<html><head><meta property='og:image' content='/x.png'></head></html>",
                     content_type="text/html")
        srv.set_feed("/secret.png", b"\x89PNG\r\n\x1a\nsecret", content_type="image/png")
        yield srv


def _not_modified(feed: _Feed, req: Mapping[str, str]) -> bool:
    inm = req.get("if-none-match")
    if inm is not None:  # RFC 9110 13.1.3: If-Modified-Since is ignored when If-None-Match is sent
        if inm.strip() == "*":
            return True
        if not feed.etag:
            return False
        ours = feed.etag.removeprefix("W/")
        return any(tag.strip().removeprefix("W/") == ours for tag in inm.split(","))
    ims = req.get("if-modified-since")
    if ims and feed.last_modified:
        try:
            return parsedate_to_datetime(ims) >= parsedate_to_datetime(feed.last_modified)
        except (TypeError, ValueError):
            return False
    return False
