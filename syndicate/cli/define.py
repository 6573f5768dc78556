"""How a ``syndicate`` command is declared: its options and arguments, for argparse to parse.

A command is a function taking the group options (a ``Context``) and one keyword argument per
declared parameter::

    @command("check-config", flag("--dump", help="..."), option("--by", dest="requested_by", help="..."))
    def check_config(ctx: Context, dump: bool, requested_by: str | None) -> None:
        '''The help text: first sentence in ``syndicate -h``, all of it in ``syndicate check-config -h``.'''

The declarations are argparse's ``add_argument`` calls, written once; argparse does the
parsing (options and arguments intermixed, as click took them), the help and the usage
errors.  A command's parser is built only when that command runs, so a command's start-up
pays for its own options only.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

# What click showed after an option taking a value, by its type.
METAVARS: dict[Callable[[str], Any], str] = {str: "TEXT", int: "INTEGER", float: "FLOAT"}
WIDTH = 100  # the widest help text, as click's max_content_width was


class Context:
    """The group options, as every command gets them: ``--config``, ``--log-format``, ``-v``."""

    __slots__ = ("config", "log_format", "verbose")

    def __init__(self, config: str | None = None, log_format: str | None = None,
                 verbose: bool = False) -> None:
        self.config = config
        self.log_format = log_format
        self.verbose = verbose


class Param:
    """One ``add_argument`` call: ``flags`` (``"--target", "-t"``, or an argument's name) and its
    keywords; ``multiple`` values come to the command as a tuple (``()`` when none is given)."""

    __slots__ = ("flags", "dest", "keywords", "multiple")

    def __init__(self, flags: tuple[str, ...], dest: str, keywords: dict[str, Any],
                 multiple: bool = False) -> None:
        self.flags = flags
        self.dest = dest
        self.keywords = keywords
        self.multiple = multiple

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        if self.flags:
            parser.add_argument(*self.flags, dest=self.dest, **self.keywords)
        else:
            parser.add_argument(self.dest, **self.keywords)

    def value(self, namespace: argparse.Namespace) -> Any:
        got = getattr(namespace, self.dest)
        return tuple(got or ()) if self.multiple else got


def _dest(flags: tuple[str, ...], dest: str | None) -> str:
    if dest is not None:
        return dest
    long = next(f for f in flags if f.startswith("--"))
    return long[2:].replace("-", "_")


def _short_first(flags: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(flags, key=lambda f: f.startswith("--")))  # -t, --target, as click showed them


def option(*flags: str, dest: str | None = None, help: str, type: Callable[[str], Any] = str,
           default: Any = None, metavar: str | None = None, choices: Sequence[str] | None = None,
           multiple: bool = False) -> Param:
    """An option taking a value (``--text TEXT``); with ``multiple``, repeatable."""
    keywords: dict[str, Any] = {"help": help, "type": type, "default": default,
                                "metavar": metavar or (None if choices else METAVARS[type])}
    if choices is not None:
        keywords["choices"] = choices
    if multiple:
        keywords["action"] = "append"
    return Param(_short_first(flags), _dest(flags, dest), keywords, multiple)


def flag(*flags: str, dest: str | None = None, help: str) -> Param:
    """An option that is on or off (``--force``)."""
    return Param(_short_first(flags), _dest(flags, dest), {"action": "store_true", "help": help})


def argument(dest: str, metavar: str | None = None, nargs: str | None = None) -> Param:
    """A positional argument: one (``REF``), optional (``nargs="?"``) or one or more (``"+"``)."""
    keywords: dict[str, Any] = {"metavar": metavar or dest.upper()}
    if nargs is not None:
        keywords["nargs"] = nargs
    return Param((), dest, keywords, nargs == "+")


def cleandoc(text: str) -> str:
    """A docstring without its indentation (``inspect.cleandoc``, without importing ``inspect``)."""
    first, _, rest = text.strip("\n").partition("\n")
    lines = rest.splitlines()
    indent = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
    return "\n".join([first.strip(), *(line[indent:].rstrip() for line in lines)]).strip()


def summary(text: str, width: int = 80) -> str:
    """The first sentence of a help text, on one line, cut at a word near ``width``."""
    paragraph = " ".join(text.split("\n\n", 1)[0].split())
    sentence = paragraph.split(". ", 1)[0].rstrip(".")
    if len(sentence) <= width:
        return sentence + "."
    return sentence[:width - 3].rsplit(" ", 1)[0] + "..."


def columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` says it ($COLUMNS, the terminal, else
    80), without importing shutil (argparse makes a formatter for every option it adds)."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno() if sys.__stdout__ else -1).columns
    except (ValueError, OSError):
        return 80


def formatter(prog: str) -> argparse.HelpFormatter:
    """argparse's help layout with the docstrings' own line breaks kept, at most ``WIDTH`` wide."""
    width = max(min(columns(), WIDTH) - 2, 50)
    return argparse.RawDescriptionHelpFormatter(prog, width=width, max_help_position=30)


class Parser(argparse.ArgumentParser):
    """argparse's parser, its usage errors one line on stderr (exit status 2, as click's were):
    ``syndicate: status: argument -n/--limit: invalid int value: 'x'; try 'syndicate status -h'``."""

    def __init__(self, prog: str, command: str | None = None, **keywords: Any) -> None:
        super().__init__(prog=prog, formatter_class=formatter, allow_abbrev=False, **keywords)
        self.command = command

    def error(self, message: str) -> NoReturn:
        where = f"{self.command}: " if self.command else ""
        self.exit(2, f"syndicate: {where}{message}; try '{self.prog} -h'\n")


class Command:
    """A declared command: its name, the function that runs it, its parameters and help text."""

    __slots__ = ("name", "func", "params", "help")

    def __init__(self, name: str, func: Callable[..., None], params: tuple[Param, ...]) -> None:
        self.name = name
        self.func = func
        self.params = params
        self.help = cleandoc(func.__doc__ or "")

    def parser(self, prog: str) -> Parser:
        parser = Parser(f"{prog} {self.name}", self.name, description=self.help)
        for param in self.params:
            param.add_to(parser)
        return parser

    def run(self, ctx: Context, args: Sequence[str], prog: str = "syndicate") -> None:
        """Parse ``args`` (what follows the command's name) and call the command."""
        namespace = self.parser(prog).parse_intermixed_args(args)
        self.func(ctx, **{param.dest: param.value(namespace) for param in self.params})


def command(name: str, *params: Param) -> Callable[[Callable[..., None]], Command]:
    """Declare the decorated function as the command ``name`` with these options and arguments."""

    def declare(func: Callable[..., None]) -> Command:
        return Command(name, func, params)

    return declare

