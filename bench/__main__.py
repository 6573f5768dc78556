"""``python -m bench [--quick] [--only NAME ...] [--keep]``: print the figures that matter.

Each figure prints one line (name, measured value, floor or target, ratio,
PASS/FAIL) with indented notes.  The exit code is 0 whatever the figures
say (this is a report, not a test) and 1 when the harness itself breaks.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from importlib.metadata import version
from pathlib import Path

from bench.common import ROOT, Line

FIGURES = {  # name → module with run(ctx) -> list[Line]
    "ingest": "bench.ingest",
    "steady": "bench.steady",
    "memory": "bench.memory",
    "scaling": "bench.scaling",
    "startup": "bench.startup",
    "delivery": "bench.delivery",
    "perpost": "bench.perpost",
    "parse": "bench.parse",
    "compose": "bench.compose",
    "timeouts": "bench.timeouts",
    "hostile": "bench.hostile",
    "fleet": "bench.fleet",
}


def machine_facts() -> list[str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "syndicate"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        commit += " (syndicate/ has uncommitted changes)" if dirty else ""
    except (OSError, subprocess.SubprocessError):
        commit = "?"

    def v(pkg: str) -> str:
        try:
            return version(pkg)
        except Exception:
            return "-"

    return [
        f"machine: nproc {os.cpu_count()}, {cpu}, {platform.system()} {platform.release()}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other processes skew the CPU figures)",
        f"python {platform.python_version()} ({sys.executable}), sqlite {sqlite3.sqlite_version}, "
        f"feedparser {v('feedparser')}, httpx {v('httpx')}, lxml {v('lxml')}, "
        f"Mastodon.py {v('Mastodon.py')}, atproto {v('atproto')}",
        f"commit {commit}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about 2 minutes)")
    parser.add_argument("--only", action="append", choices=list(FIGURES), metavar="NAME",
                        help=f"run only this figure (repeatable): {', '.join(FIGURES)}")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (its path is printed)")
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # tests.servers.* (the loopback servers)

    from bench.context import Context, Sizes
    from bench.feedserver import FeedServerProcess

    tmp = Path(tempfile.mkdtemp(prefix="syndicate-bench-"))
    # The library's log lines go to a file, not between the figures.
    handler = logging.FileHandler(tmp / "syndicate.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    lib_log = logging.getLogger("syndicate")
    lib_log.addHandler(handler)
    lib_log.setLevel(logging.WARNING)
    lib_log.propagate = False

    print(f"syndicate benchmarks{' (--quick: smaller sizes)' if args.quick else ''}")
    for fact in machine_facts():
        print(fact)
    print(f"{'':4}{'figure':<34}{'measured':>22}   {'floor / target':<42}{'ratio':>8}  verdict")
    sys.stdout.flush()

    broken = []
    started = time.perf_counter()
    server = FeedServerProcess()
    try:
        ctx = Context(tmp=tmp, sizes=Sizes.quick() if args.quick else Sizes(), quick=args.quick,
                      server=server)
        for name in args.only or list(FIGURES):
            t0 = time.perf_counter()
            try:
                lines: list[Line] = importlib.import_module(FIGURES[name]).run(ctx)
            except Exception as exc:
                broken.append(name)
                print(f"{'!':<4}{name:<34}{'ERROR':>22}   {type(exc).__name__}: {exc}", flush=True)
                traceback.print_exc()
                continue
            for line in lines:
                print(line.render())
            print(f"      · ({name}: {time.perf_counter() - t0:.0f} s)", flush=True)
    finally:
        server.close()
        handler.close()
        if args.keep:
            print(f"temp dir kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"total {time.perf_counter() - started:.0f} s" + (f"; harness broke on: {', '.join(broken)}"
                                                            if broken else ""))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
