"""A daemon stand-in for the memory figure: ``python -m bench.cycler CONFIG CYCLES EVERY``.

Builds the ``App`` the daemon builds (targets from the config; the benchmark
config has none) and runs ``run_cycle(all_feeds=True)`` back to back, without
the daemon's sleep between cycles, so 1,000 cycles take a minute rather than
hours.  After cycle 1, every ``EVERY`` cycles and the last, prints one JSON
line: ``{"cycle", "rss_kb", "hwm_kb", "cpu_s", "statuses"}``.
"""

from __future__ import annotations

import collections
import json
import sys
import time

from bench.common import proc_status


def main(argv: list[str]) -> int:
    config_path, cycles, every = argv[0], int(argv[1]), int(argv[2])
    from syndicate.app import App
    from syndicate.config import load_config

    app = App(load_config(config_path, {}))
    statuses: collections.Counter[str] = collections.Counter()
    try:
        for cycle in range(1, cycles + 1):
            result = app.run_cycle(all_feeds=True)
            statuses.update(r.status for r in result.feeds)
            if cycle == 1 or cycle % every == 0 or cycle == cycles:
                st = proc_status()
                print(json.dumps({"cycle": cycle, "rss_kb": st["VmRSS"], "hwm_kb": st["VmHWM"],
                                  "cpu_s": time.process_time(), "statuses": dict(statuses)}), flush=True)
                statuses.clear()
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
