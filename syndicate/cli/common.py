"""What every ``syndicate`` command shares: loading the config, logging, one-line failures."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:
    from syndicate.config import Config

EXIT_CONFIG = 2
EXIT_FAILED = 1
EXIT_LOCKED = 3  # another syndicate holds the state database


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"syndicate: {message}", err=True)
    sys.exit(code)


def warn(message: str) -> None:
    click.echo(f"syndicate: {message}", err=True)


def load(ctx: click.Context) -> Config:
    from syndicate.config import load_config
    from syndicate.errors import ConfigError

    try:
        return load_config(ctx.obj["config"])
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"syndicate: {problem}", err=True)
        sys.exit(EXIT_CONFIG)


def setup_logs(ctx: click.Context, config: Config | None = None) -> None:
    from syndicate.logs import setup_logging

    fmt = ctx.obj.get("log_format") or (config.log.format if config else "text")
    level = "DEBUG" if ctx.obj.get("verbose") else (config.log.level if config else "INFO")
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
