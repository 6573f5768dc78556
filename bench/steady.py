"""Figure 2: 100 unchanged feeds, every one answering 304: CPU per full cycle, nothing parsed."""

from __future__ import annotations

import os

from bench.common import Line, load, median, ms, timed, write_config
from bench.context import Context
from bench.phases import Phases, counting

TARGET = 0.050


def run(ctx: Context) -> list[Line]:
    from syndicate import pipeline
    from syndicate.app import App

    feeds = ctx.small_feeds()
    folder = ctx.tmp / "steady"
    folder.mkdir()
    cfg = write_config(folder / "feeds.yaml", state=folder / "state.db", feeds=feeds, out=folder / "public")
    app = App(load(cfg), targets={})
    try:
        first = app.run_cycle(all_feeds=True)
        bad = [r for r in first.feeds if r.status != "fetched"]
        if bad:
            raise RuntimeError(f"first cycle: {bad[0]}")
        app.run_cycle(all_feeds=True)  # warm-up: the first round of 304s

        cpus, walls, statuses = [], [], set()
        requests0 = ctx.server.request_count()
        with counting(pipeline, "parse_feed") as parsed:
            for _ in range(ctx.sizes.steady_cycles):
                t, result = timed(lambda: app.run_cycle(all_feeds=True))
                cpus.append(t.cpu)
                walls.append(t.wall)
                statuses.update(r.status for r in result.feeds)
                if len(result.feeds) != len(feeds):
                    raise RuntimeError(f"a cycle polled {len(result.feeds)} feeds, not {len(feeds)}")
        requests = ctx.server.request_count() - requests0

        # The same cycles with the fetches one at a time: what the 4 fetch threads cost.
        pool_many = app.ingester.poll_many
        app.ingester.poll_many = lambda feeds, **kw: pool_many(feeds, workers=1)  # type: ignore[method-assign]
        try:
            seq = median([timed(lambda: app.run_cycle(all_feeds=True))[0].cpu
                          for _ in range(ctx.sizes.steady_cycles)])
        finally:
            del app.ingester.poll_many

        phases = Phases()
        phases.wrap(app.fetcher, "fetch_feed", "fetch (in 4 threads)")
        phases.wrap(app.store, "feed_state_map", "store.feed_state_map")
        phases.wrap(app.store, "record_not_modified", "store.record_not_modified")
        phases.wrap(app.store, "set_meta", "store.set_meta")
        k = 10
        try:
            t_ph, _ = timed(lambda: [app.run_cycle(all_feeds=True) for _ in range(k)])
        finally:
            phases.restore()
        phases.cpu = {label: cpu / k for label, cpu in phases.cpu.items()}  # type: ignore[assignment]
        t_ph.cpu /= k
    finally:
        app.close()

    cpu = median(cpus)
    n = ctx.sizes.steady_cycles
    expected_requests = n * len(feeds)
    ok = cpu < TARGET and parsed[0] == 0 and statuses == {"not-modified"} and requests == expected_requests
    return [
        Line("2", f"steady {len(feeds)} feeds all 304, CPU/cycle", ms(cpu), f"target < {ms(TARGET)}",
             cpu / TARGET, ok, notes=[
                 f"median of {n} cycles (min {ms(min(cpus))}, max {ms(max(cpus))}); wall median "
                 f"{ms(median(walls))}; process CPU of all our threads; server in a separate process; "
                 f"load average {os.getloadavg()[0]:.2f}",
                 f"the same cycles fetching one feed at a time (Ingester.poll_many workers=1): median "
                 f"{ms(seq)}; the difference is what the 4 fetch threads cost in CPU",
                 f"parse_feed calls: {parsed[0]}; statuses: {', '.join(sorted(statuses))}; "
                 f"requests served: {requests} of {expected_requests}",
                 f"where the CPU goes (10 more cycles, mean {ms(t_ph.cpu)}; thread CPU summed over threads): "
                 f"{phases.summary(t_ph.cpu)}",
             ]),
    ]
