"""Figure 2: unchanged feeds cost what their floor costs.

2a: 100 feeds, every one answering 304: process CPU per full cycle
(``App.run_cycle``) against the floor, a bare httpcore connection pool making the
same 100 conditional GETs (the same validators) one after another in this process,
cycles taken in turn (ours, floor, ours, …), medians compared.  Notes: the same
cycles at other ``fetch_concurrency`` values (what the fetch threads cost).

2b: one 1,000-item feed (1.46 MB) served without validators (no ETag, no
Last-Modified: every GET is a 200 with the whole body): a cycle recognises the same
bytes by their hash and parses nothing.  Floor: the bare pool's GET of the body
plus the cheapest adequate hash of it on this machine (the faster of sha256 and
blake2b, measured here).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

from bench.common import Line, load, median, ms, timed, write_config
from bench.context import Context
from bench.gen import wordpress_feed
from bench.phases import counting

RATIO_304 = 1.2
RATIO_HASH = 1.1


def _cpu(fn: Callable[[], object]) -> float:
    """A floor's CPU, measured as ``timed`` measures ours: the collector run first.  (Measured
    without it, right after ours, the floor started with warm caches that ours, after the
    collection, never had: a bias of about 0.3 ms, a tenth of 2b's floor, against ours.)"""
    return timed(fn)[0].cpu


def _bare_pool():  # type: ignore[no-untyped-def]
    import httpcore

    return httpcore.ConnectionPool(max_connections=32, max_keepalive_connections=16, keepalive_expiry=60.0)


def _app(folder, feeds, concurrency: int | None = None):  # type: ignore[no-untyped-def]
    from syndicate.app import App

    extra = f"fetch_concurrency: {concurrency}\n" if concurrency is not None else ""
    cfg = write_config(folder / "feeds.yaml", state=folder / "state.db", feeds=feeds, out=folder / "public",
                       extra=extra)
    return App(load(cfg), targets={})


def _steady_304(ctx: Context) -> Line:
    from syndicate import parse  # the pipeline imports parse_feed from it when a body must be parsed

    feeds = ctx.small_feeds()
    folder = ctx.tmp / "steady"
    folder.mkdir()
    app = _app(folder, feeds)
    pool = _bare_pool()
    try:
        first = app.run_cycle(all_feeds=True)
        bad = [r for r in first.feeds if r.status != "fetched"]
        if bad:
            raise RuntimeError(f"first cycle: {bad[0]}")
        app.run_cycle(all_feeds=True)  # warm-up: the first round of 304s
        states = app.store.feed_state_map()
        requests = []
        for name, url in feeds:
            st = states[name]
            headers = list(app.fetcher._feed_headers)  # the very headers a feed fetch sends
            if st.etag:
                headers.append((b"If-None-Match", st.etag.encode()))
            if st.last_modified:
                headers.append((b"If-Modified-Since", st.last_modified.encode()))
            requests.append((url, headers))

        def floor() -> None:
            for url, headers in requests:
                r = pool.request("GET", url, headers=headers)
                if r.status != 304:
                    raise RuntimeError(f"floor: {url} answered {r.status}")

        floor()
        ours_cpu, floor_cpu, walls, statuses = [], [], [], set()
        requests0 = ctx.server.request_count()
        with counting(parse, "parse_feed") as parsed:
            for _ in range(ctx.sizes.steady_cycles):
                t, result = timed(lambda: app.run_cycle(all_feeds=True))
                ours_cpu.append(t.cpu)
                walls.append(t.wall)
                statuses.update(r.status for r in result.feeds)
                if len(result.feeds) != len(feeds):
                    raise RuntimeError(f"a cycle polled {len(result.feeds)} feeds, not {len(feeds)}")
                floor_cpu.append(_cpu(floor))
        served = ctx.server.request_count() - requests0
        concurrency = app.config.fetch_concurrency
    finally:
        app.close()
        pool.close()

    # Other concurrencies, for the choice of the default.
    others = []
    for workers in (1, 2, 4, 8):
        if workers == concurrency:
            continue
        d = ctx.tmp / f"steady-{workers}"
        d.mkdir()
        other = _app(d, feeds, workers)
        try:
            other.run_cycle(all_feeds=True)
            other.run_cycle(all_feeds=True)
            cpus, wall = [], []
            for _ in range(max(5, ctx.sizes.steady_cycles // 2)):
                t, _r = timed(lambda other=other: other.run_cycle(all_feeds=True))
                cpus.append(t.cpu)
                wall.append(t.wall)
            others.append(f"{workers}: {ms(median(cpus))} CPU, {ms(median(wall))} wall")
        finally:
            other.close()

    cpu, fl = median(ours_cpu), median(floor_cpu)
    n = ctx.sizes.steady_cycles
    ratio = cpu / fl
    ok = ratio <= RATIO_304 and parsed[0] == 0 and statuses == {"not-modified"} and served == 2 * n * len(feeds)
    return Line("2a", f"steady {len(feeds)} feeds all 304, CPU/cycle", ms(cpu),
                f"floor httpcore 100 GETs {ms(fl)}, <={RATIO_304}x", ratio, ok, notes=[
                    f"median of {n} cycles each (taken in turn); ours: App.run_cycle with fetch_concurrency "
                    f"{concurrency} (the default); wall median {ms(median(walls))}; floor: one bare "
                    f"httpcore.ConnectionPool, the same 100 conditional GETs one after another; "
                    f"load average {os.getloadavg()[0]:.2f}",
                    "other fetch_concurrency values (median CPU and wall per cycle): " + "; ".join(others),
                    f"parse_feed calls: {parsed[0]}; statuses: {', '.join(sorted(statuses))}; "
                    f"requests served: {served} of {2 * n * len(feeds)} (ours and the floor's)",
                ])


def _unchanged_no_validators(ctx: Context) -> Line:
    from syndicate import parse  # the pipeline imports parse_feed from it when a body must be parsed

    folder = ctx.tmp / "steady-hash"
    folder.mkdir()
    body = ctx.cache.get("wp1000") or wordpress_feed(ctx.sizes.ingest_items, seed=1)
    file = folder / "wp.rss"
    file.write_bytes(body)
    ctx.server.set_feed("/nv/feed/", file, validators=False)
    url = ctx.server.url("/nv/feed/")
    app = _app(folder, [("nv", url)])
    pool = _bare_pool()
    hashes = {}
    for name in ("sha256", "blake2b"):  # collision-resistant: adequate to say "the same bytes"
        hashes[name] = min(_cpu(lambda name=name: hashlib.new(name, body).digest()) for _ in range(5))
    cheapest = min(hashes, key=hashes.__getitem__)
    headers = list(app.fetcher._feed_headers)  # the very headers a feed fetch sends

    def floor() -> None:
        r = pool.request("GET", url, headers=headers)
        if r.status != 200 or len(r.content) != len(body):
            raise RuntimeError(f"floor: {r.status}, {len(r.content)} bytes")
        hashlib.new(cheapest, r.content).digest()

    try:
        app.run_cycle(all_feeds=True)  # first sight: parsed, stored
        app.run_cycle(all_feeds=True)
        floor()
        ours, fl, cycles, statuses = [], [], [], set()
        with counting(parse, "parse_feed") as parsed:
            for _ in range(max(11, ctx.sizes.steady_cycles)):
                t, results = timed(lambda: app.ingester.poll_many(app.config.feeds))
                ours.append(t.cpu)
                statuses.update(r.status for r in results)
                fl.append(_cpu(floor))
                cycles.append(timed(lambda: app.run_cycle(all_feeds=True))[0].cpu)
    finally:
        app.close()
        pool.close()
    cpu, f = median(ours), median(fl)
    ratio = cpu / f
    ok = ratio <= RATIO_HASH and parsed[0] == 0
    return Line("2b", "unchanged 1.46 MB feed, no validators", ms(cpu),
                f"floor GET + {cheapest} {ms(f)}, <={RATIO_HASH}x", ratio, ok, notes=[
                    f"median of {len(ours)} polls each, in turn (Ingester.poll_many: claim, fetch, hash, "
                    f"record); the server sends neither ETag nor Last-Modified: every GET is a 200 with "
                    f"the body, recognised by its hash",
                    f"the whole cycle (App.run_cycle: the poll, plus the cycle's own bookkeeping): median "
                    f"{ms(median(cycles))}",
                    "hashes of the body here (CPU, best of 5): " + ", ".join(
                        f"{k} {v * 1000:.2f} ms" for k, v in hashes.items()),
                    f"parse_feed calls: {parsed[0]}; statuses: {', '.join(sorted(statuses))}",
                ])


def run(ctx: Context) -> list[Line]:
    return [_steady_304(ctx), _unchanged_no_validators(ctx)]
