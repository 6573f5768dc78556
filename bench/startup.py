"""Figure 5: start-up of the light commands against a bare `python -c pass` (subprocess, best of N).

`syndicate --help`, `status`, `health`, `preview REF` (a stored article) and `run --once` on
an unchanged feed (a 304): wall, best of N, each against the bare interpreter's start in the
same run (target: within 3x).  Offenders (python -X importtime) are listed for a command over it.

Every config has what an operator's feeds.yaml has: a Mastodon and a Bluesky target whose
credentials are in the children's environment, so each command builds (or drafts for) the
targets it would in a deployment.  None of these commands contacts them (the instance is
``.invalid``; ``health`` reads the store only).
"""

from __future__ import annotations

import subprocess
import sys
import time

from bench.common import BIN, Line, child_env, write_config
from bench.context import Context
from bench.gen import articles, wordpress_feed

TARGET = 0.300
RATIO = 3.0  # within 3 x a bare `python -c pass`

# A deployment's targets, as in an operator's feeds.yaml: their secrets from the environment.
TARGETS = """targets:
  mastodon:
    kind: mastodon
    instance: https://mastodon.invalid
  bluesky:
    kind: bluesky
    handle: bench.bsky.invalid
    password_env: BENCH_BLUESKY_APP_PASSWORD
"""
SECRETS = {"SYNDICATE_MASTODON_TOKEN": "bench-token", "BENCH_BLUESKY_APP_PASSWORD": "bench-app-password"}


def _env() -> dict[str, str]:
    """The children's environment, bytecode written: an installed syndicate runs from compiled
    modules (pip compiles them), while with PYTHONDONTWRITEBYTECODE set (and no __pycache__) every
    start compiles each module again, ≈150 ms of the light commands' start on this machine."""
    env = child_env(**SECRETS)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _wall(cmd: list[str], reps: int, *, check: bool = True) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=60)
        times.append(time.perf_counter() - t0)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[-2:])} exited {proc.returncode}: {proc.stderr[-400:]}")
    return min(times)


def import_offenders(args: list[str], top: int = 6) -> str:
    """The slowest imports (cumulative) under ``python -X importtime -m syndicate ARGS``."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "syndicate", *args], capture_output=True,
                          text=True, env=_env(), timeout=60)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (p.strip() for p in line[len("import time:"):].split("|"))
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append((int(cumulative), depth, name.strip()))
    # the outermost imports (depth 0/1) say which dependency costs what
    outer = sorted((r for r in rows if r[1] <= 1), reverse=True)[:top]
    return ", ".join(f"{name} {us / 1000:.0f} ms" for us, _, name in outer)


def run(ctx: Context) -> list[Line]:
    from syndicate.store import Store

    reps = ctx.sizes.startup_reps
    folder = ctx.tmp / "startup"
    folder.mkdir()
    names = [f"s{i}" for i in range(5)]
    cfg = write_config(folder / "feeds.yaml", state=folder / "state.db",
                       feeds=[(n, f"https://{n}.example.org/feed/") for n in names], out=folder / "public",
                       extra=TARGETS)
    store = Store(folder / "state.db")
    for n in names:
        store.record_fetch_ok(n, f"https://{n}.example.org/feed/", etag='"x"', last_modified=None,
                              body_hash=None, final_url=None, next_fetch_at=0.0, seeded=True)
        store.ingest(n, new=articles(n, 40, seed=6), updated=[], queue={})
    store.close()

    # a feed that answers 304 (seen by a first run), for `preview` and `run --once`
    file = folder / "one.rss"
    file.write_bytes(wordpress_feed(20, seed=3, host="one.example.org"))
    ctx.server.set_feed("/startup/one/", file)
    live = write_config(folder / "live.yaml", state=folder / "live.db", feeds=[("one", ctx.server.url("/startup/one/"))],
                        out=folder / "live-public", output=False, extra=TARGETS)
    exe = str(BIN / "syndicate")
    _wall([exe, "--config", str(live), "run", "--once"], 1)  # the first read: seeded, validators kept

    for args in (["--help"], ["--config", str(cfg), "status"]):  # not timed: the modules compiled once
        _wall([exe, *args], 1, check=False)
    baseline = _wall([sys.executable, "-c", "pass"], reps)
    lines = []
    for key, label, args in (
            ("5a", "start-up `syndicate --help`", ["--help"]),
            ("5b", "start-up `syndicate status`", ["--config", str(cfg), "status"]),
            ("5c", "start-up `syndicate health`", ["--config", str(cfg), "health"]),
            ("5d", "start-up `syndicate preview`", ["--config", str(live), "preview",
                                                    "https://one.example.org/?p=10019"]),
            ("5e", "start-up `run --once`, unchanged", ["--config", str(live), "run", "--once"])):
        wall = _wall([exe, *args], reps, check=key != "5c")
        ratio = wall / baseline
        notes = [f"wall, best of {reps} subprocess runs; floor: bare `python -c pass` {baseline * 1000:.0f} ms "
                 f"in the same run"]
        if ratio > RATIO:
            notes.append("slowest imports (python -X importtime, cumulative): " + import_offenders(args))
        lines.append(Line(key, label, f"{wall * 1000:.0f} ms",
                          f"floor python -c pass {baseline * 1000:.0f} ms, <={RATIO:g}x", ratio, ratio <= RATIO,
                          notes=notes))
    return lines
