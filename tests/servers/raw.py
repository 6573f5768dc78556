"""A raw HTTP server on 127.0.0.1 for tests of the wire: it answers each request with scripted bytes.

::

    with RawServer() as server:
        server.answer(b"HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n3\\r\\nabc\\r\\n0\\r\\n\\r\\n")
        server.answer(b"HTTP/1.1 200 OK\\r\\n\\r\\npartial", close=True)   # then closes
        fetch(server.url("/feed"))
        server.requests      # each request's bytes, as received
        server.connections   # how many connections were accepted

Each accepted connection reads requests (up to the blank line: GETs have no
body) and answers each with the next queued ``Answer``; once the queue is
empty it answers ``default`` (a small 200 with keep-alive).  ``close=True``
closes the connection after the answer; ``hang=True`` sends the bytes and
then sends nothing more until the client goes away or the server stops.
"""

from __future__ import annotations

import socket
import threading
from collections import deque
from typing import NamedTuple

DEFAULT = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Answer(NamedTuple):
    data: bytes
    close: bool = False
    hang: bool = False


class RawServer:
    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        self._answers: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._open: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.requests: list[bytes] = []
        self.connections = 0
        self.default = Answer(DEFAULT)

    def url(self, path: str = "/feed") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, data: bytes, *, close: bool = False, hang: bool = False) -> None:
        with self._lock:
            self._answers.append(Answer(data, close, hang))

    def __enter__(self) -> RawServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()  # wake accept()
        except OSError:
            pass
        with self._lock:
            for conn in self._open:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
        self._listener.close()
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if self._stopping.is_set():
                conn.close()
                return
            with self._lock:
                self.connections += 1
                self._open.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                request, buffer = buffer.split(b"\r\n\r\n", 1)
                with self._lock:
                    self.requests.append(request + b"\r\n\r\n")
                    answer = self._answers.popleft() if self._answers else self.default
                if answer.data:
                    conn.sendall(answer.data)
                if answer.hang:
                    while conn.recv(65536):
                        pass
                    return
                if answer.close:
                    return
        except OSError:
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass
