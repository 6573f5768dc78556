"""The always-on loop: poll feeds when due, work the outbox, sleep, repeat.

Signals: SIGTERM/SIGINT ask for a stop — the delivery in flight finishes
(a retry wait is cut short and its row released), then the process exits
0.  SIGHUP reloads the configuration file (and the editors' token); an
invalid new file is refused with one line and the old configuration keeps
running (and so is a new file that names another state database: that
takes a restart).  A reload builds a new ``App`` first and swaps it in:
listener requests and cycles hold the App they started with
(``app_holder``), and the old one is closed only when the last of them is
done.

One daemon per SQLite state: ``run`` first takes the state's lock (see
``syndicate.lock``) and holds it until it exits; a second ``run`` on the
same state raises ``StateLocked`` before it does anything.  Holding the
lock, the daemon knows every lease left in ``sending`` is from a process
that is gone, and recovers them all at start.

Any number of daemons share a PostgreSQL state (``state: postgresql://…``),
on any number of machines: there is no lock, and no daemon can know at
start that a lease is dead, so none is ended early — a dead worker's rows
come back when their leases run out, and renewals keep the live ones.
Every daemon records itself in the state's ``workers`` table as it starts
(its lease owner, host, pid), says it is alive every ``HEARTBEAT`` seconds
from a thread of its own, and that it stopped as it exits.  An idle daemon
wakes at once when another process queues rows or retries, or leaves rows
due that it was working (a stop): it ``LISTEN``s for them
(``store.wakeups``) and sets the same ``wake`` a stop or a reload sets; the
sleep between cycles stays the fallback.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from syndicate.app import App
from syndicate.app_holder import AppHolder
from syndicate.config import Config, load_config
from syndicate.delivery import default_owner
from syndicate.errors import ConfigError, StoreError
from syndicate.lock import StateLock
from syndicate.store.location import redacted

if TYPE_CHECKING:
    from types import FrameType

    from syndicate.store.wakeups import WorkListener

log = logging.getLogger("syndicate.daemon")

MAX_SLEEP = 60.0
ERROR_PAUSE = 30.0
HEARTBEAT = 30.0  # seconds between a worker's "still alive" (workers.last_seen_at)


def shown(state: object) -> str:
    """A state as a log line may show it: a path, or a URL without its password."""
    return redacted(state) if isinstance(state, str) else str(state)


def _noted(_signum: int, _frame: FrameType | None) -> None:
    """The Python-level handler of the daemon's signals: nothing (see ``Daemon.install_signals``)."""


class Daemon:
    def __init__(self, config: Config, *, config_path: str | None = None,
                 environ: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.time,
                 app_factory: Callable[[Config, threading.Event], App] | None = None,
                 heartbeat: float = HEARTBEAT) -> None:
        self.config = config
        self.config_path = config_path or config.source
        self.environ = environ
        self.clock = clock
        self.stop = threading.Event()
        self.owner = default_owner()  # the lease owner of every App it runs: its row in ``workers``
        self.heartbeat = heartbeat  # seconds between its "still alive"s
        self._reload = threading.Event()
        self.wake = threading.Event()  # cuts the sleep between cycles short (stop, reload)
        self._app_factory = app_factory or (lambda cfg, stop: App(cfg, environ=environ, clock=clock,
                                                                   stop=stop, owner=self.owner))
        self._apps: AppHolder[App] | None = None  # the current App, swapped on reload
        self.listener: Any = None  # web.ServerHandle when listen.enabled
        self.editors: Any = None  # its web.auth.EditorAuth: a reload hands it the token again
        self.metrics: Any = None  # metrics.Metrics, one for the life of the process
        self.work_listener: WorkListener | None = None  # PostgreSQL: LISTEN for other workers' news
        self.lock = StateLock(config.state)

    @property
    def app(self) -> App | None:
        """The current App (None before ``run``)."""
        return self._apps.current if self._apps is not None else None

    @app.setter
    def app(self, app: App) -> None:
        """Make ``app`` current; the previous one is closed once its last user is done."""
        if self._apps is None:
            self._apps = AppHolder(app)
        else:
            self._apps.replace(app)

    def _use_app(self) -> AbstractContextManager[App]:
        """Hold the current App for a while (a reload meanwhile closes it only afterwards)."""
        assert self._apps is not None
        return self._apps.use()

    # -- signals --

    def install_signals(self) -> None:
        """Stop on SIGTERM and SIGINT, reload on SIGHUP, whichever thread the signal reaches.

        The kernel hands a process's signal to any thread that does not block it; Python runs
        its handler in the main thread, but only once that thread runs again, and a main thread
        asleep between cycles (``wake.wait``) is not woken when another thread took the signal:
        the stop came an hour late.  A handler that set the events itself could also deadlock
        with the main thread holding one's lock.  So the handlers do nothing: the C-level
        handler writes each signal's number to a pipe (``signal.set_wakeup_fd``), whatever the
        thread, and a thread of its own reads the pipe and sets ``stop`` / ``wake`` or asks for
        the reload."""
        import signal  # (only the always-on daemon handles signals: not ``run --once``)

        read, write = os.pipe()
        os.set_blocking(write, False)
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        for signum in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)):
            if signum is not None:
                signal.signal(signum, _noted)  # a Python handler must be installed for the pipe to get it
        threading.Thread(target=self._relay_signals, args=(read,), name="signals", daemon=True).start()

    def _relay_signals(self, fd: int) -> None:
        """Act on the signals written to ``fd`` (``install_signals``) until it is closed."""
        import signal

        while data := os.read(fd, 64):
            for signum in data:
                if signum in (signal.SIGTERM, signal.SIGINT):
                    log.info("stopping", extra={"signal": signal.Signals(signum).name})
                    self.stop.set()
                    self.wake.set()
                elif signum == getattr(signal, "SIGHUP", None):
                    self.request_reload()

    def request_reload(self) -> None:
        self._reload.set()
        self.wake.set()

    def _do_reload(self) -> None:
        """Read the file (and the token) again, build the new App, then swap it in.

        Nothing is closed before the new App stands: a file or a state that
        cannot be loaded leaves the running configuration as it was.
        """
        self._reload.clear()
        refused = "reload refused, keeping the running configuration"
        try:
            new = load_config(self.config_path, self.environ)
            token = self._api_token(new) if self.editors is not None else None
        except ConfigError as exc:
            for problem in exc.problems:
                log.error(refused, extra={"problem": str(problem)})
            return
        if str(new.state) != str(self.config.state):  # the lock is this state's: a restart takes it
            log.error(refused, extra={"problem": f"{self.config_path}: state: changing the state database "
                                                 f"({shown(self.config.state)} -> {shown(new.state)}) "
                                                 "needs a restart"})
            return
        try:
            app = self._app_factory(new, self.stop)
        except StoreError as exc:
            log.error(refused, extra={"problem": str(exc)})
            return
        except Exception:
            log.exception(refused)
            return
        self.config = new
        self.app = app  # requests and cycles in flight finish on the old App, then it is closed
        if self.editors is not None:
            self.editors.ttl = new.listen.session_ttl
            self.editors.set_token(token)  # a rotated token revokes every session
        log.info("configuration reloaded", extra={"file": self.config_path, "feeds": len(new.feeds)})
        self._report_targets()

    def _report_targets(self) -> None:
        """Log the targets it cannot post to, and record in the state which it can: editors'
        reposts from other processes (the CLI) queue only for those (``syndicate.editors``)."""
        assert self.app is not None
        can_post: dict[str, str | None] = {name: None for name in self.app.targets}
        try:
            self.app.store.record_daemon_targets(can_post | dict(self.app.no_credentials))
        except StoreError as exc:  # the cycle will say so too; reposts then fall back to their own view
            log.error("state database failed", extra={"error": str(exc)})
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
        from syndicate.metrics import Metrics
        from syndicate.web import create_app, serve

        token = self._api_token(self.config)
        if not token:
            log.warning(f"editors' API and page are off: set {listen.api_token_env} to turn them on")
        assert self._apps is not None
        self.metrics = Metrics()  # bound by create_app to the store of each scrape's own App
        asgi = create_app(self._apps, api_token=token, metrics=self.metrics,
                          on_queued=self.wake.set, session_ttl=listen.session_ttl)
        self.editors = asgi.state.editors
        self.listener = serve(asgi, listen.host, listen.port)

    def _api_token(self, config: Config) -> str | None:
        """The editors' token from the environment (or its file), registered for redaction."""
        from syndicate.config import SecretRef
        from syndicate.logs import redact

        token = SecretRef(env=config.listen.api_token_env).resolve(self.environ)
        if token is None:
            return None
        redact(token.reveal())
        return token.reveal()

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
        self.app = app = self._app_factory(self.config, self.stop)
        self._report_targets()
        if self.lock.held:  # we hold the lock: every other lease is a dead one
            app.deliverer.recover_leases()
            app.store.end_feed_leases(but=self.owner)
        app.store.worker_started(self.owner, host=socket.gethostname(), pid=os.getpid())
        if not once:
            from syndicate.store.wakeups import listen_for_work

            self._start_listener()
            # another worker's new rows, retries and queues left due wake this one at once
            self.work_listener = listen_for_work(app.store.backend, self.wake.set)
        log.info("started", extra={"feeds": len(self.config.feeds), "targets": ",".join(app.targets)
                                   or "none", "state": app.store.where, "pid": os.getpid(),
                                   "worker": self.owner})
        beating = threading.Event()  # set: the heartbeat ends
        heart = threading.Thread(target=self._heartbeat, args=(beating,), name="heartbeat", daemon=True)
        heart.start()
        try:
            while not self.stop.is_set():
                self.wake.clear()  # a stop or reload asked during the cycle below still wakes the sleep
                if self._reload.is_set():
                    self._do_reload()
                try:
                    with self._use_app() as app:
                        result = app.run_cycle(all_feeds=once)
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
            beating.set()
            heart.join()
            if self.work_listener is not None:
                self.work_listener.close()
            if self.listener is not None:
                self.listener.stop()
            self._say_stopped()
            log.info("stopped")
            if self.app is not None:  # the current one; replaced ones closed with their last user
                self.app.close()

    # -- the workers' table --

    def _heartbeat(self, done: threading.Event) -> None:
        """Say this worker is alive every ``heartbeat`` seconds until ``done``."""
        while not done.wait(self.heartbeat):
            try:
                with self._use_app() as app:
                    if not app.store.worker_seen(self.owner):  # forgotten by another worker: again
                        app.store.worker_started(self.owner, host=socket.gethostname(), pid=os.getpid())
            except StoreError as exc:
                log.error("state database failed", extra={"error": str(exc)})

    def _say_stopped(self) -> None:
        if self.app is None:
            return
        try:
            self.app.store.worker_stopped(self.owner)
        except StoreError as exc:
            log.error("state database failed", extra={"error": str(exc)})
