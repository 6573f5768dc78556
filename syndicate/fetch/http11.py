"""One HTTP/1.1 GET on a socket of the standard library: connect, send, read the head, then the body.

``connect`` opens a ``Connection`` (through an ``AddressPolicy`` when given:
the host resolved once, every address checked, the checked addresses tried
in order), wrapping it in TLS (SNI, verification by the ``LazySSLContext``,
made at the first TLS connection).  ``exchange`` sends a request's bytes and
reads the response's head (1xx skipped: ``MAX_HEAD`` bytes of them at most), giving a ``Body`` to iterate:
framed by Content-Length, chunked (trailers, ``MAX_HEAD`` at most, read and dropped) or read to
close, and none for 204 and 304 (RFC 9112 §6.3).  A head is at most
``MAX_HEAD`` bytes, a line ``MAX_LINE``, ``MAX_FIELDS`` fields: monstrous
heads are refused.  Every socket operation waits at most the request's
timeout, clamped to the total deadline (``syndicate.deadline``).  Errors
are ``failures``' exceptions; socket and ssl errors never leave here.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from syndicate.deadline import clamp
from syndicate.fetch.failures import (
    BrokenResponse,
    ClosedEarly,
    ConnectFailed,
    ConnectionBroke,
    TimedOut,
    Truncated,
    WireError,
)

if TYPE_CHECKING:
    from syndicate.deadline import LazySSLContext
    from syndicate.netguard import AddressPolicy

__all__ = ["MAX_FIELDS", "MAX_HEAD", "MAX_LINE", "Body", "Connection", "Head", "connect", "exchange"]

MAX_HEAD = 100 * 1024  # as httpcore's h11 limit: a head (status line and fields) larger is refused
MAX_LINE = 64 * 1024  # one line of it, or one chunk-size line or trailer
MAX_FIELDS = 1000
_READ = 65536

# What may make up each part (checked with bytes.translate: no regular expression to compile at start-up)
_TOKEN = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # a field's name
_TEXT = b"\t" + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))  # a value, a reason (and SP, HTAB)
_HEX = b"0123456789ABCDEFabcdef"
_DIGITS = b"0123456789"


class Connection:
    """A socket (TLS or not) to one origin, and the bytes read from it but not yet used."""

    __slots__ = ("sock", "origin", "buffer", "received", "reused", "idle_since")

    def __init__(self, sock: socket.socket, origin: tuple[str, str, int]) -> None:
        self.sock = sock
        self.origin = origin  # (scheme, host, port): its pool key
        self.buffer = b""
        self.received = 0  # bytes received for the current response
        self.reused = False  # has it answered a request before this one?
        self.idle_since = 0.0

    def recv(self, timeout: float | None) -> bytes:
        try:
            self.sock.settimeout(clamp(timeout, TimedOut))
            data = self.sock.recv(_READ)
        except TimeoutError:
            raise TimedOut("read timed out") from None
        except OSError as exc:
            raise ConnectionBroke(str(exc) or type(exc).__name__, kind="ReadError") from None
        self.received += len(data)
        return data

    def send(self, data: bytes, timeout: float | None) -> None:
        try:
            self.sock.settimeout(clamp(timeout, TimedOut))
            self.sock.sendall(data)
        except TimeoutError:
            raise TimedOut("write timed out") from None
        except OSError as exc:
            raise ConnectionBroke(str(exc) or type(exc).__name__, kind="WriteError") from None

    def looks_closed(self) -> bool:
        """Idle, yet readable: the server closed it (or sent what no request asked for)."""
        try:
            pending = getattr(self.sock, "pending", None)  # an ssl.SSLSocket's decrypted bytes
            if pending is not None and pending():
                return True
            if hasattr(select, "poll"):  # (select.select refuses descriptors past FD_SETSIZE)
                poller = select.poll()
                poller.register(self.sock, select.POLLIN)
                return bool(poller.poll(0))
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def connect(scheme: str, host: str, port: int, timeout: float | None, *, policy: AddressPolicy | None,
            tls: LazySSLContext) -> Connection:
    """A connection to ``host:port`` (``https``: in TLS, verifying ``host``).

    Without a ``policy`` as ``socket.create_connection``; with one, only to the addresses it
    checked (``AddressRefused`` when it refuses), in the order they resolved."""
    if policy is None:
        sock = _open((host, port), timeout)
    else:
        try:
            addresses = policy.addresses(host, port)  # raises AddressRefused
        except OSError as exc:  # the name does not resolve
            raise ConnectFailed(str(exc), kind="ConnectError") from None
        except UnicodeError as exc:  # no name DNS can carry (a label too long, or empty)
            raise ConnectFailed(f"getaddrinfo: {exc}", kind="ConnectError") from None
        except OverflowError as exc:  # a port past a C long (as in ``_open``)
            raise ConnectFailed(f"getaddrinfo: {exc}", kind="ConnectError") from None
        failure: WireError = ConnectFailed(f"{host} resolves to no address", kind="ConnectError")
        for address in addresses:
            try:
                sock = _open((address, port), timeout)
                break
            except (ConnectFailed, TimedOut) as exc:
                failure = exc
        else:
            raise failure
    if scheme == "https":
        sock = _start_tls(sock, host, timeout, tls)
    return Connection(sock, (scheme, host, port))


def _open(address: tuple[str, int], timeout: float | None) -> socket.socket:
    """``socket.create_connection(address, timeout)``, each attempt clamped to the deadline."""
    host, port = address
    try:
        # The host as bytes: it is ASCII already (IDNA-encoded by ``urls``), and a str would
        # have getaddrinfo encode it again with the "idna" codec (importing encodings.idna,
        # stringprep and unicodedata: ≈1.5 ms of a run --once).
        infos = socket.getaddrinfo(host.encode("ascii"), port, 0, socket.SOCK_STREAM)
        failure: OSError = OSError("getaddrinfo returns an empty list")
        for family, kind, proto, _, where in infos:  # in order, as create_connection
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(clamp(timeout, TimedOut))
                sock.connect(where)
                return sock
            except BaseException as exc:
                sock.close()
                if not isinstance(exc, OSError) or isinstance(exc, TimeoutError):
                    raise
                failure = exc
        raise failure
    except TimeoutError:
        raise TimedOut("connect timed out") from None
    except OSError as exc:
        raise ConnectFailed(str(exc) or type(exc).__name__, kind="ConnectError") from None
    except UnicodeError as exc:  # getaddrinfo's IDNA encoding of a name DNS cannot carry
        raise ConnectFailed(f"getaddrinfo: {exc}", kind="ConnectError") from None
    except OverflowError as exc:  # a port above 65535
        raise ConnectFailed(f"getaddrinfo: {exc}", kind="ConnectError") from None


def _start_tls(sock: socket.socket, host: str, timeout: float | None, tls: LazySSLContext) -> socket.socket:
    try:
        context = tls.context()  # the first TLS connection makes it (loading the CA bundle)
        sock.settimeout(clamp(timeout, TimedOut))
        return context.wrap_socket(sock, server_hostname=host)
    except TimeoutError:
        sock.close()
        raise TimedOut("TLS handshake timed out") from None
    except OSError as exc:  # ssl.SSLError (a certificate not trusted, …) is one
        sock.close()
        raise ConnectFailed(str(exc) or type(exc).__name__, kind="ConnectError") from None
    except BaseException:
        sock.close()
        raise


class Head:
    """A response's status line and fields, as they came."""

    __slots__ = ("version", "status", "reason", "fields")

    def __init__(self, version: int, status: int, reason: bytes, fields: list[tuple[bytes, bytes]]) -> None:
        self.version = version  # 10 or 11
        self.status = status
        self.reason = reason
        self.fields = fields  # (name, value) in order, names as sent


def exchange(conn: Connection, request: bytes, timeout: float | None,
             release: Callable[[Connection], None]) -> tuple[Head, Body]:
    """Send ``request`` and read the response's head; its body is the ``Body`` to iterate.

    ``release`` gets the connection back once the body has been read to its end, when it
    can carry another request; otherwise (``Body.close`` before the end too) it is closed."""
    conn.received = 0
    conn.send(request, timeout)
    while True:
        head = _read_head(conn, timeout)
        if head.status >= 200:
            break  # 1xx: informational, skipped, but bounded together as one head is
        if conn.received - len(conn.buffer) > MAX_HEAD:
            raise BrokenResponse(f"informational responses larger than {MAX_HEAD // 1024} kB")
    return head, Body(conn, head, timeout, release)


def _end_of_head(buffer: bytes, start: int) -> tuple[int, int] | None:
    """Where the head's blank line starts and ends (CRLF or bare LF line ends), if it came."""
    crlf = buffer.find(b"\n\r\n", start)
    lf = buffer.find(b"\n\n", start)
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return lf, lf + 2
    if crlf >= 0:
        return crlf, crlf + 3
    return None


def _read_head(conn: Connection, timeout: float | None) -> Head:
    searched = 0
    while (end := _end_of_head(conn.buffer, max(0, searched - 2))) is None:
        if len(conn.buffer) > MAX_HEAD:
            raise BrokenResponse(f"response head larger than {MAX_HEAD // 1024} kB")
        searched = len(conn.buffer)
        data = conn.recv(timeout)
        if not data:
            raise ClosedEarly("Server disconnected without sending a response.")
        conn.buffer += data
    raw, conn.buffer = conn.buffer[:end[0]], conn.buffer[end[1]:]
    if len(raw) > MAX_HEAD:
        raise BrokenResponse(f"response head larger than {MAX_HEAD // 1024} kB")
    lines = raw.split(b"\n")
    status_line = lines[0].removesuffix(b"\r")
    # HTTP/x.y SP 3DIGIT [SP reason]
    if (len(status_line) < 12 or status_line[:5] != b"HTTP/" or status_line[6:7] != b"."
            or status_line[8:9] != b" " or (len(status_line) > 12 and status_line[12:13] != b" ")
            or status_line[5:6].translate(None, _DIGITS) or status_line[7:8].translate(None, _DIGITS)
            or status_line[9:12].translate(None, _DIGITS) or status_line[13:].translate(None, _TEXT)):
        raise BrokenResponse(f"illegal status line: {_shown(status_line)}")
    if status_line[5:6] != b"1":
        raise BrokenResponse(f"unsupported HTTP version: {_shown(status_line)}")
    if len(lines) - 1 > MAX_FIELDS:
        raise BrokenResponse(f"more than {MAX_FIELDS} header fields in the response")
    fields: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        line = line.removesuffix(b"\r")
        if len(line) > MAX_LINE:
            raise BrokenResponse(f"a header line longer than {MAX_LINE // 1024} kB")
        if line[:1] in (b" ", b"\t"):  # obs-fold: the previous field's value goes on
            if not fields or line.translate(None, _TEXT):
                raise BrokenResponse(f"illegal header line: {_shown(line)}")
            name, value = fields[-1]
            fields[-1] = (name, (value + b" " + line.strip(b" \t")).strip(b" "))
            continue
        name, colon, value = line.partition(b":")
        value = value.strip(b" \t")
        if not colon or not name or name.translate(None, _TOKEN) or value.translate(None, _TEXT):
            raise BrokenResponse(f"illegal header line: {_shown(line)}")
        fields.append((name, value))
    return Head(10 if status_line[7:8] == b"0" else 11, int(status_line[9:12]), status_line[13:], fields)


def _chunk_size(line: bytes) -> int | None:
    """A chunk-size line's size (its extension dropped), or None if it is none."""
    size = line.partition(b";")[0].rstrip(b" \t")
    if not size or len(size) > 16 or size.translate(None, _HEX):
        return None
    return int(size, 16)


def _shown(line: bytes) -> str:
    return repr(line[:200])


class Body:
    """A response's body, read as it is iterated (still content-encoded), once."""

    __slots__ = ("_conn", "_timeout", "_release", "_length", "_chunked", "_reusable", "_done")

    def __init__(self, conn: Connection, head: Head, timeout: float | None,
                 release: Callable[[Connection], None]) -> None:
        self._conn: Connection | None = conn
        self._timeout = timeout
        self._release = release
        self._done = False
        lengths: list[bytes] = []
        codings: list[bytes] = []
        close = head.version < 11
        for name, value in head.fields:
            lower = name.lower()
            if lower == b"content-length":
                lengths.extend(v.strip(b" \t") for v in value.split(b","))
            elif lower == b"transfer-encoding":
                codings.extend(v.strip(b" \t").lower() for v in value.split(b","))
            elif lower == b"connection" and b"close" in (v.strip(b" \t").lower() for v in value.split(b",")):
                close = True
        self._chunked = False
        self._length: int | None = None  # None: to the close (unless chunked)
        if head.status in (204, 304):  # never a body (RFC 9112 §6.3), whatever the fields say
            self._length = 0
        elif codings:
            if codings != [b"chunked"]:
                shown = b", ".join(codings).decode("latin-1")
                raise BrokenResponse(f"unsupported Transfer-Encoding: {shown!r} (only chunked is)")
            self._chunked = True
            close = close or bool(lengths)  # both: a smuggling attempt's shape; never reused
        elif lengths:
            if not all(v.isdigit() and len(v) <= 19 for v in lengths):  # (each: int() refuses 4300 digits)
                raise BrokenResponse("bad Content-Length")
            if len({int(v) for v in lengths}) > 1:
                raise BrokenResponse("conflicting Content-Length headers")
            self._length = int(lengths[0])
        else:
            close = True  # read to the close
        self._reusable = not close
        if self._length == 0:
            self._finish()

    def __iter__(self) -> Iterator[bytes]:
        if self._done:
            return
        try:
            if self._chunked:
                yield from self._chunks()
            elif self._length is not None:
                yield from self._sized(self._length)
            else:
                yield from self._to_close()
        except BaseException:
            self.close()
            raise
        self._finish()

    def _more(self) -> bytes:
        assert self._conn is not None
        data = self._conn.recv(self._timeout)
        return data

    def _sized(self, length: int) -> Iterator[bytes]:
        conn = self._conn
        assert conn is not None
        left = length
        if conn.buffer:
            data, conn.buffer = conn.buffer[:left], conn.buffer[left:]
            left -= len(data)
            yield data
        while left > 0:
            data = self._more()
            if not data:
                raise Truncated(f"received {length - left} of {length} bytes")
            if len(data) > left:
                data, conn.buffer = data[:left], data[left:]
            left -= len(data)
            yield data

    def _to_close(self) -> Iterator[bytes]:
        conn = self._conn
        assert conn is not None
        if conn.buffer:
            data, conn.buffer = conn.buffer, b""
            yield data
        while data := self._more():
            yield data

    def _line(self) -> bytes:
        """A line of the chunked framing (a size, a trailer), without its CRLF."""
        conn = self._conn
        assert conn is not None
        while (end := conn.buffer.find(b"\n")) < 0:
            if len(conn.buffer) > MAX_LINE:
                raise BrokenResponse(f"a chunk-size line or trailer longer than {MAX_LINE // 1024} kB")
            data = self._more()
            if not data:
                raise Truncated("closed inside a chunked body")
            conn.buffer += data
        line, conn.buffer = conn.buffer[:end], conn.buffer[end + 1:]
        if len(line) > MAX_LINE:
            raise BrokenResponse(f"a chunk-size line or trailer longer than {MAX_LINE // 1024} kB")
        return line.removesuffix(b"\r")

    def _chunks(self) -> Iterator[bytes]:
        conn = self._conn
        assert conn is not None
        while True:
            if whole := self._whole_chunks():
                yield whole
            line = self._line()
            length = _chunk_size(line)
            if length is None:
                raise BrokenResponse(f"illegal chunk header: {_shown(line)}")
            if length == 0:
                break
            yield from self._sized(length)
            while len(conn.buffer) < 2:
                data = self._more()
                if not data:
                    raise Truncated("closed inside a chunked body")
                conn.buffer += data
            if conn.buffer[:2] != b"\r\n":
                footer = _shown(conn.buffer[:2])
                raise BrokenResponse(f"malformed chunk footer: {footer} (expected b'\\r\\n')")
            conn.buffer = conn.buffer[2:]
        trailer_bytes = 0
        for _ in range(MAX_FIELDS + 1):  # the trailer section, up to its blank line: dropped
            line = self._line()
            if not line:
                return
            trailer_bytes += len(line) + 2
            if trailer_bytes > MAX_HEAD:  # (bounded as a head is: none of it counts against the size cap)
                raise BrokenResponse(f"trailer section larger than {MAX_HEAD // 1024} kB")
        raise BrokenResponse(f"more than {MAX_FIELDS} trailer fields in the response")

    def _whole_chunks(self) -> bytes:
        """The data of the chunks the buffer holds whole (size line, data, CRLF), taken from it as
        one part: a part per read, not per chunk.  Stops at the last chunk, one still coming, or
        anything amiss (which the chunk-by-chunk reading then refuses)."""
        conn = self._conn
        assert conn is not None
        buffer = conn.buffer
        position = 0
        found: list[memoryview] = []
        with memoryview(buffer) as view:
            while (end := buffer.find(b"\n", position, position + MAX_LINE + 1)) >= 0:
                length = _chunk_size(buffer[position:end].removesuffix(b"\r"))
                start = end + 1
                if not length or buffer[start + length:start + length + 2] != b"\r\n":
                    break
                found.append(view[start:start + length])
                position = start + length + 2
            whole = b"".join(found)
            found.clear()
        if position:
            conn.buffer = buffer[position:]
        return whole

    def _finish(self) -> None:
        """At the end of the body: the connection back to its pool, or closed."""
        self._done = True
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._reusable and not conn.buffer:  # (bytes beyond the body: no telling what they are)
            conn.reused = True
            self._release(conn)
        else:
            conn.close()

    @property
    def done(self) -> bool:
        return self._done

    def close(self) -> None:
        """Done with the response: a body not read to its end closes the connection."""
        self._done = True
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
