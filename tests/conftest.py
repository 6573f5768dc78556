"""Shared fixtures: loopback servers, the PDS, the daemon as a subprocess, RSS builders (the
fakes are in tests/fakes.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import postgres_databases, postgres_server, postgres_url, state_db  # noqa: F401
from tests.servers.feeds import FeedServer
from tests.servers.pds import PdsHandle, require_pds, start_pds

DATA = Path(__file__).parent / "data"


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@pytest.fixture
def acr_rss() -> bytes:
    return (DATA / "feeds" / "acr.rss").read_bytes()


@pytest.fixture(scope="session")
def pds() -> Iterator[PdsHandle]:
    """One real Bluesky PDS (and PLC directory) on loopback for the whole session."""
    require_pds()
    handle = start_pds()
    yield handle
    handle.stop()


# --- the real daemon as a subprocess (tests that break things on purpose) ----------------------


class DaemonProcess:
    """``python -m syndicate --config CONFIG ARGS...`` as a child process.

    stdout and stderr are read by threads into ``lines`` (``output`` is everything the
    process printed, in arrival order per stream; ``stdout_lines``/``stderr_lines`` each
    stream), so a test can wait for a log line (bounded) instead of sleeping; ``on_line``
    is called with each line as it arrives.
    """

    def __init__(self, config: Path, *args: str, env: dict[str, str] | None = None,
                 log_format: str | None = None, verbose: bool = False, on_line=None) -> None:
        import os
        import subprocess
        import sys
        import threading

        full_env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
        full_env.update(env or {})
        full_env["PYTHONUNBUFFERED"] = "1"
        cmd = [sys.executable, "-m", "syndicate", "--config", str(config)]
        if log_format:
            cmd += ["--log-format", log_format]
        if verbose:
            cmd.append("-v")
        cmd += list(args or ("run",))
        self.args = cmd
        self.lines: list[str] = []
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._cond = threading.Condition()
        self.on_line = on_line  # called with each line as it is read (from a reader thread)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=full_env,
                                     cwd=str(Path(config).parent))
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout_lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr_lines), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, into: list[str]) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                into.append(line)
                self.lines.append(line)
                self._cond.notify_all()
            if self.on_line is not None:
                self.on_line(line)
        with self._cond:
            self._cond.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for_line(self, match, timeout: float = 20.0, start: int = 0) -> str | None:
        """The first line from index ``start`` on for which ``match`` (a substring or a
        predicate) holds, waiting up to ``timeout`` s; None if the process ended or time ran out."""
        import time

        test = (lambda line: match in line) if isinstance(match, str) else match
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = start
            while True:
                for line in self.lines[seen:]:
                    if test(line):
                        return line
                seen = max(seen, len(self.lines))
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not any(r.is_alive() for r in self._readers)):
                    return None
                self._cond.wait(min(left, 0.2))

    def count_lines(self, match: str) -> int:
        with self._cond:
            return sum(match in line for line in self.lines)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def kill(self) -> int:
        """SIGKILL and reap (a zombie would still look alive to the next daemon's lease check)."""
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        return self.wait(10)

    def wait(self, timeout: float) -> int:
        """The exit code, waiting up to ``timeout`` s (raises subprocess.TimeoutExpired)."""
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return code


@pytest.fixture
def spawn_daemon() -> Iterator:
    """A factory for :class:`DaemonProcess`; whatever is still running at the end is killed."""
    started: list[DaemonProcess] = []

    def spawn(config: Path, *args: str, **kwargs) -> DaemonProcess:
        proc = DaemonProcess(config, *args, **kwargs)
        started.append(proc)
        return proc

    yield spawn
    for proc in started:
        proc.kill()


def _rss_of(items: list[dict], *, title: str = "Loopback Review", link: str = "https://review.example/") -> bytes:
    """An RSS 2.0 document; each item: title, link, published (aware datetime), and optionally
    summary (HTML), categories, author."""
    from email.utils import format_datetime
    from xml.sax.saxutils import escape

    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">', "<channel>",
           f"<title>{escape(title)}</title>", f"<link>{escape(link)}</link>",
           "<description>Articles for the tests</description>", "<language>en</language>"]
    for item in items:
        out += ["<item>", f"<title>{escape(item['title'])}</title>", f"<link>{escape(item['link'])}</link>",
                f'<guid isPermaLink="true">{escape(item["link"])}</guid>',
                f"<pubDate>{format_datetime(item['published'])}</pubDate>"]
        if item.get("author"):
            out.append(f"<dc:creator>{escape(item['author'])}</dc:creator>")
        for category in item.get("categories", ()):
            out.append(f"<category>{escape(category)}</category>")
        if item.get("summary"):
            out.append(f"<description>{escape(item['summary'])}</description>")
        out.append("</item>")
    out += ["</channel>", "</rss>"]
    return "\n".join(out).encode("utf-8")


@pytest.fixture
def rss_of():
    """``rss_of(items)``: an RSS 2.0 document of the items ``make_articles`` makes."""
    return _rss_of


@pytest.fixture
def make_articles():
    """``make_articles(n, base=URL, start=datetime)``: n realistic RSS items, oldest first,
    an hour apart, with unique links under ``base``."""
    from datetime import UTC, datetime, timedelta

    topics = ["strike", "rent", "climate", "union", "election", "housing", "health", "transport"]

    def make(n: int, base: str = "https://review.example/2025", start=None) -> list[dict]:
        start = start or datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
        items = []
        for i in range(n):
            topic = topics[i % len(topics)]
            when = start + timedelta(hours=i)
            items.append({
                "title": f"Why the {topic} fight matters, part {i + 1}",
                "link": f"{base}/{when:%m/%d}/{topic}-fight-part-{i + 1}/",
                "published": when,
                "author": f"Writer {i % 7}",
                "categories": [topic.title(), "Britain"],
                "summary": f"<p>Part {i + 1} of our series on the {topic} fight: what is at stake, "
                           f"who is organising and what comes next.</p>",
            })
        return items

    return make
