"""The ``syndicate`` command: a thin layer over the library.

``operate`` holds the operator's commands (``run``, ``check-config``,
``feed``); ``editing`` the editors' (``status``, ``show``, ``preview``,
``repost``, ``retry``, ``release``, ``health``), each parsing and rendering
over one call of ``syndicate.editors``; ``state`` the state database's own
(``migrate``, ``copy-state``).  Each is declared with ``define`` and parsed
by the standard library's argparse.  Library errors become one-line
messages on stderr and a non-zero exit (``common``); heavy modules (SDKs,
the output feeds) are imported only by the commands that need them, so
``syndicate --help`` and ``syndicate status`` start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from syndicate.cli import editing, operate, state
from syndicate.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_LOCKED, Abort, echo
from syndicate.cli.define import Command, Context, Parser, cleandoc, summary

__all__ = ["COMMANDS", "EXIT_CONFIG", "EXIT_FAILED", "EXIT_LOCKED", "main"]

HELP = """Cross-post new feed articles to Mastodon and Bluesky, exactly once,
and re-generate a feed with original dates and sources for mirror sites."""

COMMANDS: dict[str, Command] = {c.name: c for c in sorted(
    (operate.run, operate.check_config, operate.feed, editing.status, editing.show,
     editing.preview, editing.repost, editing.retry, editing.release, editing.health,
     editing.post_now, editing.delete, state.migrate, state.copy_state), key=lambda c: c.name)}


class _Version(argparse.Action):
    """``--version``: ``syndicate, version 0.1.0`` (what click's version_option printed), the
    installed package's version looked up only when asked (importlib.metadata is slow to load)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **keywords: Any) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0,
                         help="Show the version and exit.")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        from importlib.metadata import version

        echo(f"syndicate, version {version('syndicate')}")
        parser.exit()


def _parser(prog: str) -> Parser:
    """The group's options and the command's name; what follows the name is the command's."""
    width = max(len(name) for name in COMMANDS) + 2
    listing = "\n".join(f"  {name:<{width}}{summary(c.help)}" for name, c in COMMANDS.items())
    parser = Parser(prog, description=cleandoc(HELP),
                    epilog=f"commands:\n{listing}\n\n'{prog} COMMAND -h' says what COMMAND does and takes.")
    parser.add_argument("-c", "--config", metavar="PATH", default=os.environ.get("SYNDICATE_CONFIG") or None,
                        help="Configuration file [default: ./feeds.yaml, or $SYNDICATE_CONFIG].")
    parser.add_argument("--log-format", choices=("text", "json"), help="Log line format.")
    parser.add_argument("-v", "--verbose", action="store_true", help="Debug logging.")
    parser.add_argument("--version", action=_Version)
    parser.add_argument("command", metavar="COMMAND", nargs="?", choices=COMMANDS,
                        help="One of the commands below.")
    parser.add_argument("args", metavar="ARGS", nargs=argparse.REMAINDER,
                        help="The command's options and arguments.")
    return parser


def main(argv: Sequence[str] | None = None, prog_name: str = "syndicate") -> None:
    """Run the ``syndicate`` command line (``argv``: the arguments, default ``sys.argv[1:]``).

    Returns when the command is done (exit status 0); a usage error exits 2 with one line on
    stderr, a command's failure with its own status (``EXIT_FAILED``, ``EXIT_CONFIG``,
    ``EXIT_LOCKED``); ^C or the end of input at a question exit 1 (``Aborted!``), and a closed
    stdout (``syndicate status | head``) 1, quietly."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        try:
            _run(args, prog_name)
        except (KeyboardInterrupt, EOFError):
            echo(err=True)
            raise Abort() from None
    except Abort:
        echo("Aborted!", err=True)
        sys.exit(1)
    except BrokenPipeError:
        _quiet_stdout()
        sys.exit(1)


def _run(args: list[str], prog: str) -> None:
    parser = _parser(prog)
    top = parser.parse_args(args)
    if top.command is None:
        if not args:  # a bare `syndicate`: its help, on stderr (as click did)
            parser.print_help(sys.stderr)
            sys.exit(2)
        parser.error("missing COMMAND")
    COMMANDS[top.command].run(Context(top.config, top.log_format, top.verbose), top.args, prog)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush at exit has nowhere to fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # (not a real file: nothing will flush to a pipe)
        pass
