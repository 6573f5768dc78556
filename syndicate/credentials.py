"""Refused credentials pause a target; a working secret resumes it.

A 401/403 on authentication (``AuthError``: a revoked or expired Mastodon
token, a wrong Bluesky app password) is a problem of the *target*, not of
the post that met it.  The deliverer gives that row back untouched and
calls ``CredentialWatch.pause``, which:

* marks the target paused in the state (``targets`` table: since when, the
  refusal, the variable or file to fix) — its rows stay ``pending``, in
  order, no attempt counted, and new ones queue behind them;
* logs one line, once per pause, naming the target and what to fix;
* schedules a check every ``delivery.auth_recheck`` (5 minutes by default).

``check_due`` (each cycle) re-reads the secret — a ``*_FILE`` may have been
rewritten — builds the adapter afresh and asks the server (``verify``:
``verify_credentials``, ``getSession``).  Accepted: the new adapter takes
over, the target resumes and its queue goes out oldest first.  Refused
again: it stays paused, quietly, until the next check.  A new ``App``
(start, ``run --once``, SIGHUP) checks every paused target at once, and
says so if it is still refused.  ``status``, ``/healthz`` and ``/metrics``
read the pauses from the state.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, TypeAlias

from syndicate.errors import AuthError, ConfigError, DeliveryError

if TYPE_CHECKING:  # the adapters' modules are imported by the App that builds them
    from syndicate.config import TargetConfig
    from syndicate.store import Store
    from syndicate.targets import Target

log = logging.getLogger("syndicate.credentials")

Rebuild: TypeAlias = "Callable[[str], Target | None]"  # target name → an adapter with the secret read afresh


def secret_hint(cfg: TargetConfig, environ: Mapping[str, str] | None = None) -> str:
    """Where the target's secret is read from, to name in a message: the variable to fix."""
    environ = os.environ if environ is None else environ
    ref = cfg.secret_ref
    if environ.get(ref.env):
        return ref.env
    if environ.get(f"{ref.env}_FILE"):
        return f"{ref.env}_FILE (file {environ[f'{ref.env}_FILE']})"
    if ref.file:
        return f"the file {ref.file} ({cfg.secret_file_key}), or set {ref.env}"
    return f"{ref.env} (or {ref.env}_FILE)"


def _every(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


class CredentialWatch:
    """The paused targets of one ``App``: pause on refusal, check on a slow schedule, resume."""

    def __init__(self, store: Store, configs: Mapping[str, TargetConfig],
                 targets: MutableMapping[str, Target], paused: set[str], *,
                 rebuild: Rebuild | None, recheck: float, environ: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.time,
                 on_resume: Callable[[str, Target], None] | None = None) -> None:
        self.store = store
        self.configs = configs
        self.targets = targets  # the adapters in use; a resumed target's fresh one replaces its old
        self.paused = paused  # the deliverer's set: targets not worked
        self.rebuild = rebuild  # None: check the adapter in use (its secret cannot be re-read)
        self.recheck = recheck
        self.environ = environ
        self.clock = clock
        self.on_resume = on_resume
        self._due: dict[str, float] = {}  # paused target → when to check it
        self._first_check: set[str] = set()  # paused before this App: say so if still refused

    def load(self) -> None:
        """Take over the pauses the state holds (checked at once: the secret may be fixed)."""
        self.store.note_targets(self.targets)
        for name in self.store.paused_targets():
            if name not in self.configs:  # the target was removed from the configuration
                self.store.resume_target(name)
            elif name in self.targets:
                self.paused.add(name)
                self._due[name] = self.clock()
                self._first_check.add(name)

    def pause(self, name: str, exc: AuthError) -> None:
        """The deliverer met refused credentials on ``name``: pause it (logged once per pause)."""
        cfg = self.configs.get(name)
        fix = secret_hint(cfg, self.environ) if cfg is not None else "the target's secret"
        reason = exc.reason
        next_check = self.clock() + self.recheck
        self._due[name] = next_check
        if self.store.pause_target(name, reason, fix, next_check):
            log.error("target paused: its credentials were refused; its posts wait, in order",
                      extra={"target": name, "fix": fix, "error": reason,
                             "checked": f"every {_every(self.recheck)} and on SIGHUP"})
        else:
            self.store.schedule_target_check(name, next_check)

    def next_check_at(self) -> float | None:
        return min(self._due.values()) if self._due else None

    def check_due(self) -> list[str]:
        """Check each paused target whose time has come; returns those resumed."""
        now = self.clock()
        resumed = []
        for name in [n for n, at in self._due.items() if at <= now and n in self.paused]:
            if self._check(name):
                resumed.append(name)
        return resumed

    def _check(self, name: str) -> bool:
        first = name in self._first_check
        self._first_check.discard(name)
        fresh: Target | None = None
        try:
            fresh = self.rebuild(name) if self.rebuild is not None else self.targets[name]
            if fresh is None:
                raise AuthError("no credentials any more")
            who = fresh.verify()
        except (DeliveryError, ConfigError) as exc:
            if fresh is not None and fresh is not self.targets.get(name):
                fresh.close()
            refused = isinstance(exc, AuthError)
            next_check = self.clock() + self.recheck
            self._due[name] = next_check
            self.store.schedule_target_check(name, next_check)
            pause = self.store.paused_targets().get(name)
            extra = {"target": name, "error": str(exc), "fix": pause.fix if pause else "",
                     "next_check_in": round(self.recheck)}
            if first:
                log.warning("target still paused: " + ("its credentials are still refused" if refused
                                                       else "its credentials cannot be checked now"),
                            extra=extra)
            else:
                log.debug("target still paused", extra=extra)
            return False
        old = self.targets.get(name)
        if old is not fresh:
            self.targets[name] = fresh
            if old is not None:
                old.close()
        if self.on_resume is not None:
            self.on_resume(name, fresh)
        self.store.resume_target(name)
        self.paused.discard(name)
        self._due.pop(name, None)
        log.info("target resumed: its credentials are accepted; its queue goes out",
                 extra={"target": name, "account": who})
        return True
