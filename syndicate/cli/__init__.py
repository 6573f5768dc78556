"""The ``syndicate`` command: a thin layer over the library.

``operate`` holds the operator's commands (``run``, ``check-config``,
``feed``); ``editing`` the editors' (``status``, ``show``, ``preview``,
``repost``, ``retry``, ``release``, ``health``), each parsing and rendering
over one call of ``syndicate.editors``; ``state`` the state database's own
(``migrate``, ``copy-state``).  Library errors become one-line
messages on stderr and a non-zero exit (``common``); heavy modules (SDKs,
the output feeds) are imported only by the commands that need them, so
``syndicate --help`` and ``syndicate status`` start fast.
"""

from __future__ import annotations

import click

from syndicate.cli import editing, operate, state
from syndicate.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_LOCKED

__all__ = ["EXIT_CONFIG", "EXIT_FAILED", "EXIT_LOCKED", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "-c", "config", metavar="PATH", envvar="SYNDICATE_CONFIG",
              help="Configuration file [default: ./feeds.yaml, or $SYNDICATE_CONFIG].")
@click.option("--log-format", type=click.Choice(["text", "json"]), help="Log line format.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.version_option(package_name="syndicate")
@click.pass_context
def main(ctx: click.Context, config: str | None, log_format: str | None, verbose: bool) -> None:
    """Cross-post new feed articles to Mastodon and Bluesky, exactly once,
    and re-generate a feed with original dates and sources for mirror sites."""
    ctx.obj = {"config": config, "log_format": log_format, "verbose": verbose}


for _command in (operate.run, operate.check_config, operate.feed, editing.status, editing.show,
                 editing.preview, editing.repost, editing.retry, editing.release, editing.health,
                 editing.post_now, editing.delete,
                 state.migrate, state.copy_state):
    main.add_command(_command)
