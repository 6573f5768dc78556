"""Running the listener: uvicorn in a daemon thread, on a socket bound before it starts.

``serve(asgi, host, port)`` returns a ``ServerHandle`` with ``.url``,
``.port`` and ``.stop()`` (requests in flight finish first).
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from syndicate.value import valueclass

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger("syndicate.web")


@valueclass(frozen=False, slots=False)
class ServerHandle:
    """A uvicorn server running in a daemon thread."""

    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let requests in flight finish (at most ``timeout`` s), then close."""
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(2.0)
        self.sock.close()
        if self.thread.is_alive():
            log.warning("listener thread did not stop", extra={"url": self.url})

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _bind(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def serve(asgi: Any, host: str = "127.0.0.1", port: int = 0, *, access_log: bool = False,
          startup_timeout: float = 10.0, graceful_timeout: float = 5.0) -> ServerHandle:
    """Run ``asgi`` with uvicorn on ``host:port`` (0: a free port) in a daemon thread.

    The socket is bound before this returns (``.port`` is the real port), so
    a bad address fails here with ``OSError``.  Logs go to the ``uvicorn``
    loggers under the root logger's handlers.
    """
    import uvicorn

    sock = _bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    config = uvicorn.Config(asgi, log_config=None, access_log=access_log, lifespan="off",
                            timeout_graceful_shutdown=math.ceil(graceful_timeout), server_header=False)
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported by serve() if it happens during startup
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"listener-{bound_port}", daemon=True)
    thread.start()
    handle = ServerHandle(server, thread, sock, bound_host, bound_port)
    deadline = time.monotonic() + startup_timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        thread.join(0.01)  # uvicorn has no start callback: poll its flag
    if not server.started:
        handle.stop(1.0)
        reason = f": {failure[0]}" if failure else ""
        raise RuntimeError(f"the listener on {handle.url} did not start{reason}")
    log.info("listening", extra={"url": handle.url})
    return handle
