"""The tests' one set of fakes: a clock, a scripted target and config builders.

What talks over the network in a test is real (the loopback servers in
``tests/servers``, the reference PDS); what is faked here is what a test must
control exactly:

- :class:`FakeClock`: manual time.  Pass the clock itself wherever syndicate
  takes ``clock=`` and ``clock.sleep`` wherever it takes ``sleep=``: sleeping
  moves the clock on (and is recorded), so waits and schedules are asserted
  exactly and nothing waits for real.  The loopback Mastodon server takes the
  same clock, so its rate-limit windows and Idempotency-Key expiry move too.
- :class:`ScriptedTarget`: a ``syndicate.targets.base.Target`` in memory that
  answers each ``deliver`` from a script (an error, a :class:`Landed` error,
  a ``Posted``), then succeeds; it records every call.
- :func:`make_config` (a valid ``Config``), :func:`feeds_yaml` (its text) and
  :func:`write_feeds_yaml` (the file, for the subprocess tests), all built
  from one :func:`config_data`: the state database and the output directory
  in the test's ``tmp_path``, everything else from keyword overrides spelled
  as feeds.yaml spells them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from syndicate.config import Config, parse_config
from syndicate.fetch import Fetcher
from syndicate.models import Attempted, PostDraft, Posted, TargetLimits
from syndicate.targets.operations import OpDone, PostRef

__all__ = ["FakeClock", "Landed", "ScriptedTarget", "bluesky", "config_data", "feeds_yaml",
           "make_config", "mastodon", "write_feeds_yaml"]

START = 1_700_000_000.0  # 2023-11-14T22:13:20Z: any fixed moment will do


# --- time ----------------------------------------------------------------------------------------


class FakeClock:
    """Manual time, in seconds since the epoch.

    ``clock()`` (or ``clock.now``) reads it, ``advance(s)`` and ``set(when)`` move it,
    ``sleep(s)`` records ``s`` in ``sleeps`` and moves it on by ``s``; a negative sleep raises
    ``ValueError`` as ``time.sleep`` does.
    """

    def __init__(self, start: float | datetime = START) -> None:
        self.now = start.timestamp() if isinstance(start, datetime) else float(start)
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, when: datetime) -> None:
        self.now = when.timestamp()

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"sleep length must be non-negative, not {seconds}")
        self.sleeps.append(seconds)
        self.now += seconds


# --- a target ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Landed:
    """A script step: the post is made on the "server", then ``error`` is raised (an answer
    lost after the server accepted the request)."""

    error: Exception


class ScriptedTarget:
    """A ``Target`` in memory, answering ``deliver`` from a script, then succeeding.

    Each ``deliver`` takes the script's next step: an exception is raised; a :class:`Landed`
    makes the post and raises its error; a ``Posted`` is made the post and returned.  With the
    script used up, the post is made and ``Posted(key, url)`` returned.  ``posts`` (key → text)
    is what the "server" holds, so ``lookup`` finds exactly what a request of the row made.
    ``calls`` lists the methods asked ("lookup", "deliver", "verify"), ``lookups`` the keys
    looked up and ``drafts`` each delivered ``(key, draft)``, in order; ``budget`` is what
    ``rate_budget`` says.
    """

    def __init__(self, script: Iterable[Exception | Landed | Posted] = (), *, name: str = "t",
                 limits: TargetLimits | None = None) -> None:
        self.name = name
        self.script: list[Exception | Landed | Posted] = list(script)
        self.target_limits = limits or TargetLimits(500, 23)
        self.posts: dict[str, str] = {}
        self.calls: list[str] = []
        self.lookups: list[str] = []
        self.drafts: list[tuple[str, PostDraft]] = []
        self.budget: tuple[int, datetime | None] | None = None
        self.closed = False

    def url_of(self, key: str) -> str:
        return f"https://{self.name}.example/{key}"

    def limits(self) -> TargetLimits:
        return self.target_limits

    def lookup(self, attempted: Attempted) -> Posted | None:
        self.calls.append("lookup")
        self.lookups.append(attempted.key)
        key = attempted.key
        return Posted(key, self.url_of(key)) if key in self.posts else None

    def deliver(self, draft: PostDraft, key: str) -> Posted:
        self.calls.append("deliver")
        self.drafts.append((key, draft))
        step = self.script.pop(0) if self.script else None
        if isinstance(step, Exception):
            raise step
        self.posts.setdefault(key, draft.text)
        if isinstance(step, Landed):
            raise step.error
        return step if isinstance(step, Posted) else Posted(key, self.url_of(key))

    def rate_budget(self) -> tuple[int, datetime | None] | None:
        return self.budget

    def post_ops(self) -> ScriptedOps:
        """Edits and deletes of the posts it holds (``syndicate.operations.ops_for``)."""
        return ScriptedOps(self)

    def verify(self) -> str:
        self.calls.append("verify")
        return f"ok: scripted target {self.name}"

    def close(self) -> None:
        self.closed = True


class ScriptedOps:
    """A ``ScriptedTarget``'s ``PostOps``: an edit rewrites the post's text, a delete removes it
    (``gone`` when it is not there), each listed in the target's ``calls``."""

    def __init__(self, target: ScriptedTarget) -> None:
        self.target = target

    def edit(self, post: PostRef, draft: PostDraft, *, policy: str, key: str, now: float,
             tried: bool) -> OpDone:
        self.target.calls.append("edit")
        if self.target.posts.get(post.remote_id) == draft.text:
            return OpDone("unchanged", "the text is there already")
        self.target.posts[post.remote_id] = draft.text
        return OpDone("edited", f"edited by {policy}")

    def delete(self, post: PostRef) -> OpDone:
        self.target.calls.append("delete")
        if self.target.posts.pop(post.remote_id, None) is None:
            return OpDone("gone", "not there")
        return OpDone("deleted", "deleted")


# --- configuration -------------------------------------------------------------------------------


def mastodon(instance: str, **keys: Any) -> dict[str, Any]:
    """A Mastodon target's keys in feeds.yaml."""
    return {"kind": "mastodon", "instance": instance, **keys}


def bluesky(service: str, handle: str, **keys: Any) -> dict[str, Any]:
    """A Bluesky target's keys in feeds.yaml."""
    return {"kind": "bluesky", "service": service, "handle": handle, **keys}


def config_data(tmp_path: Path | None, feeds: Mapping[str, str | Mapping[str, Any]], *,
                targets: Mapping[str, Mapping[str, Any]] | None = None,
                output: bool | Mapping[str, Any] | None = False, **sections: Any) -> dict[str, Any]:
    """A feeds.yaml as data, its state database at ``tmp_path/state.db``.

    ``feeds``: name → URL, or name → the feed's keys (``url`` and any others), in order.
    ``targets``: name → the target's keys (see :func:`mastodon`, :func:`bluesky`).
    ``output``: False (off), True (on, written to ``tmp_path/public``), its keys (``dir``
    defaults to ``tmp_path/public``), or None (no ``output:`` section: syndicate's defaults).  ``sections``: any other top-level key, as feeds.yaml
    spells it: ``poll_interval="1h"``, ``delivery={"attempts": 2}``, ``state=...``.
    """
    data: dict[str, Any] = {"state": tmp_path / "state.db"} if tmp_path is not None else {}
    data.update(sections)  # ``state=`` (a path or a URL) is needed without a ``tmp_path``
    # settle: 0 unless a test asks for a window (syndicate's default waits 10 minutes)
    data["feeds"] = [{"name": name, "settle": 0, **({"url": feed} if isinstance(feed, str) else feed)}
                     for name, feed in feeds.items()]
    if targets:
        data["targets"] = {name: dict(keys) for name, keys in targets.items()}
    if output is False:
        data["output"] = {"enabled": False}
    elif output is not None:
        assert tmp_path is not None, "an output section needs a tmp_path for its dir"
        data["output"] = {"dir": tmp_path / "public", **({} if output is True else output)}
    plain: dict[str, Any] = _plain(data)
    return plain


def feeds_yaml(tmp_path: Path | None, feeds: Mapping[str, str | Mapping[str, Any]], **keys: Any) -> str:
    """:func:`config_data` as feeds.yaml text."""
    return yaml.safe_dump(config_data(tmp_path, feeds, **keys), sort_keys=False, allow_unicode=True)


def write_feeds_yaml(tmp_path: Path, feeds: Mapping[str, str | Mapping[str, Any]], *,
                     path: Path | None = None, **keys: Any) -> Path:
    """:func:`feeds_yaml` written to ``path`` (default ``tmp_path/feeds.yaml``); the path."""
    path = path or tmp_path / "feeds.yaml"
    path.write_text(feeds_yaml(tmp_path, feeds, **keys), encoding="utf-8")
    return path


def make_config(tmp_path: Path | None, feeds: Mapping[str, str | Mapping[str, Any]], *,
                environ: Mapping[str, str] | None = None, file: str = "feeds.yaml",
                **keys: Any) -> Config:
    """:func:`feeds_yaml` parsed as syndicate parses it (``environ``: none by default)."""
    return parse_config(feeds_yaml(tmp_path, feeds, **keys), file, environ={} if environ is None else environ)


def _plain(value: Any) -> Any:
    """``value`` with paths as strings, so YAML writes it as feeds.yaml would."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


class HeldFetcher(Fetcher):
    """A fetcher whose first feed fetch waits, before it begins, until the test sets ``go``
    (``fetching`` says it is there); ``wait`` bounds a failure, never paces a test."""

    def __init__(self, wait: float = 30.0) -> None:
        super().__init__("syndicate-test")
        self.fetching = threading.Event()
        self.go = threading.Event()
        self.wait = wait

    def fetch_feed(self, *args: Any, **kwargs: Any) -> Any:
        if not self.fetching.is_set():
            self.fetching.set()
            assert self.go.wait(self.wait)
        return super().fetch_feed(*args, **kwargs)
