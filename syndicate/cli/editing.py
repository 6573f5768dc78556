"""The editors' commands: parsing and rendering over ``syndicate.editors``, no rule of their own.

``status``, ``show``, ``preview``, ``repost``, ``retry``, ``release`` and
``health`` each make one ``Editors`` call per REF and print its answer as
text, or with ``--json`` as the JSON the API gives for the same request
(``syndicate.editors.as_json``).  Each opens the store alone (``preview`` and ``show`` compose
too, with ``syndicate.drafts``; a fetcher only for an article not stored), so they start fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from syndicate.cli.common import (
    EXIT_FAILED,
    confirm,
    echo,
    errors,
    fail,
    load,
    progress,
    setup_logs,
    warn,
    when,
)
from syndicate.cli.define import Context, argument, command, flag, option

if TYPE_CHECKING:
    from syndicate.config import Config
    from syndicate.editors import Editors, TargetPreview
    from syndicate.editors.values import Fleet
    from syndicate.store import Delivery

FORCE_HINT = "use --force"
json_option = flag("--json", dest="as_json", help="Machine-readable output (as the API's).")
only_option = option("--target", "-t", dest="only", multiple=True, help="Only this target (repeatable).")
by_option = option("--by", dest="requested_by", help="Who asks [default: the OS user].")


@contextmanager
def service(config: Config, *, drafts: bool = False) -> Iterator[Editors]:
    """The editors' service over the configured state; with ``drafts``, composing too (the
    platforms' default limits: no adapter is built).  The service makes a fetcher only for an
    article that is not stored (``Editors.find``)."""
    from syndicate.editors import Editors
    from syndicate.store import Store

    store = Store(config.state)
    if drafts:
        from syndicate.drafts import Drafts

        editors = Editors(config, store, composer=Drafts(config))
    else:
        editors = Editors(config, store)
    try:
        yield editors
    finally:
        editors.close()
        store.close()


def _user() -> str:
    """Who runs the command (the OS user), recorded as the requester; getpass loaded only here."""
    import getpass

    return getpass.getuser()


def _print_json(data: Any) -> None:
    echo(json.dumps(data, indent=2, ensure_ascii=False))


# --- status -----------------------------------------------------------------------------------


def _history_line(d: Delivery, keep: int = 5) -> str:
    """A row's last few steps: ``12:00 attempt · 12:00 postponed · 12:05 found``."""
    shown = [f"{when(e.at)[11:]} {e.kind}" for e in d.history[-keep:]]
    earlier = len(d.history) - len(shown)
    return (f"({earlier} earlier) " if earlier else "") + " · ".join(shown)


def _delivery_line(d: Delivery) -> str:
    label = d.target + (f" ({d.op})" if d.op != "post" else f" (repost {d.seq})" if d.seq else "")
    line = f"    {label:<12} {d.state:<8}"
    if d.remote_url:
        line += f" {d.remote_url}"
    if d.settle_until is not None:
        line += f" waiting to settle until {when(d.settle_until)} (`syndicate post-now` posts it at once)"
    elif d.state == "pending" and d.next_attempt_at is not None:
        line += f" next try {when(d.next_attempt_at)}"
    if d.planned_at is not None:
        line += f" planned {when(d.planned_at)} (pacing: {d.planned_why})"
    if d.state == "held":
        line += f" {d.last_error}"
    elif d.state == "filtered":
        line += f" not posted to {d.target}: {d.last_error}"
    elif d.last_error:
        line += f"  last error: {d.last_error}"
    return line


def _ago(now: float, ts: float) -> str:
    return f"{when(ts)} ({max(0, round(now - ts))}s ago)"


def _fleet_lines(fleet: Fleet) -> list[str]:
    """The workers (stopped ones counted, not listed), each target's shared budget and queue."""
    now = fleet.now
    counts = ", ".join(f"{fleet.count(s)} {s}" for s in ("running", "not seen", "stopped") if fleet.count(s))
    lines = [f"workers: {counts or 'none recorded yet'}"]
    for w in fleet.workers:
        if w.state == "stopped":
            continue
        line = f"    {w.owner} {w.state}, last seen {_ago(now, w.last_seen_at)}, leased {w.leased}"
        if w.expired:
            line += f", leases expired {w.expired} (its rows are due to any worker again)"
        lines.append(line)
    for b in fleet.budgets:
        reset = f" until {when(b.reset_at)}" if b.reset_at is not None else ""
        spent = "spent: no worker sends to it" + reset if b.spent else f"{b.remaining} requests left{reset}"
        lines.append(f"budget {b.target}: {spent} (as its server said {_ago(now, b.updated_at)})")
    for q in fleet.queues:
        rows = ", ".join(f"{n} {state}" for state, n in q.states)
        line = f"queue {q.target}: {rows}"
        if q.leased_by:
            line += f"; in flight on {q.leased_by}" + (" (its lease ran out)" if q.lease_expired else "")
        lines.append(line)
    return lines


@command("status", json_option,
         option("--limit", "-n", type=int, default=20, help="How many recent articles.  [default: 20]"))
def status(ctx: Context, as_json: bool, limit: int) -> None:
    """Recent articles and where each was posted (state, post URL, last error); the workers on
    the state (last seen, rows leased), each target's shared rate budget and queue."""
    from syndicate.editors import as_json as to_json

    config = load(ctx)
    with errors(), service(config) as editors:
        report = editors.status(limit)
    if as_json:
        _print_json(to_json.status(report))
        return
    for pause in report.pauses:
        echo(f"target {pause.target}: PAUSED since {when(pause.since)}, credentials refused: "
             f"{pause.reason}; fix {pause.fix} (checked again every few minutes and on SIGHUP; "
             "its posts wait)")
    for f in report.feeds:
        state = f"error x{f.error_count}: {f.last_error}" if f.error_count else "ok"
        echo(f"feed {f.name}: last read {when(f.last_success_at)}, {state}")
        if f.held:
            echo(f"    {f.held} deliveries held as a suspected feed migration: "
                 f"`syndicate release {f.name}` posts them, `--discard` drops them")
    if report.fleet is not None:
        echo("\n".join(_fleet_lines(report.fleet)))
    if not report.articles:
        echo("no articles recorded yet")
        return
    for a in report.articles:
        echo(f"\n#{a.id} {to_json.iso(a.published)[:10]} {a.title}")
        echo(f"    {a.link}")
        for note in a.notes:
            echo(f"    {note}")
        if not a.deliveries:
            echo("    (seen only, not queued)")
        for d in a.deliveries:
            echo(_delivery_line(d))
            if d.history:
                echo("        history: " + _history_line(d))


# --- one article: show, preview ---------------------------------------------------------------


def _echo_previews(previews: tuple[TargetPreview, ...]) -> None:
    for p in previews:
        if p.draft is None or p.limits is None:
            echo(f"\n--- {p.target} ({p.kind}): {p.error}")
            continue
        draft = p.draft
        echo(f"\n--- {p.target} ({p.kind}): {draft.length}/{p.limits.max_length} {p.limits.unit}")
        echo(draft.text)
        echo("---")
        for note in p.notes:
            echo(f"  why: {note}")
        for facet in draft.facets:
            span = draft.text.encode()[facet.byte_start:facet.byte_end].decode()
            echo(f"  facet {facet.kind} bytes {facet.byte_start}-{facet.byte_end}: {span}")
        if draft.card:
            echo(f"  card: {draft.card.title} <{draft.card.uri}> thumb={draft.card.thumb_url}")


@command("preview", argument("ref"), only_option,
         option("--text", dest="intro", help="An intro line, as for a manual repost."), json_option)
def preview(ctx: Context, ref: str, only: tuple[str, ...], intro: str | None, as_json: bool) -> None:
    """Print exactly what would be posted for REF (article id, guid or URL), and why."""
    from syndicate.editors import as_json as to_json

    config = load(ctx)
    setup_logs(ctx, config)
    with errors(), service(config, drafts=True) as editors:
        shown = editors.preview(ref, only, intro)
    for problem in shown.found.problems:
        warn(problem)
    if as_json:
        _print_json(to_json.preview(shown))
        return
    article = shown.found.article
    echo(f"article: {article.title}")
    echo(f"link:    {article.link}")
    from syndicate.dates import published_day  # the CLI imports what a command uses, when it does

    echo(f"date:    {published_day(article)} (original publication, as the source dated it)")
    if article.source:
        echo(f"source:  {article.source.name or '-'} {article.source.url or ''}".rstrip())
    _echo_previews(shown.targets)


@command("show", argument("ref"), json_option)
def show(ctx: Context, ref: str, as_json: bool) -> None:
    """One recorded article (REF: id, guid or URL): every delivery with its whole history,
    and what each target would get."""
    from syndicate.editors import as_json as to_json

    config = load(ctx)
    setup_logs(ctx, config)
    with errors(), service(config, drafts=True) as editors:
        article_id = editors.recorded(ref).article_id
        assert article_id is not None
        detail = editors.detail(article_id)
    if as_json:
        _print_json(to_json.detail(detail))
        return
    article = detail.article
    echo(f"#{detail.article_id} {article.title}")
    echo(f"link:    {article.link}")
    echo(f"feed:    {article.feed}, guid {article.id}")
    from syndicate.dates import published_day  # the CLI imports what a command uses, when it does

    echo(f"date:    {published_day(article)} (original publication, as the source dated it)")
    if not detail.deliveries:
        echo("(seen only, not queued)")
    for d in detail.deliveries:
        echo(_delivery_line(d).removeprefix("    "))
        for event in d.history:
            echo(f"    {when(event.at)} {event.kind}" + (f": {event.detail}" if event.detail else ""))
    _echo_previews(detail.previews)


# --- requests ---------------------------------------------------------------------------------


@command("repost", argument("refs", "REF", nargs="+"), only_option,
         option("--text", dest="intro", help="An intro line to put before the post."), by_option,
         flag("--force", help="Post again even where it was already posted."), json_option)
def repost(ctx: Context, refs: tuple[str, ...], only: tuple[str, ...], intro: str | None,
           requested_by: str | None, force: bool, as_json: bool) -> None:
    """Queue a new post of each REF (article id, guid or URL) now; the daemon sends it.

    An article already posted to a target, or waiting or being sent there, is
    not queued again without --force; the command says where.  A target the
    daemon cannot post to (no credentials) is not queued, and the command
    says which variable to set.  Exit status 1 if any REF could not be queued.
    """
    from syndicate.editors import EditorError
    from syndicate.editors import as_json as to_json

    config = load(ctx)
    setup_logs(ctx, config)
    lines: list[str] = []
    problems: list[str] = []
    answers: list[dict[str, Any]] = []
    with errors(), service(config) as editors:
        editors.check_targets(only)
        for ref in progress(refs, "queueing"):
            try:
                done = editors.repost(ref, requester=_user(), requested_by=requested_by,
                                      targets=only or None,
                                      intro=intro, force=force)
            except EditorError as exc:
                problems += [*getattr(exc, "problems", ()), str(exc)]
                answers.append({"ref": ref, "error": str(exc)})
                continue
            problems += done.found.problems
            answers.append({"ref": ref, **to_json.repost(done, FORCE_HINT)})
            if done.outcome == "queued":
                lines.append(f"queued article #{done.article_id} for {', '.join(done.queued)}; "
                             "the daemon will post it")
            elif done.outcome == "needs_force":
                problems.append(f"article {ref}: {done.refused}; {FORCE_HINT} to post it again")
            else:
                problems.append(f"article {ref}: {done.refused}")
            lines += [f"target {name}: not queued, {why}" for name, why in done.not_queued]
    if as_json:
        _print_json(answers)
    else:
        for line in lines:
            echo(line)
        for line in problems:
            warn(line)
    if any("error" in a for a in answers):
        sys.exit(EXIT_FAILED)


@command("retry", argument("ref", nargs="?"), option("--target", "-t", help="Only this target."), json_option)
def retry(ctx: Context, ref: str | None, target: str | None, as_json: bool) -> None:
    """Re-queue failed deliveries (of REF, or all)."""
    from syndicate.editors import as_json as to_json

    config = load(ctx)
    with errors(), service(config) as editors:
        done = editors.retry(ref, target)
    if as_json:
        _print_json(to_json.retry(done))
        return
    echo(f"re-queued {done.requeued} failed deliver{'y' if done.requeued == 1 else 'ies'}")


@command("release", argument("what", "FEED|REF", nargs="+"),
         flag("--discard", help="Drop the held deliveries instead (articles stay seen)."), json_option)
def release(ctx: Context, what: tuple[str, ...], discard: bool, as_json: bool) -> None:
    """Queue the deliveries held as a suspected feed migration, of a FEED (by name) or an
    article (REF: id, guid or URL); the daemon sends them, oldest first.

    A poll that would queue more than the feed's hold_suspected_migration entries, none
    newer than the newest already known, is held: `syndicate status` shows it.  Exit status
    1 if a FEED|REF is neither a feed nor a known article.
    """
    from syndicate.editors import NotFound
    from syndicate.editors import as_json as to_json

    config = load(ctx)
    answers: list[dict[str, Any]] = []
    with errors(), service(config) as editors:
        for name in what:
            try:
                done = editors.release(name, discard=discard)
            except NotFound as exc:
                answers.append({"ref": name, "error": str(exc)})
                if not as_json:
                    warn(str(exc))
                continue
            answers.append({"ref": name, **to_json.release(done)})
            if as_json:
                continue
            rows = f"{done.count} held deliver{'y' if done.count == 1 else 'ies'} of {done.label}"
            if discard:
                echo(f"discarded {rows}")
            else:
                echo(f"released {rows}" + ("; the daemon will post them" if done.count else ""))
    if as_json:
        _print_json(answers)
    if any("error" in a for a in answers):
        sys.exit(EXIT_FAILED)


@command("health", option("--max-age", type=float, help="Seconds since the last cycle before unhealthy "
                                                       "[default: 3 poll intervals + 5 min]."))
def health(ctx: Context, max_age: float | None) -> None:
    """Exit 0 if the daemon's last cycle is recent and the store is readable (for HEALTHCHECK)."""
    from syndicate.editors import pause_line, state_health

    config = load(ctx)
    report = state_health(config, max_age=max_age)
    if not report.healthy:
        fail(f"unhealthy: {report.reason}")
    for pause in report.paused:  # running, but not posting there: healthy for the supervisor
        echo(f"degraded: {pause_line(pause)}")
    echo(f"healthy: last cycle {report.last_cycle_age or 0:.0f}s ago")


@command("post-now", argument("ref"), by_option, json_option)
def post_now(ctx: Context, ref: str, requested_by: str | None, as_json: bool) -> None:
    """Post REF (article id, guid or URL) at once, without waiting for it to settle."""
    from syndicate.editors import as_json as to_json

    config = load(ctx)
    with errors(), service(config) as editors:
        done = editors.post_now(ref, requester=_user(), requested_by=requested_by)
    if as_json:
        _print_json(to_json.post_now(done))
    elif done.targets:
        echo(f"article #{done.article_id}: posted at once to {', '.join(done.targets)} "
             "(the daemon sends it now)")
    else:
        echo(f"article #{done.article_id}: nothing was waiting to settle")


@command("delete", argument("ref"), only_option, by_option,
         flag("--yes", "-y", help="Do not ask for confirmation."), json_option)
def delete(ctx: Context, ref: str, only: tuple[str, ...], requested_by: str | None, yes: bool,
           as_json: bool) -> None:
    """Delete the posts made of REF (article id, guid or URL), recorded with who asked.

    Asks first, listing the posts (--yes does not).  One delete per target that
    has a post of the article goes through the outbox like a post; a post not
    sent yet is withdrawn.  Asking twice deletes nothing twice.
    """
    from syndicate.editors import as_json as to_json

    config = load(ctx)
    setup_logs(ctx, config)
    with errors(), service(config) as editors:
        found = editors.recorded(ref)
        assert found.article_id is not None
        posts = [d for d in editors.store.deliveries(found.article_id)
                 if d.op == "post" and d.id and d.state in ("pending", "sending", "sent")
                 and (not only or d.target in only)]
        if not yes and not as_json:
            echo(f"article #{found.article_id}: {found.article.title}")
            for d in posts:
                echo(f"    {d.target}: {d.remote_url or d.state}")
            if not confirm("Delete these posts?"):
                echo("nothing deleted")
                return
        done = editors.delete(found.article_id, requester=_user(), requested_by=requested_by,
                              targets=only or None)
    if as_json:
        _print_json(to_json.delete(done))
        return
    if done.queued:
        echo(f"article #{done.article_id}: delete queued for {', '.join(done.queued)} "
             f"(requested by {done.requested_by}); the daemon deletes them")
    for name in done.withdrawn:
        echo(f"target {name}: not posted yet, withdrawn")
    for name in done.already:
        echo(f"target {name}: a delete was queued already")
    if not (done.queued or done.withdrawn or done.already):
        echo(f"article #{done.article_id}: no post to delete")
