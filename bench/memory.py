"""Figure 3: peak RSS of the daemon with 100 feeds and 50,000 stored articles; no growth over cycles;
the peak of a first run of a 5,000-item feed (3c)."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bench.common import BIN, ROOT, Line, child_env, proc_status, write_config
from bench.context import Context
from bench.gen import articles

PEAK_MB = 120.0
GROWTH_MB = 1.0  # "does not grow": less than this between cycle 100 and the last


def build_store(ctx: Context, path: Path, feeds: list[tuple[str, str]], total: int) -> float:
    """``total`` articles spread over ``feeds``, in one Store.ingest batch per feed. Returns seconds."""
    from syndicate.store import Store

    t0 = time.perf_counter()
    store = Store(path)
    per = total // len(feeds)
    try:
        for name, _ in feeds:
            store.ingest(name, new=articles(name, per, seed=3, body_chars=1200), updated=[], queue={},
                         seeded=False)
        count = store.count_articles()
    finally:
        store.close()
    if count != per * len(feeds):
        raise RuntimeError(f"store holds {count} articles, expected {per * len(feeds)}")
    return time.perf_counter() - t0


def _feeds_read(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM feeds WHERE last_success_at IS NOT NULL")
                       .fetchone()[0])
    except sqlite3.Error:
        return 0


def real_daemon(ctx: Context, base: Path, feeds: list[tuple[str, str]], seconds: float) -> dict:
    """``syndicate run`` itself: the first cycle (all feeds read), then ``seconds`` of 1 s cycles."""
    d = ctx.tmp / "memory" / "daemon"
    d.mkdir()
    shutil.copyfile(base, d / "state.db")
    cfg = write_config(d / "feeds.yaml", state=d / "state.db", feeds=feeds, out=d / "public",
                       poll_interval="1s")
    log = (d / "daemon.log").open("wb")
    proc = subprocess.Popen([str(BIN / "syndicate"), "--config", str(cfg), "run"], stdout=log,
                            stderr=subprocess.STDOUT, env=child_env())
    try:
        deadline = time.monotonic() + 180
        while _feeds_read(d / "state.db") < len(feeds):
            if proc.poll() is not None:
                raise RuntimeError(f"syndicate run exited {proc.returncode}: "
                                   f"{(d / 'daemon.log').read_text()[-500:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("syndicate run did not read every feed within 180 s")
            time.sleep(0.2)
        after_first = proc_status(proc.pid)
        requests0 = ctx.server.request_count()
        time.sleep(seconds)
        later = proc_status(proc.pid)
        polls = ctx.server.request_count() - requests0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    if proc.returncode != 0:
        raise RuntimeError(f"syndicate run exited {proc.returncode} on SIGTERM")
    return {"first": after_first, "later": later, "polls": polls}


def cycles(ctx: Context, base: Path, feeds: list[tuple[str, str]], n: int, every: int) -> list[dict]:
    d = ctx.tmp / "memory" / "cycler"
    d.mkdir()
    shutil.copyfile(base, d / "state.db")
    cfg = write_config(d / "feeds.yaml", state=d / "state.db", feeds=feeds, out=d / "public")
    proc = subprocess.run([sys.executable, "-m", "bench.cycler", str(cfg), str(n), str(every)], cwd=ROOT,
                          capture_output=True, text=True, env=child_env(), timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"bench.cycler exited {proc.returncode}: {proc.stderr[-800:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def _slope(points: list[tuple[int, float]]) -> float:
    """Least-squares slope (y per x)."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


FIRST_RUN_MB = 100.0
FIRST_RUN_ITEMS = 5000
_PEAK_OF_CHILD = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True); "
                  "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def first_run(ctx: Context) -> Line:
    """3c: `syndicate run --once` on a fresh state and a 5,000-item feed: its peak RSS (a
    parent of its own, so no other child's peak counts)."""
    from bench.gen import wordpress_feed

    d = ctx.tmp / "memory" / "first"
    d.mkdir()
    body = wordpress_feed(FIRST_RUN_ITEMS, seed=5, host="big.example.org")
    (d / "big.rss").write_bytes(body)
    ctx.server.set_feed("/big/feed/", d / "big.rss")
    cfg = write_config(d / "feeds.yaml", state=d / "state.db", feeds=[("big", ctx.server.url("/big/feed/"))],
                       out=d / "public")
    proc = subprocess.run([sys.executable, "-c", _PEAK_OF_CHILD, str(BIN / "syndicate"), "--config", str(cfg),
                           "run", "--once"], capture_output=True, text=True, env=child_env(), timeout=600)
    code, peak_kb = (int(x) for x in proc.stdout.split())
    if code != 0:
        raise RuntimeError(f"run --once exited {code}")
    with sqlite3.connect(d / "state.db") as conn:
        stored = conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    peak = peak_kb / 1024
    return Line("3c", f"memory, first run of {FIRST_RUN_ITEMS} items", f"{peak:.1f} MB",
                f"target < {FIRST_RUN_MB:.0f} MB", peak / FIRST_RUN_MB,
                peak < FIRST_RUN_MB and stored == FIRST_RUN_ITEMS,
                notes=[f"`syndicate run --once`, fresh state, one feed of {FIRST_RUN_ITEMS} items "
                       f"({len(body) / 1e6:.1f} MB) served by the feed server: peak RSS (ru_maxrss), "
                       f"{stored} articles stored"])


def run(ctx: Context) -> list[Line]:
    sizes = ctx.sizes
    feeds = ctx.small_feeds()
    (ctx.tmp / "memory").mkdir()
    base = ctx.tmp / "memory" / "base.db"
    build_s = build_store(ctx, base, feeds, sizes.memory_articles)

    daemon = real_daemon(ctx, base, feeds, seconds=5 if ctx.quick else 10)
    every = max(1, sizes.memory_cycles // 20)
    samples = cycles(ctx, base, feeds, sizes.memory_cycles, every)
    if not samples or samples[-1]["cycle"] != sizes.memory_cycles:
        raise RuntimeError("bench.cycler did not report its last cycle")
    first = samples[0]
    if first["statuses"].get("fetched") != len(feeds):
        raise RuntimeError(f"cycle 1 statuses {first['statuses']}")
    later_statuses: dict[str, int] = {}
    for s in samples[1:]:
        for k, v in s["statuses"].items():
            later_statuses[k] = later_statuses.get(k, 0) + v

    early = min((s for s in samples if s["cycle"] >= sizes.memory_early), key=lambda s: s["cycle"])
    last = samples[-1]
    growth_mb = (last["rss_kb"] - early["rss_kb"]) / 1024
    tail = [(s["cycle"], s["rss_kb"]) for s in samples if s["cycle"] >= early["cycle"]]
    slope_kb_per_100 = _slope(tail) * 100
    cpu_per_cycle = (last["cpu_s"] - first["cpu_s"]) / (last["cycle"] - first["cycle"])

    daemon_peak = max(daemon["first"]["VmHWM"], daemon["later"]["VmHWM"]) / 1024
    cycler_peak = last["hwm_kb"] / 1024
    peak = max(daemon_peak, cycler_peak)
    n_art = sizes.memory_articles
    return [
        Line("3a", f"memory peak RSS, {len(feeds)} feeds + {n_art // 1000}k art.", f"{peak:.1f} MB",
             f"target < {PEAK_MB:.0f} MB", peak / PEAK_MB, peak < PEAK_MB, notes=[
                 f"`syndicate run` (real daemon, poll_interval 1s): VmHWM {daemon_peak:.1f} MB after "
                 f"its first cycle and {daemon['later']['VmHWM'] / 1024:.1f} MB after "
                 f"{5 if ctx.quick else 10} s more ({daemon['polls']} feed polls; RSS now "
                 f"{daemon['later']['VmRSS'] / 1024:.1f} MB)",
                 f"cycle runner (bench.cycler, {sizes.memory_cycles} back-to-back cycles): VmHWM "
                 f"{cycler_peak:.1f} MB; store of {n_art} articles built in {build_s:.1f} s with Store.ingest",
             ]),
        Line("3b", f"memory growth, cycle {early['cycle']}->{last['cycle']}", f"{growth_mb:+.2f} MB",
             f"target < {GROWTH_MB:.0f} MB (no growth)", None, growth_mb < GROWTH_MB, notes=[
                 f"RSS {early['rss_kb'] / 1024:.1f} MB at cycle {early['cycle']}, "
                 f"{last['rss_kb'] / 1024:.1f} MB at {last['cycle']}; slope {slope_kb_per_100:+.1f} kB "
                 f"per 100 cycles (least squares over {len(tail)} samples)",
                 f"after cycle 1 (all fetched): {', '.join(f'{k} {v}' for k, v in sorted(later_statuses.items()))}"
                 f"; CPU {cpu_per_cycle * 1000:.1f} ms per cycle in the runner",
             ]),
        first_run(ctx),
    ]
