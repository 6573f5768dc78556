"""Figure 1: a 1,000-item WordPress feed through one whole cycle vs feedparser alone."""

from __future__ import annotations

import resource
import subprocess
import time

import feedparser

from bench.common import BIN, Line, best, child_env, load, secs, timed, write_config
from bench.context import Context
from bench.gen import wordpress_feed
from bench.phases import Phases

TARGET = 1.5


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run(ctx: Context) -> list[Line]:
    from syndicate import parse  # pipeline and plan import parse_feed / normalise from it at each use
    from syndicate.app import App

    n, reps = ctx.sizes.ingest_items, ctx.sizes.ingest_reps
    folder = ctx.tmp / "ingest"
    folder.mkdir()
    body = wordpress_feed(n, seed=1)
    feed_file = folder / "wp.rss"
    feed_file.write_bytes(body)
    ctx.server.set_feed("/wp/feed/", feed_file)
    url = ctx.server.url("/wp/feed/")

    floor = best(timed(lambda: feedparser.parse(body))[0] for _ in range(reps))

    def fresh(tag: str):
        d = folder / tag
        d.mkdir()
        return write_config(d / "feeds.yaml", state=d / "state.db", feeds=[("wp", url)], out=d / "public")

    cycles = []
    for rep in range(reps):
        app = App(load(fresh(f"rep{rep}")), targets={})
        try:
            t, result = timed(lambda app=app: app.run_cycle(all_feeds=True))
        finally:
            app.close()
        [feed] = result.feeds
        if feed.status != "fetched" or feed.new != n:
            raise RuntimeError(f"ingest cycle read {feed}, expected {n} new entries")
        cycles.append(t)
    cycle = best(cycles)

    # One more, instrumented (not counted): where the cycle's CPU goes.
    app = App(load(fresh("phases")), targets={})
    phases = Phases()
    phases.wrap(app.fetcher, "fetch_feed", "fetch")
    phases.wrap(parse, "parse_feed", "parse_feed")
    phases.wrap(parse, "normalise", "normalise")
    phases.wrap(app.store, "known", "store.known")
    phases.wrap(app.store, "apply", "store.apply")
    phases.wrap(app, "write_output", "write_output")
    try:
        t_ph, _ = timed(lambda: app.run_cycle(all_feeds=True))
    finally:
        phases.restore()
        app.close()

    # The real command once, as a user runs it (start-up included).
    cfg = fresh("cli")
    cpu0, w0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run([str(BIN / "syndicate"), "--config", str(cfg), "run", "--once"],
                          capture_output=True, text=True, env=child_env(), timeout=300)
    cli_wall, cli_cpu = time.perf_counter() - w0, _children_cpu() - cpu0
    if proc.returncode != 0:
        raise RuntimeError(f"syndicate run --once exited {proc.returncode}: {proc.stderr[-500:]}")

    ratio = cycle.cpu / floor.cpu
    size = f"{len(body) / 1e6:.2f} MB"
    return [
        Line("1", f"ingest {n} items ({size}), CPU", secs(cycle.cpu),
             f"floor feedparser {secs(floor.cpu)}, <={TARGET}x", ratio, ratio <= TARGET, notes=[
                 f"wall: cycle {secs(cycle.wall)} vs feedparser {secs(floor.wall)} "
                 f"({cycle.wall / floor.wall:.2f}x); best of {reps}, fresh state each, "
                 "feed served by a separate process",
                 f"where the CPU goes (one instrumented cycle, {secs(t_ph.cpu)}): {phases.summary(t_ph.cpu)}",
                 f"`syndicate run --once` subprocess (start-up included): wall {secs(cli_wall)}, "
                 f"CPU {secs(cli_cpu)}",
             ]),
    ]
