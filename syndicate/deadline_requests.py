"""requests (under Mastodon.py) with a total deadline per request; see ``syndicate.deadline``.

``DeadlineSession(total)`` is a ``requests.Session`` whose every request —
connect, TLS, sending, the answer's headers and its whole body — ends by
``total`` seconds after it started.  urllib3 gives a socket one timeout per
operation; the connections of this session's pools wrap their socket (plain
or TLS, once connected) so that each send and receive waits at most what is
left of the deadline.  A request that runs out of time raises
``requests.Timeout``, whichever step it was in.

Imported only by the Mastodon adapter when it makes its client (requests is
slow to import).
"""

from __future__ import annotations

import io
import socket
from typing import Any, cast

import requests
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError

from syndicate.deadline import clamp, remaining, total_deadline


class _DeadlineSocket:
    """A connected socket whose every send and receive ends by the current deadline.

    It stands in for the socket in ``http.client`` (``sendall``, ``makefile``)
    and in urllib3 (``settimeout``, ``fileno`` for its liveness check,
    ``shutdown``); everything else goes to the real socket.  Like a socket,
    it stays open while a file made by ``makefile`` is (a response is read
    after its connection was closed).
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._timeout: float | None = sock.gettimeout()
        self._files = 0
        self._closed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def settimeout(self, value: float | None) -> None:
        self._timeout = value
        self._sock.settimeout(value)

    def gettimeout(self) -> float | None:
        return self._timeout

    def _arm(self) -> None:
        self._sock.settimeout(clamp(self._timeout, socket.timeout))

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._arm()
        return int(self._sock.recv_into(buffer, nbytes, flags))

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self._arm()
        return bytes(self._sock.recv(bufsize, flags))

    def send(self, data: Any, flags: int = 0) -> int:
        self._arm()
        return int(self._sock.send(data, flags) if flags else self._sock.send(data))

    def sendall(self, data: Any, flags: int = 0) -> None:
        """One ``send`` after another, each within what is left (a TLS socket's own
        ``sendall`` would give each piece the whole timeout again)."""
        with memoryview(data) as view, view.cast("B") as octets:
            sent = 0
            while sent < len(octets):
                sent += self.send(octets[sent:], flags)

    def makefile(self, mode: str = "rb", buffering: int | None = None, **_: Any) -> io.BufferedReader:
        if mode != "rb":
            raise ValueError(f"unsupported mode {mode!r}")
        self._files += 1
        size = buffering if buffering and buffering > 0 else io.DEFAULT_BUFFER_SIZE
        return io.BufferedReader(socket.SocketIO(cast(socket.socket, self), "rb"), size)

    def _decref_socketios(self) -> None:  # called by SocketIO.close()
        self._files -= 1
        if self._closed and self._files <= 0:
            self._sock.close()

    def close(self) -> None:
        self._closed = True
        if self._files <= 0:
            self._sock.close()


def _clamp_connect(conn: HTTPConnection) -> None:
    left = remaining()
    if left is None:
        return
    if left <= 0:
        raise ConnectTimeoutError(conn, f"connection to {conn.host} timed out (total deadline passed)")
    conn.timeout = left if conn.timeout is None else min(float(conn.timeout), left)


class _HTTPConnection(HTTPConnection):
    def connect(self) -> None:
        _clamp_connect(self)
        super().connect()
        self.sock = cast(socket.socket, _DeadlineSocket(self.sock))


class _HTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        _clamp_connect(self)
        super().connect()  # TCP, then the TLS handshake, within what was left
        self.sock = cast(socket.socket, _DeadlineSocket(self.sock))


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections (direct or through an HTTP proxy) clamp to the deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools have connections of their own
            manager.pool_classes_by_scheme = _POOLS
        return manager


class DeadlineSession(requests.Session):
    """A ``requests.Session`` whose every request, body included, ends within ``total`` seconds."""

    def __init__(self, total: float) -> None:
        super().__init__()
        self.total = total
        adapter = DeadlineAdapter()
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        with total_deadline(self.total) as deadline:
            try:
                return super().send(request, **kwargs)
            except requests.RequestException as exc:
                if deadline.passed and not isinstance(exc, requests.Timeout):
                    # a read cut short while streaming the body comes as a ConnectionError
                    raise requests.Timeout(f"no complete answer within {self.total:g}s (total deadline)",
                                           request=request) from exc
                raise
