"""Figure 9: one cycle over the hostile-feed corpus of ``tests/test_bad_feeds.py`` (wall).

The corpus (every case of that file, served as its routes serve them: a 10,000-entry feed,
a feed that hangs into its 1 s timeout, entity bombs, redirect loops, a body past its size
cap, …) is read in one ``App(config, targets={}).run_cycle(all_feeds=True)``, fresh state
each time.  The tests check what each case becomes; how long the whole cycle takes is
measured here (it was ``assert corpus.seconds < 30`` in the test).
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from bench.common import Line, timed
from bench.context import Context

TARGET = 30.0


def run(ctx: Context) -> list[Line]:
    from syndicate.app import App
    from tests.servers.feeds import FeedServer
    from tests.test_bad_feeds import CASES, ROUTES, corpus_config

    reps = max(1, ctx.sizes.startup_reps - 2)
    walls, cpus = [], []
    for rep in range(reps):
        folder = Path(tempfile.mkdtemp(prefix=f"hostile{rep}-", dir=ctx.tmp))
        secret_file = folder / "secret.txt"
        secret_file.write_text("XXE-SECRET-bench\n")
        with FeedServer() as server:
            for case in CASES:
                ROUTES[case.name](server, case.name, secret_file)
            app = App(corpus_config(folder, server, CASES), targets={})
            try:
                timing, result = timed(functools.partial(app.run_cycle, all_feeds=True))
            finally:
                app.close()
        if len(result.feeds) != len(CASES):
            raise RuntimeError(f"the cycle read {len(result.feeds)} feeds, not {len(CASES)}")
        walls.append(timing.wall)
        cpus.append(timing.cpu)
    worst = max(walls)
    notes = [f"{len(CASES)} feeds, one cycle, fresh state; slowest of {reps}: "
             + ", ".join(f"{w:.1f}" for w in walls) + f" s; CPU {min(cpus):.1f} s at best (the server's "
             "threads are in this process)"]
    return [Line("9", f"hostile corpus, {len(CASES)} feeds, cycle", f"{worst:.1f} s", f"target < {TARGET:g} s",
                 worst / TARGET, worst < TARGET, notes=notes)]
