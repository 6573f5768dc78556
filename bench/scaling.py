"""Figure 4: a cycle ingesting 1,000 new entries, store of 1,000 vs 1,000,000 articles."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from bench.common import Line, Timing, best, load, ms, secs, timed, write_config
from bench.context import Context
from bench.gen import articles, wordpress_feed
from bench.phases import Phases

TARGET = 1.10
FEED = "bench"
TARGET_EXTRA = """targets:
  mastodon:
    kind: mastodon
    instance: https://mastodon.invalid
    token_env: BENCH_NO_SUCH_TOKEN
"""


def build_store(path: Path, total: int, feed_url: str) -> float:
    """A store with ``total`` articles (over 100 other feeds) and one sent outbox row each.

    The schema comes from Store's own migrations; the rows go in with plain
    SQL: 1,000 generated rows, then INSERT … SELECT doubling.  The bench feed
    is recorded as seeded, so its new entries are queued.
    """
    from syndicate.store import Store, article_to_json

    t0 = time.perf_counter()
    store = Store(path)
    store.record_fetch_ok(FEED, feed_url, etag=None, last_modified=None, body_hash=None, final_url=None,
                          next_fetch_at=0.0, seeded=True)
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        base = min(total, 1000)
        rows = []
        for i, a in enumerate(articles("old", base, seed=5, body_chars=300)):
            rows.append((f"old{i % 100:02d}", a.id, a.link, a.title, a.published.timestamp(), a.fingerprint,
                         article_to_json(a), a.published.timestamp() + 60, a.published.timestamp() + 60))
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO articles (feed, guid, link, title, published, fingerprint, data, "
                         "first_seen_at, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        count, k = base, 0
        while count < total:
            k += 1
            conn.execute(
                "INSERT INTO articles (feed, guid, link, title, published, fingerprint, data, first_seen_at, "
                "added_at) SELECT feed, guid || '#' || :k, link || '?r=' || :k, title, published - :k * 604800, "
                "fingerprint, data, first_seen_at - :k * 604800, added_at - :k * 604800 "
                "FROM articles ORDER BY id LIMIT :n",
                {"k": k, "n": min(count, total - count)})
            count = conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        conn.execute(
            "INSERT INTO outbox (article_id, target, seq, key, state, created_at, attempts, next_attempt_at, "
            "remote_id, remote_url, sent_at) SELECT id, 'mastodon', 0, 'bench-' || id, 'sent', first_seen_at, 1, "
            "first_seen_at, 'r' || id, 'https://mastodon.invalid/@bench/' || id, first_seen_at + 5 FROM articles")
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()
    return time.perf_counter() - t0


# every store call of a cycle that reads or writes more than one feed's rows (the output feed
# reads mirror_entries since the mirror-grade feed; latest_articles is no longer a cycle's)
STORE_CALLS = ("feed_state_map", "claim_feed_states", "known", "newest_published", "articles_by_id", "apply",
               "originals_for", "crediting", "mirror_entries")


def one_cycle(cfg: Path, n_new: int) -> tuple[Timing, dict[str, float]]:
    """One cycle's CPU/wall, and the CPU of each of its store calls (the part that could scale)."""
    from syndicate.app import App

    app = App(load(cfg), targets={})
    app.ingester.active_targets = ["mastodon"]  # queue outbox rows, but deliver nothing
    phases = Phases()
    for method in STORE_CALLS:
        phases.wrap(app.store, method)
    try:
        t, result = timed(lambda: app.run_cycle(all_feeds=True))
    finally:
        phases.restore()
        app.close()
    [feed] = result.feeds
    if feed.status != "fetched" or feed.new != n_new or feed.queued != n_new:
        raise RuntimeError(f"scaling cycle read {feed}, expected {n_new} new and queued")
    return t, {method: phases.cpu.get(method, 0.0) for method in STORE_CALLS}


def run(ctx: Context) -> list[Line]:
    sizes = ctx.sizes
    folder = ctx.tmp / "scaling"
    folder.mkdir()
    url = ctx.server.url("/scale/feed/")
    small, big = folder / "small.db", folder / "big.db"
    build_small = build_store(small, sizes.scaling_small, url)
    build_big = build_store(big, sizes.scaling_big, url)
    big_mb = big.stat().st_size / 1e6

    t_small: list[tuple[Timing, dict[str, float]]] = []
    t_big: list[tuple[Timing, dict[str, float]]] = []
    for rep in range(sizes.scaling_reps):
        file = folder / f"feed{rep}.rss"
        file.write_bytes(wordpress_feed(sizes.scaling_new, seed=4, host=f"{FEED}.example.org",
                                        first_id=20_000 + rep * sizes.scaling_new))
        ctx.server.set_feed("/scale/feed/", file)
        d = folder / f"rep{rep}"
        d.mkdir()
        shutil.copyfile(small, d / "state.db")  # a fresh small store each time
        cfg_small = write_config(d / "feeds.yaml", state=d / "state.db", feeds=[(FEED, url)],
                                 out=d / "public", extra=TARGET_EXTRA)
        cfg_big = write_config(d / "big.yaml", state=big, feeds=[(FEED, url)], out=d / "public-big",
                               extra=TARGET_EXTRA)
        # alternate the order so neither store always runs on a warmer cache
        if rep % 2:
            t_big.append(one_cycle(cfg_big, sizes.scaling_new))
            t_small.append(one_cycle(cfg_small, sizes.scaling_new))
        else:
            t_small.append(one_cycle(cfg_small, sizes.scaling_new))
            t_big.append(one_cycle(cfg_big, sizes.scaling_new))
    s, b = best(t for t, _ in t_small), best(t for t, _ in t_big)
    store_s, store_b = min(sum(x.values()) for _, x in t_small), min(sum(x.values()) for _, x in t_big)
    each = ", ".join(f"{m} {min(x[m] for _, x in t_big) * 1000:.1f}/{min(x[m] for _, x in t_small) * 1000:.1f}"
                     for m in STORE_CALLS)
    ratio = b.cpu / s.cpu
    n_big = f"{sizes.scaling_big // 1000}k" if sizes.scaling_big < 1_000_000 else f"{sizes.scaling_big / 1e6:g}M"
    return [
        Line("4", f"scaling {sizes.scaling_new} new, {n_big} vs {sizes.scaling_small} art.", secs(b.cpu),
             f"floor {sizes.scaling_small}-article store {secs(s.cpu)}, <={TARGET:.2f}x", ratio, ratio <= TARGET,
             notes=[
                 f"CPU, best of {sizes.scaling_reps}; wall {secs(b.wall)} vs {secs(s.wall)} "
                 f"({b.wall / s.wall:.2f}x); each cycle fetches, parses, records {sizes.scaling_new} new "
                 "articles and queues one outbox row each",
                 f"of which store calls ({', '.join(STORE_CALLS)}): "
                 f"{ms(store_b)} vs {ms(store_s)} ({store_b / store_s:.2f}x), best of each; the rest "
                 "(fetch, parse, summarise) does not depend on the store and carries the run-to-run noise",
                 f"each store call, ms big/small (best of each): {each}",
                 f"stores built with Store's migrations + INSERT … SELECT: {sizes.scaling_big} articles "
                 f"+ {sizes.scaling_big} sent outbox rows, {big_mb:.0f} MB, in {build_big:.1f} s "
                 f"(small: {build_small:.1f} s); the big one grows by {sizes.scaling_new} per repetition",
             ]),
    ]
