"""The always-on loop: poll feeds when due, work the outbox, sleep, repeat.

Signals: SIGTERM/SIGINT ask for a stop — the delivery in flight finishes
(a retry wait is cut short and its row released), then the process exits
0.  SIGHUP reloads the configuration file; an invalid new file is refused
with one line and the old configuration keeps running (and so is a new
file that names another state database: that takes a restart).

One daemon per state: ``run`` first takes the state's lock (see
``syndicate.lock``) and holds it until it exits; a second ``run`` on the
same state raises ``StateLocked`` before it does anything.  Holding the
lock, the daemon knows every lease left in ``sending`` is from a process
that is gone, and recovers them all at start.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

from syndicate.app import App
from syndicate.config import Config, load_config
from syndicate.errors import ConfigError, StoreError
from syndicate.lock import StateLock

log = logging.getLogger("syndicate.daemon")

MAX_SLEEP = 60.0
ERROR_PAUSE = 30.0


class Daemon:
    def __init__(self, config: Config, *, config_path: str | None = None,
                 environ: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.time,
                 app_factory: Callable[[Config, threading.Event], App] | None = None) -> None:
        self.config = config
        self.config_path = config_path or config.source
        self.environ = environ
        self.clock = clock
        self.stop = threading.Event()
        self._reload = threading.Event()
        self.wake = threading.Event()  # cuts the sleep between cycles short (stop, reload)
        self._app_factory = app_factory or (lambda cfg, stop: App(cfg, environ=environ, clock=clock,
                                                                   stop=stop))
        self.app: App | None = None
        self.listener: Any = None  # web.ServerHandle when listen.enabled
        self.metrics: Any = None  # metrics.Metrics, one for the life of the process
        self.lock = StateLock(config.state)

    # -- signals --

    def install_signals(self) -> None:
        def on_stop(signum: int, _frame: FrameType | None) -> None:
            log.info("stopping", extra={"signal": signal.Signals(signum).name})
            self.stop.set()
            self.wake.set()

        def on_hup(_signum: int, _frame: FrameType | None) -> None:
            self.request_reload()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, on_hup)

    def request_reload(self) -> None:
        self._reload.set()
        self.wake.set()

    def _do_reload(self) -> None:
        self._reload.clear()
        try:
            new = load_config(self.config_path, self.environ)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload refused, keeping the running configuration",
                          extra={"problem": str(problem)})
            return
        if str(new.state) != str(self.config.state):
            log.error("reload refused, keeping the running configuration",
                      extra={"problem": f"{self.config_path}: state: changing the state database "
                                        f"({self.config.state} -> {new.state}) needs a restart"})
            return
        log.info("configuration reloaded", extra={"file": self.config_path, "feeds": len(new.feeds)})
        if self.app:
            self.app.close()
        self.config = new
        self.app = self._app_factory(new, self.stop)
        self._report_skipped()

    def _report_skipped(self) -> None:
        assert self.app is not None
        for line in self.app.skipped:
            log.warning(line)
        if not self.app.targets:
            log.warning("no target can post: feeds are read and recorded, nothing is sent")

    # -- the loop --

    def _sleep_for(self) -> float:
        assert self.app is not None
        now = self.clock()
        due = self.app.next_due_at()
        wake = due if due is not None else now + MAX_SLEEP
        return max(0.5, min(MAX_SLEEP, wake - now))

    def _start_listener(self) -> None:
        """Health, metrics, the served feeds and the editors' API, if configured."""
        listen = self.config.listen
        if not listen.enabled:
            return
        from syndicate.config import SecretRef
        from syndicate.logs import redact
        from syndicate.metrics import Metrics
        from syndicate.web import create_app, serve

        token = SecretRef(env=listen.api_token_env).resolve(self.environ)
        if token:
            redact(token.reveal())
        else:
            log.warning(f"editors' API and page are off: set {listen.api_token_env} to turn them on")
        self.metrics = Metrics(lambda: self._current_app().store)
        asgi = create_app(self._current_app, api_token=token.reveal() if token else None,
                          metrics=self.metrics, on_queued=self.wake.set)
        self.listener = serve(asgi, listen.host, listen.port)

    def _current_app(self) -> App:
        assert self.app is not None
        return self.app

    def run(self, *, once: bool = False) -> int:
        """Run until stopped (or one cycle with ``once``). Returns an exit code.

        Raises ``StateLocked`` at once, before anything else, when another
        process holds the state.
        """
        self.lock.acquire()
        try:
            return self._run(once)
        finally:
            self.lock.release()

    def _run(self, once: bool) -> int:
        self.app = self._app_factory(self.config, self.stop)
        self._report_skipped()
        self.app.deliverer.recover_leases()  # we hold the lock: every other lease is a dead one
        if not once:
            self._start_listener()
        log.info("started", extra={"feeds": len(self.config.feeds), "targets": ",".join(self.app.targets)
                                   or "none", "state": str(self.config.state), "pid": os.getpid()})
        try:
            while not self.stop.is_set():
                self.wake.clear()  # a stop or reload asked during the cycle below still wakes the sleep
                if self._reload.is_set():
                    self._do_reload()
                try:
                    result = self.app.run_cycle(all_feeds=once)
                except StoreError as exc:
                    log.error("state database failed", extra={"error": str(exc)})
                    if once:
                        return 1
                    self.stop.wait(ERROR_PAUSE)
                    continue
                except Exception:
                    log.exception("cycle crashed; trying again shortly")
                    if once:
                        return 1
                    self.stop.wait(ERROR_PAUSE)
                    continue
                if self.metrics is not None:
                    self.metrics.observe_cycle(result)
                log.debug("cycle done", extra={"feeds": len(result.feeds),
                                               "deliveries": len(result.deliveries)})
                if once:
                    return 1 if any(r.status == "error" for r in result.feeds) or result.paused else 0
                if not self.stop.is_set():
                    self.wake.wait(self._sleep_for())
            return 0
        finally:
            if self.listener is not None:
                self.listener.stop()
            log.info("stopped")
            self.app.close()
