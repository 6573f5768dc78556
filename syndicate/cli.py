"""The ``syndicate`` command: a thin layer over the library.

Library errors become one-line messages on stderr and a non-zero exit;
heavy modules (SDKs, the output feeds) are imported only by the commands that need
them, so ``syndicate --help`` and ``syndicate status`` start fast.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from syndicate.config import Config
    from syndicate.store import Store

EXIT_CONFIG = 2
EXIT_FAILED = 1
EXIT_LOCKED = 3  # another syndicate holds the state database


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"syndicate: {message}", err=True)
    sys.exit(code)


def _load(ctx: click.Context) -> Config:
    from syndicate.config import load_config
    from syndicate.errors import ConfigError

    try:
        return load_config(ctx.obj["config"])
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"syndicate: {problem}", err=True)
        sys.exit(EXIT_CONFIG)


def _setup_logs(ctx: click.Context, config: Config | None = None) -> None:
    from syndicate.logs import setup_logging

    fmt = ctx.obj.get("log_format") or (config.log.format if config else "text")
    level = "DEBUG" if ctx.obj.get("verbose") else (config.log.level if config else "INFO")
    setup_logging(fmt, level)


@contextmanager
def _errors() -> Iterator[None]:
    from syndicate.errors import SyndicateError

    try:
        yield
    except SyndicateError as exc:
        _fail(str(exc))


def _open_store(config: Config) -> Store:
    from syndicate.store import Store

    return Store(config.state)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


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


@main.command()
@click.option("--once", is_flag=True, help="Run one cycle (all feeds, then the outbox) and exit.")
@click.pass_context
def run(ctx: click.Context, once: bool) -> None:
    """Run the daemon: poll feeds, post new articles, write the output feed.

    One at a time per state database: a second run (or run --once) while
    one runs says which process holds the state and exits 3.

    Exit status with --once: 0 if every feed was read and every target can
    post, 1 if a feed failed or a target is paused (its credentials refused).
    """
    config = _load(ctx)
    _setup_logs(ctx, config)
    from syndicate.daemon import Daemon
    from syndicate.errors import StateLocked

    with _errors():
        daemon = Daemon(config, config_path=ctx.obj["config"])
        if not once:
            daemon.install_signals()
        try:
            code = daemon.run(once=once)
        except StateLocked as exc:
            _fail(str(exc), EXIT_LOCKED)
        sys.exit(code)


@main.command("check-config")
@click.option("--dump", is_flag=True, help="Print the effective configuration, secrets redacted.")
@click.option("--online", is_flag=True,
              help="Also ask each target's server: are the credentials accepted, what are its limits.")
@click.pass_context
def check_config(ctx: click.Context, dump: bool, online: bool) -> None:
    """Validate the configuration; say where each target's credentials come from.

    With --online, log in to each target (Mastodon verify_credentials and the
    instance's limits, Bluesky getSession): one line per target, exit status 1
    if any refused them or could not be asked.
    """
    config = _load(ctx)
    if dump:
        with _errors():
            click.echo(config.dump(), nl=False)
        return
    failed = False
    with _errors():
        for name, target in config.targets.items():
            if not target.enabled:
                click.echo(f"target {name}: disabled")
                continue
            secret = target.secret_ref.resolve()
            if secret is None:
                click.echo(f"target {name}: no credentials: {target.secret_ref.hint()}")
            elif online:
                from syndicate.app import check_online

                line, ok = check_online(config, name, secret)
                click.echo(f"target {name}: {line}")
                failed = failed or not ok
            else:
                click.echo(f"target {name}: credentials from {secret.origin} (not checked: use --online)")
    click.echo(f"{config.source}: OK, {len(config.feeds)} feed(s), {len(config.targets)} target(s)")
    if failed:
        sys.exit(EXIT_FAILED)


@main.command()
@click.option("--check", is_flag=True,
              help="Write nothing: check the files in output.dir, one line per file; "
                   "exit 1 if any is invalid.")
@click.pass_context
def feed(ctx: click.Context, check: bool) -> None:
    """Write the re-generated output feed now (RSS, Atom, JSON Feed)."""
    config = _load(ctx)
    _setup_logs(ctx, config)
    if check:
        from syndicate.feed_out import check_feeds

        reports = check_feeds(config.output.dir)
        for report in reports:
            click.echo(report.line())
        ctx.exit(0 if all(r.valid for r in reports) else 1)
    from syndicate.app import App

    with _errors():
        app = App(config, targets={})
        try:
            paths = app.write_output()
        finally:
            app.close()
    for path in paths:
        click.echo(str(path))
    if not paths:
        click.echo("output feed: unchanged" if config.output.enabled else "output feed: disabled")


def _status_rows(store: Store, limit: int) -> list[dict[str, Any]]:
    rows = []
    for art in store.recent(limit):
        rows.append({
            "id": art.id, "feed": art.feed, "title": art.title, "link": art.link,
            "published": datetime.fromtimestamp(art.published, UTC).isoformat(),
            "first_seen": datetime.fromtimestamp(art.first_seen_at, UTC).isoformat(),
            "deliveries": [
                {"target": d.target, "seq": d.seq, "state": d.state, "attempts": d.attempts,
                 "url": d.remote_url, "sent_at": _when(d.sent_at) if d.sent_at else None,
                 "next_attempt": _when(d.next_attempt_at) if d.state == "pending" else None,
                 "error": d.last_error, "requested_by": d.requested_by,
                 "history": [{"at": _when(e.at), "kind": e.kind, "detail": e.detail} for e in d.history]}
                for d in art.deliveries
            ],
        })
    return rows


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--limit", "-n", default=20, show_default=True, help="How many recent articles.")
@click.pass_context
def status(ctx: click.Context, as_json: bool, limit: int) -> None:
    """Recent articles and where each was posted (state, post URL, last error)."""
    config = _load(ctx)
    with _errors():
        store = _open_store(config)
        rows = _status_rows(store, limit)
        feeds = store.feed_states()
        held = store.held_feeds()
        pauses = store.paused_targets()
        target_names = sorted(set(config.targets) | set(store.target_names()))
        store.close()
    if as_json:
        click.echo(json.dumps({"articles": rows, "feeds": [
            {"name": f.name, "url": f.url, "last_success": _when(f.last_success_at),
             "errors": f.error_count, "last_error": f.last_error, "held": held.get(f.name, 0)}
            for f in feeds], "targets": [
            {"name": name, "paused": name in pauses,
             "since": _when(pauses[name].since) if name in pauses else None,
             "reason": pauses[name].reason if name in pauses else None,
             "fix": pauses[name].fix if name in pauses else None} for name in target_names]},
            indent=2, ensure_ascii=False))
        return
    for name, pause in pauses.items():
        click.echo(f"target {name}: PAUSED since {_when(pause.since)}, credentials refused: {pause.reason}; "
                   f"fix {pause.fix} (checked again every few minutes and on SIGHUP; its posts wait)")
    for f in feeds:
        state = f"error x{f.error_count}: {f.last_error}" if f.error_count else "ok"
        click.echo(f"feed {f.name}: last read {_when(f.last_success_at)}, {state}")
        if held.get(f.name):
            click.echo(f"    {held[f.name]} deliveries held as a suspected feed migration: "
                       f"`syndicate release {f.name}` posts them, `--discard` drops them")
    if not rows:
        click.echo("no articles recorded yet")
        return
    for row in rows:
        click.echo(f"\n#{row['id']} {row['published'][:10]} {row['title']}")
        click.echo(f"    {row['link']}")
        if not row["deliveries"]:
            click.echo("    (seen only, not queued)")
        for d in row["deliveries"]:
            label = d["target"] + (f" (repost {d['seq']})" if d["seq"] else "")
            line = f"    {label:<12} {d['state']:<8}"
            if d["url"]:
                line += f" {d['url']}"
            if d["state"] == "pending" and d["next_attempt"]:
                line += f" next try {d['next_attempt']}"
            if d["state"] == "held":
                line += f" {d['error']}"
            elif d["error"]:
                line += f"  last error: {d['error']}"
            click.echo(line)
            if d["history"]:
                click.echo("        history: " + _history_line(d["history"]))


def _history_line(events: list[dict[str, Any]], keep: int = 5) -> str:
    """A row's last few steps: ``12:00 attempt · 12:00 postponed · 12:05 found``."""
    shown = [f"{e['at'][11:]} {e['kind']}" for e in events[-keep:]]
    earlier = len(events) - len(shown)
    return (f"({earlier} earlier) " if earlier else "") + " · ".join(shown)


def _find_article(config: Config, store: Store, ref: str) -> Any:
    """An Article by id, guid or URL: from the store, else from the configured feeds."""
    from syndicate.links import canonical_url

    article_id = store.find_article_id(ref)
    if article_id is None and ref.startswith(("http://", "https://")):
        article_id = store.find_article_id(canonical_url(ref))
    if article_id is not None:
        return store.article(article_id)
    article = _article_from_feeds(config, ref)
    if article is None and ref.startswith(("http://", "https://")):
        article = _article_from_page(config, ref)
    return article


def _article_from_page(config: Config, url: str) -> Any:
    """The article's own page, read for its metadata (og:, JSON-LD, canonical link)."""
    from urllib.parse import urlsplit

    from syndicate.errors import FetchError
    from syndicate.fetch import Fetcher
    from syndicate.netguard import AddressPolicy
    from syndicate.page import article_from_page

    host = urlsplit(url).hostname
    feed = next((f.name for f in config.feeds if urlsplit(f.url).hostname == host), "manual")
    fetcher = Fetcher(config.user_agent, content_policy=AddressPolicy.from_config(config.security))
    try:
        body, _type = fetcher.get_bytes(url, max_bytes=5_000_000, timeout=20,
                                        accept="text/html,application/xhtml+xml", label=f"page {url}")
        return article_from_page(url, body, feed=feed, now=datetime.now(UTC))
    except (FetchError, ValueError) as exc:
        click.echo(f"syndicate: {exc}", err=True)
        return None
    finally:
        fetcher.close()


def _article_from_feeds(config: Config, ref: str) -> Any:
    from syndicate.errors import FeedError
    from syndicate.fetch import Fetcher
    from syndicate.links import link_identity
    from syndicate.parse import normalise, parse_feed

    is_url = ref.startswith(("http://", "https://"))
    wanted = link_identity(ref) if is_url else None
    fetcher = Fetcher(config.user_agent)
    try:
        for feed in config.feeds:
            try:
                got = fetcher.fetch_feed(feed.name, feed.url, timeout=feed.timeout, max_bytes=feed.max_bytes)
                parsed = parse_feed(feed.name, got.content or b"", base_url=got.url, headers=got.headers)
            except FeedError as exc:
                click.echo(f"syndicate: {exc}", err=True)
                continue
            for entry in parsed.entries:
                if entry.id == ref or (wanted is not None and link_identity(entry.link) == wanted):
                    return normalise(feed.name, entry, parsed, now=datetime.now(UTC),
                                     language=feed.language)
    finally:
        fetcher.close()
    return None


@main.command()
@click.argument("ref")
@click.option("--target", "-t", "only", multiple=True, help="Only this target (repeatable).")
@click.option("--text", "intro", help="An intro line, as for a manual repost.")
@click.pass_context
def preview(ctx: click.Context, ref: str, only: tuple[str, ...], intro: str | None) -> None:
    """Print exactly what would be posted for REF (article id, guid or URL), and why."""
    config = _load(ctx)
    _setup_logs(ctx, config)
    from syndicate.app import App

    with _errors():
        app = App(config, targets={})
        try:
            article = _find_article(config, app.store, ref)
            if article is None:
                _fail(f"article {ref}: not in the store nor in any configured feed")
            names = list(only) or list(config.targets)
            for name in names:
                if name not in config.targets:
                    _fail(f"target {name}: not in {config.source} (known: {', '.join(config.targets)})")
            click.echo(f"article: {article.title}")
            click.echo(f"link:    {article.link}")
            click.echo(f"date:    {article.published.date().isoformat()} (original publication)")
            if article.source:
                click.echo(f"source:  {article.source.name or '-'} {article.source.url or ''}".rstrip())
            for name in names:
                draft = app.draft_for(article, name, intro)
                limits = app.limits(name)
                click.echo(f"\n--- {name} ({config.targets[name].kind}): "
                           f"{draft.length}/{limits.max_length} {limits.unit}")
                click.echo(draft.text)
                click.echo("---")
                for note in draft.notes:
                    click.echo(f"  why: {note}")
                for facet in draft.facets:
                    span = draft.text.encode()[facet.byte_start:facet.byte_end].decode()
                    click.echo(f"  facet {facet.kind} bytes {facet.byte_start}-{facet.byte_end}: {span}")
                if draft.card:
                    click.echo(f"  card: {draft.card.title} <{draft.card.uri}> thumb={draft.card.thumb_url}")
        finally:
            app.close()


@main.command()
@click.option("--max-age", default=None, type=float,
              help="Seconds since the last cycle before unhealthy [default: 3 poll intervals + 5 min].")
@click.pass_context
def health(ctx: click.Context, max_age: float | None) -> None:
    """Exit 0 if the daemon's last cycle is recent and the store is readable (for HEALTHCHECK)."""
    import time

    config = _load(ctx)
    from syndicate.errors import StoreError

    if str(config.state) != ":memory:" and not config.state.exists():
        _fail(f"unhealthy: no state database at {config.state}")
    try:
        store = _open_store(config)
        last = store.get_meta("last_cycle_at")
        pauses = store.paused_targets()
        store.close()
    except StoreError as exc:
        _fail(f"unhealthy: {exc}")
    if last is None:
        _fail("unhealthy: no cycle has run yet")
    limit = max_age if max_age is not None else 3 * min(
        [config.poll_interval_for(f) for f in config.feeds]) + 300
    age = time.time() - float(last)
    if age > limit:
        _fail(f"unhealthy: last cycle {age:.0f}s ago (limit {limit:.0f}s)")
    if pauses:  # running, but not posting there: healthy for the supervisor, said for the operator
        for pause in pauses.values():
            click.echo(f"degraded: target {pause.target} paused, credentials refused: {pause.reason}; "
                       f"fix {pause.fix}")
    click.echo(f"healthy: last cycle {age:.0f}s ago")


@main.command()
@click.argument("refs", metavar="REF...", nargs=-1, required=True)
@click.option("--target", "-t", "only", multiple=True, help="Only this target (repeatable).")
@click.option("--text", "intro", help="An intro line to put before the post.")
@click.option("--by", "requested_by", default=None, help="Who asks [default: the OS user].")
@click.option("--force", is_flag=True, help="Post again even where it was already posted.")
@click.pass_context
def repost(ctx: click.Context, refs: tuple[str, ...], only: tuple[str, ...], intro: str | None,
           requested_by: str | None, force: bool) -> None:
    """Queue a new post of each REF (article id, guid or URL) now; the daemon sends it.

    An article already posted to a target is not queued again without
    --force; the command says where it was posted.  Exit status 1 if any REF
    could not be queued.
    """
    config = _load(ctx)
    _setup_logs(ctx, config)
    from syndicate.store import Store

    for name in only:
        if name not in config.targets:
            _fail(f"target {name}: not in {config.source} (known: {', '.join(config.targets)})")
    requested_by = requested_by or getpass.getuser()
    problems: list[str] = []
    done_lines: list[str] = []
    no_credentials = config.missing_credentials()  # the daemon cannot post to these either
    with _errors():
        store = Store(config.state)
        try:
            with click.progressbar(refs, label="queueing", file=sys.stderr,
                                   hidden=len(refs) < 2) as bar:
                for ref in bar:
                    done, problem = _repost_one(config, store, ref, only, intro, requested_by, force,
                                                no_credentials)
                    done_lines += done
                    problems += [problem] if problem else []
        finally:
            store.close()
    for line in done_lines:
        click.echo(line)
    for line in problems:
        click.echo(f"syndicate: {line}", err=True)
    if problems:
        sys.exit(EXIT_FAILED)


def _repost_one(config: Config, store: Store, ref: str, only: tuple[str, ...], intro: str | None,
                requested_by: str, force: bool, no_credentials: dict[str, str]
                ) -> tuple[list[str], str | None]:
    """(lines to print, the problem if it could not be queued) for one REF."""
    article_id = _ensure_article(config, store, ref)
    article = store.article(article_id) if article_id is not None else None
    if article_id is None or article is None:
        return [], f"article {ref}: not in the store, nor in any configured feed, nor readable as a page"
    names = list(only) or config.targets_for_feed(article.feed)
    request = store.request_repost(article_id, names, requested_by=requested_by, intro=intro, force=force,
                                   no_credentials=no_credentials)
    if request.refused:
        return [], f"article {ref}: {request.why_refused()}; use --force to post it again"
    skipped = [f"target {name}: not queued, {no_credentials[name]}" for name in request.no_credentials]
    if not request.queued:
        return skipped, f"article {ref}: not queued: no target it goes to can post here"
    return [f"queued article #{article_id} for {', '.join(request.queued)}; the daemon will post it",
            *skipped], None


def _ensure_article(config: Config, store: Store, ref: str) -> int | None:
    """The store id of REF, recording the article first if it came from a feed or its page."""
    from dataclasses import replace

    article = _find_article(config, store, ref)
    if article is None:
        return None
    article_id = store.find_article_id(article.id) or store.find_article_id(article.link)
    if article_id is None:
        store.ingest(article.feed, new=[replace(article, fingerprint="manual")], updated=[], queue={},
                     seeded=False)
        article_id = store.find_article_id(article.id)
    assert article_id is not None
    return article_id


@main.command()
@click.argument("what", metavar="FEED|REF...", nargs=-1, required=True)
@click.option("--discard", is_flag=True, help="Drop the held deliveries instead (articles stay seen).")
@click.pass_context
def release(ctx: click.Context, what: tuple[str, ...], discard: bool) -> None:
    """Queue the deliveries held as a suspected feed migration, of a FEED (by name) or an
    article (REF: id, guid or URL); the daemon sends them, oldest first.

    A poll that would queue more than the feed's hold_suspected_migration entries, none
    newer than the newest already known, is held: `syndicate status` shows it.  Exit status
    1 if a FEED|REF is neither a feed nor a known article.
    """
    config = _load(ctx)
    problems = 0
    with _errors():
        store = _open_store(config)
        try:
            feeds = {f.name for f in config.feeds} | set(store.held_feeds())
            for name in what:
                feed_name, article_id = (name, None) if name in feeds else (None, store.find_article_id(name))
                if feed_name is None and article_id is None:
                    click.echo(f"syndicate: {name}: neither a feed in {config.source} nor an "
                               "article in the store", err=True)
                    problems += 1
                    continue
                label = f"feed {name}" if feed_name else f"article #{article_id}"
                if discard:
                    count = store.discard_held(feed=feed_name, article_id=article_id)
                    click.echo(f"discarded {count} held deliver{'y' if count == 1 else 'ies'} of {label}")
                else:
                    count = store.release_held(feed=feed_name, article_id=article_id)
                    click.echo(f"released {count} held deliver{'y' if count == 1 else 'ies'} of {label}"
                               + ("; the daemon will post them" if count else ""))
        finally:
            store.close()
    if problems:
        sys.exit(EXIT_FAILED)


@main.command()
@click.argument("ref", required=False)
@click.option("--target", "-t", default=None, help="Only this target.")
@click.pass_context
def retry(ctx: click.Context, ref: str | None, target: str | None) -> None:
    """Re-queue failed deliveries (of REF, or all)."""
    config = _load(ctx)
    with _errors():
        store = _open_store(config)
        try:
            article_id = None
            if ref:
                article_id = store.find_article_id(ref)
                if article_id is None:
                    _fail(f"article {ref}: not in the store")
            count = store.retry_failed(article_id, target)
        finally:
            store.close()
    click.echo(f"re-queued {count} failed deliver{'y' if count == 1 else 'ies'}")
