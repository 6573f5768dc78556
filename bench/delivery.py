"""Figure 6: 500 queued posts drained to both loopback targets; our own overhead per post.

Three runs over the same kind of queue (N articles × 2 targets):

- floor: zero-latency in-process targets (the ``Target`` protocol, answering
  at once): the process CPU per delivery is all ours (claim, compose, record,
  bookkeeping).  This is the figure judged against 5 ms.
- real: the loopback Mastodon server (tests/servers/mastodon.py, in its own
  process) and the reference Bluesky PDS (node); posts/s, and our CPU per
  post as process CPU minus the CPU spent inside the adapters' calls (the
  SDKs: Mastodon.py, atproto).
- deep (6c, informational): the first few hundred of 10,000 queued rows to
  zero-latency targets, to show whether a claim costs more as the backlog grows.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, Line, child_env, load, ms, timed, write_config
from bench.context import Context
from bench.gen import articles
from bench.phases import Phases

TARGET = 0.005
FEED = "news"


class NullTarget:
    """A target that posts instantly, in process (the floor)."""

    def __init__(self, name: str, limits: object) -> None:
        self.name = name
        self._limits = limits

    def limits(self) -> object:
        return self._limits

    def lookup(self, attempted: object) -> None:
        return None

    def deliver(self, draft: object, key: str) -> object:
        from syndicate.models import Posted

        return Posted(remote_id=key, url=f"https://null.invalid/{self.name}/{key}")

    def rate_budget(self) -> None:
        return None

    def close(self) -> None:
        pass


def _config(folder: Path, masto_url: str, bsky_url: str | None, handle: str) -> Path:
    targets = f"""targets:
  mastodon:
    kind: mastodon
    instance: {masto_url}
    token_env: BENCH_MASTODON_TOKEN
"""
    if bsky_url:
        targets += f"""  bluesky:
    kind: bluesky
    service: {bsky_url}
    handle: {handle}
    password_env: BENCH_BLUESKY_PASSWORD
"""
    return write_config(folder / "feeds.yaml", state=folder / "state.db",
                        feeds=[(FEED, "https://news.example.org/feed/")], out=folder / "public",
                        output=False, extra=targets)


def _queue(db: Path, n: int, targets: list[str]) -> None:
    from syndicate.store import Store

    store = Store(db)
    try:
        store.record_fetch_ok(FEED, "https://news.example.org/feed/", etag=None, last_modified=None,
                              body_hash=None, final_url=None, next_fetch_at=0.0, seeded=True)
        new = articles(FEED, n, seed=7)
        counts = store.ingest(FEED, new=new, updated=[], queue={a.id: targets for a in new})
    finally:
        store.close()
    if counts.queued != n * len(targets):
        raise RuntimeError(f"queued {counts.queued}, expected {n * len(targets)}")


def _drain(app: object) -> tuple[object, list]:
    t, results = timed(lambda: app.deliverer.deliver_due())  # type: ignore[attr-defined]
    bad = [r for r in results if r.outcome != "sent"]
    if bad:
        raise RuntimeError(f"{len(bad)} deliveries not sent, first: {bad[0]}")
    return t, results


class MastodonProcess:
    def __init__(self, token: str, *, latency: float = 0.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.servers.mastodon", "--port", "0", "--token", token,
             "--budget", "1000000", "--window", "300", "--latency", str(latency)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=child_env())
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.close()
            raise RuntimeError("the loopback Mastodon server did not start")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


def run(ctx: Context) -> list[Line]:
    from syndicate.app import App
    from syndicate.targets.bluesky_post import LIMITS as BLUESKY_LIMITS
    from syndicate.targets.mastodon_post import LIMITS as MASTODON_LIMITS
    from tests.servers.pds import PdsUnavailable, missing_reason, start_pds

    n = ctx.sizes.delivery_posts
    folder = ctx.tmp / "delivery"
    folder.mkdir()

    # -- the floor: zero-latency targets --------------------------------------
    d = folder / "null"
    d.mkdir()
    cfg = _config(d, "http://127.0.0.1:9", "http://127.0.0.1:9", "bench.test")
    _queue(d / "state.db", n, ["mastodon", "bluesky"])
    app = App(load(cfg), targets={"mastodon": NullTarget("mastodon", MASTODON_LIMITS),
                                  "bluesky": NullTarget("bluesky", BLUESKY_LIMITS)})
    phases = Phases()
    phases.wrap(app.store, "claim_due", "store.claim_due")
    phases.wrap(app.store, "mark_sent", "store.mark_sent")
    phases.wrap(app.deliverer, "draft_for", "compose")
    try:
        t_null, results = _drain(app)
    finally:
        phases.restore()
        app.close()
    per_null = t_null.cpu / len(results)

    # -- the same with a deep queue: does a claim cost grow with the backlog? --
    deep = ctx.sizes.delivery_deep
    d = folder / "deep"
    d.mkdir()
    cfg = _config(d, "http://127.0.0.1:9", "http://127.0.0.1:9", "bench.test")
    _queue(d / "state.db", deep // 2, ["mastodon", "bluesky"])
    app = App(load(cfg), targets={"mastodon": NullTarget("mastodon", MASTODON_LIMITS),
                                  "bluesky": NullTarget("bluesky", BLUESKY_LIMITS)})
    deep_phases = Phases()
    deep_phases.wrap(app.store, "claim_due", "store.claim_due")
    try:
        t_deep, deep_results = timed(lambda: app.deliverer.deliver_due(limit=200))
    finally:
        deep_phases.restore()
        app.close()
    per_deep = t_deep.cpu / len(deep_results)
    claim_deep = deep_phases.cpu["store.claim_due"] / len(deep_results)

    # -- the real loopback targets --------------------------------------------
    token = secrets.token_hex(12)
    masto = MastodonProcess(token)
    pds = None
    why_no_pds = missing_reason()
    handle, password = f"bench{secrets.token_hex(3)}.test", secrets.token_urlsafe(12)
    try:
        if why_no_pds is None:
            try:
                pds = start_pds()
                pds.create_account(handle, password)
            except PdsUnavailable as exc:
                why_no_pds = str(exc)[:200]
        d = folder / "real"
        d.mkdir()
        cfg = _config(d, masto.url, pds.url if pds else None, handle)
        names = ["mastodon", "bluesky"] if pds else ["mastodon"]
        _queue(d / "state.db", n, names)
        app = App(load(cfg, {"BENCH_MASTODON_TOKEN": token, "BENCH_BLUESKY_PASSWORD": password}),
                  environ={"BENCH_MASTODON_TOKEN": token, "BENCH_BLUESKY_PASSWORD": password})
        if sorted(app.targets) != sorted(names):
            raise RuntimeError(f"targets built: {sorted(app.targets)}, skipped: {app.skipped}")
        inside = Phases()
        walls: dict[str, float] = {}
        for name, adapter in app.targets.items():
            for method in ("deliver", "lookup", "limits"):
                inside.wrap(adapter, method, name)
            original = adapter.deliver

            def deliver(draft: object, key: str, _orig=original, _name=name) -> object:
                t0 = time.perf_counter()
                try:
                    return _orig(draft, key)
                finally:
                    walls[_name] = walls.get(_name, 0.0) + time.perf_counter() - t0

            adapter.deliver = deliver  # type: ignore[method-assign]
        try:
            t_real, real_results = _drain(app)
        finally:
            app.close()
    finally:
        masto.close()
        if pds is not None:
            pds.stop()

    by_target = {name: sum(1 for r in real_results if r.target == name) for name in names}
    sdk_cpu = sum(inside.cpu.values())
    ours_real = (t_real.cpu - sdk_cpu) / len(real_results)
    rate = len(real_results) / t_real.wall
    per_target = "; ".join(
        f"{name}: {by_target[name]} posts, {walls[name] / by_target[name] * 1000:.1f} ms wall per post "
        f"({by_target[name] / walls[name]:.0f}/s alone), SDK+adapter CPU "
        f"{inside.cpu[name] / by_target[name] * 1000:.2f} ms/post"
        for name in names)
    notes = [
        f"floor: {len(results)} deliveries ({n} articles x 2 targets) to zero-latency in-process targets, "
        f"process CPU per delivery; wall {ms(t_null.wall / len(results))}/delivery; "
        f"{phases.summary(t_null.cpu)}",
        f"real: {len(real_results)} deliveries drained in {t_real.wall:.1f} s = {rate:.0f} posts/s "
        f"(Deliverer.deliver_due: one thread per target); our CPU per post = (process CPU {t_real.cpu:.2f} s - CPU inside "
        f"adapters {sdk_cpu:.2f} s) / posts = {ms(ours_real)}",
        per_target,
        "Mastodon: tests/servers/mastodon.py in its own process, rate budget raised to 1,000,000/300 s "
        "(with its default 300 per 300 s the queue would drain at that pace)",
    ]
    if pds is None:
        notes.append(f"Bluesky half skipped: {why_no_pds}")
    else:
        notes.append("Bluesky: the reference PDS (@atproto/pds, node, tests/pds) with its default limits; "
                     "each post is one createRecord (a getRecord only before a retry at a key already sent)")
    return [
        Line("6a", f"delivery overhead/post, {n} x 2 targets", ms(per_null), f"target < {ms(TARGET)}",
             per_null / TARGET, per_null < TARGET and ours_real < TARGET, notes=notes),
        Line("6b", "delivery rate, loopback targets", f"{rate:.0f} posts/s",
             "what the servers allow (no floor)", None, None,
             notes=[f"{len(real_results)} posts to {' + '.join(names)}; with real targets our CPU is "
                    f"{ms(ours_real)}/post (see 6a)"]),
        Line("6c", f"delivery overhead/post, {deep} queued", ms(per_deep), f"(6a's target {ms(TARGET)}, for info)",
             per_deep / TARGET, None, notes=[
                 f"the first {len(deep_results)} of {deep} queued deliveries (200 per target thread) to zero-latency "
                 f"targets; store.claim_due alone "
                 f"{ms(claim_deep)} per delivery (6a: {ms(phases.cpu['store.claim_due'] / len(results))} with "
                 f"{2 * n} queued)"]),
    ]
