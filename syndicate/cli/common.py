"""What every ``syndicate`` command shares: loading the config, logging, one-line failures,
and the terminal's side (what click did for the commands: ``echo``, ``confirm``, ``progress``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NoReturn, TypeVar

if TYPE_CHECKING:
    from syndicate.cli.define import Context
    from syndicate.config import Config

T = TypeVar("T")

EXIT_CONFIG = 2
EXIT_FAILED = 1
EXIT_LOCKED = 3  # another syndicate holds the state database


class Abort(Exception):
    """The user said no more (end of input or ^C at a question): ``Aborted!``, exit status 1."""


def echo(message: str = "", *, err: bool = False, nl: bool = True) -> None:
    """A line on stdout (or stderr), flushed at once, as ``click.echo`` wrote it."""
    stream = sys.stderr if err else sys.stdout
    stream.write(message + "\n" if nl else message)
    stream.flush()


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    echo(f"syndicate: {message}", err=True)
    sys.exit(code)


def warn(message: str) -> None:
    echo(f"syndicate: {message}", err=True)


def confirm(question: str) -> bool:
    """Ask on stdout, ``Delete these posts? [y/N]: ``: y or yes, n or no; nothing is no; anything
    else asks again (click.confirm with default=False).  End of input or ^C raise ``Abort``."""
    while True:
        try:
            answer = input(f"{question} [y/N]: ").strip().lower()
        except (EOFError, KeyboardInterrupt):
            raise Abort() from None
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no", ""):
            return False
        echo("Error: invalid input")


BAR = 36


def progress(items: Sequence[T], label: str) -> Iterator[T]:
    """The items, with what click.progressbar showed on stderr for two or more: on a terminal a bar
    (``queueing  [#########---------]   50%``) redrawn after each item, else the label once."""
    if len(items) < 2:
        yield from items
        return
    if not sys.stderr.isatty():
        echo(label, err=True)
        yield from items
        return

    def draw(done: int) -> None:
        filled = BAR * done // len(items)
        bar = "#" * filled + "-" * (BAR - filled)
        echo(f"\r{label}  [{bar}]  {100 * done // len(items):4}%", err=True, nl=False)

    draw(0)
    try:
        for done, item in enumerate(items, 1):
            yield item
            draw(done)
    finally:
        echo(err=True)


def load(ctx: Context) -> Config:
    from syndicate.config import load_config
    from syndicate.errors import ConfigError

    try:
        return load_config(ctx.config)
    except ConfigError as exc:
        for problem in exc.problems:
            echo(f"syndicate: {problem}", err=True)
        sys.exit(EXIT_CONFIG)


def setup_logs(ctx: Context, config: Config | None = None) -> None:
    from syndicate.logs import setup_logging

    fmt = ctx.log_format or (config.log.format if config else "text")
    level = "DEBUG" if ctx.verbose else (config.log.level if config else "INFO")
    setup_logging(fmt, level)


@contextmanager
def errors() -> Iterator[None]:
    """A library error is one line on stderr and exit status 1 (what it could not read first)."""
    from syndicate.errors import SyndicateError

    try:
        yield
    except SyndicateError as exc:
        from syndicate.editors import NotFound  # (not before: ``run`` never loads the editors' service)

        for problem in exc.problems if isinstance(exc, NotFound) else ():
            warn(problem)
        fail(str(exc))


def when(ts: float | None) -> str:
    """``2025-01-01 12:00`` (UTC), ``-`` for never."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")
