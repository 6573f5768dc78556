"""The operator's commands: ``run`` (the daemon), ``check-config``, ``feed``."""

from __future__ import annotations

import sys

from syndicate.cli.common import EXIT_FAILED, EXIT_LOCKED, echo, errors, fail, load, setup_logs
from syndicate.cli.define import Context, command, flag


@command("run", flag("--once", help="Run one cycle (all feeds, then the outbox) and exit."))
def run(ctx: Context, once: bool) -> None:
    """Run the daemon: poll feeds, post new articles, write the output feed.

    One at a time per state database: a second run (or run --once) while
    one runs says which process holds the state and exits 3.

    Exit status with --once: 0 if every feed was read and every target can
    post, 1 if a feed failed or a target is paused (its credentials refused).
    """
    config = load(ctx)
    setup_logs(ctx, config)
    from syndicate.daemon import Daemon
    from syndicate.errors import StateLocked

    with errors():
        daemon = Daemon(config, config_path=ctx.config)
        if not once:
            daemon.install_signals()
        try:
            code = daemon.run(once=once)
        except StateLocked as exc:
            fail(str(exc), EXIT_LOCKED)
        sys.exit(code)


@command("check-config",
         flag("--dump", help="Print the effective configuration, secrets redacted."),
         flag("--online", help="Also ask each target's server: are the credentials accepted, "
                               "what are its limits."))
def check_config(ctx: Context, dump: bool, online: bool) -> None:
    """Validate the configuration; say where each target's credentials come from.

    With --online, log in to each target (Mastodon verify_credentials and the
    instance's limits, Bluesky getSession): one line per target, exit status 1
    if any refused them or could not be asked.
    """
    config = load(ctx)
    if dump:
        with errors():
            echo(config.dump(), nl=False)
        return
    failed = False
    with errors():
        for name, target in config.targets.items():
            if not target.enabled:
                echo(f"target {name}: disabled")
                continue
            secret = target.secret_ref.resolve()
            if secret is None:
                echo(f"target {name}: no credentials: {target.secret_ref.hint()}")
            elif online:
                from syndicate.app import check_online

                line, ok = check_online(config, name, secret)
                echo(f"target {name}: {line}")
                failed = failed or not ok
            else:
                echo(f"target {name}: credentials from {secret.origin} (not checked: use --online)")
    echo(f"{config.source}: OK, {len(config.feeds)} feed(s), {len(config.targets)} target(s)")
    if failed:
        sys.exit(EXIT_FAILED)


@command("feed", flag("--check", help="Write nothing: check the files in output.dir, one line per file; "
                                     "exit 1 if any is invalid."))
def feed(ctx: Context, check: bool) -> None:
    """Write the re-generated output feed now (RSS, Atom, JSON Feed)."""
    config = load(ctx)
    setup_logs(ctx, config)
    if check:
        from syndicate.feed_out import check_feeds

        reports = check_feeds(config.output.dir)
        for report in reports:
            echo(report.line())
        sys.exit(0 if all(r.valid for r in reports) else 1)
    from syndicate.app import App

    with errors():
        app = App(config, targets={})
        try:
            paths = app.write_output()
        finally:
            app.close()
    for path in paths:
        echo(str(path))
    if not paths:
        echo("output feed: unchanged" if config.output.enabled else "output feed: disabled")
