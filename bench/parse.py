"""Figure 11: a changed feed costs what changed (``parse.fast``, the lxml fast path).

11a: ``parse_feed`` of a fresh 1,000-item WordPress feed (1.46 MB: every entry read,
ids, links, fingerprints) against ``feedparser.parse`` of the same bytes.
11b: the same feed a poll later with one new entry on top, read the way the pipeline reads
a feed it has read before (``stop_at``: the store asked, entry by entry, whether it knows
it unchanged), against the same ``feedparser.parse``.
Process CPU, best of ``reps``, taken in turn; notes: the lxml parse alone (the floor under
both), and the whole cycle for each.
"""

from __future__ import annotations

import re
import time

import feedparser

from bench.common import Line, load, secs, write_config
from bench.context import Context
from bench.gen import wordpress_feed

FRESH = 0.3
ONE_NEW = 0.05


def _cpu(fn: object) -> float:
    import gc

    gc.collect()
    t0 = time.process_time()
    fn()  # type: ignore[operator]
    return time.process_time() - t0


def _one_more(feed: bytes) -> bytes:
    """``feed`` with a copy of its first item on top, under a new guid and link."""
    start = feed.index(b"<item>")
    end = feed.index(b"</item>", start) + len(b"</item>")
    item = feed[start:end]
    guid = re.search(rb"<guid[^>]*>([^<]+)</guid>", item)
    link = re.search(rb"<link>([^<]+)</link>", item)
    assert guid and link
    fresh = item.replace(guid.group(1), guid.group(1) + b"-new").replace(link.group(1), link.group(1) + b"new/")
    return feed[:start] + fresh + b"\n\t" + feed[start:]


def run(ctx: Context) -> list[Line]:
    from lxml import etree

    from syndicate.app import App
    from syndicate.parse import parse_feed

    n, reps = ctx.sizes.ingest_items, ctx.sizes.ingest_reps
    folder = ctx.tmp / "parse"
    folder.mkdir()
    old = wordpress_feed(n, seed=1)
    new = _one_more(old)  # the same feed with one new entry on top
    headers = {"content-type": "application/rss+xml; charset=UTF-8"}
    base = "https://acr.example.org/feed/"
    file = folder / "wp.rss"
    file.write_bytes(old)
    ctx.server.set_feed("/parse/feed/", file)
    cfg = write_config(folder / "feeds.yaml", state=folder / "state.db",
                       feeds=[("wp", ctx.server.url("/parse/feed/"))], out=folder / "public")
    app = App(load(cfg), targets={})
    try:
        fresh_cycle = _cpu(lambda: app.run_cycle(all_feeds=True))  # the store now knows the 1,000
        feed = app.config.feeds[0]
        known_unchanged = app.ingester._known_unchanged(feed)
        asked: list[int] = []

        def stop(entries):  # type: ignore[no-untyped-def]
            asked.append(len(entries))
            return known_unchanged(entries)
        got = parse_feed("wp", new, base_url=base, headers=headers, stop_at=stop)
        queries = f"{len(asked)} queries for {sum(asked)} entries"
        if not got.entries or not got.entries[0].id.endswith("-new") or len(got.entries) > 10:
            raise RuntimeError(f"one new entry: read {len(got.entries)}, first {got.entries[:1]}")
        fp, fresh, one, lx = [], [], [], []
        for _ in range(reps):
            fp.append(_cpu(lambda: feedparser.parse(old, sanitize_html=False, resolve_relative_uris=False)))
            fresh.append(_cpu(lambda: parse_feed("wp", old, base_url=base, headers=headers)))
            one.append(_cpu(lambda: parse_feed("wp", new, base_url=base, headers=headers, stop_at=stop)))
            lx.append(_cpu(lambda: etree.fromstring(old)))
        file.write_bytes(new)
        ctx.server.set_feed("/parse/feed/", file)
        one_cycle = _cpu(lambda: app.run_cycle(all_feeds=True))
    finally:
        app.close()
    f, a, b = min(fp), min(fresh), min(one)
    notes = [f"best of {reps}, in turn; feedparser.parse with its sanitiser and URI resolver off, as "
             f"parse_feed runs it; lxml's own parse of the bytes {secs(min(lx))}",
             f"whole cycles (App.run_cycle, fetch to store): fresh {secs(fresh_cycle)}; one new entry "
             f"{secs(one_cycle)}",
             f"one new entry: {len(got.entries)} entries read (the new one, then the known ones in a row "
             f"that end the read), the store asked in {queries}"]
    return [
        Line("11a", f"parse fresh {n} items (1.46 MB)", secs(a), f"floor feedparser {secs(f)}, <={FRESH}x",
             a / f, a / f <= FRESH, notes=notes),
        Line("11b", f"parse {n} items, one new", secs(b), f"floor feedparser {secs(f)}, <={ONE_NEW}x",
             b / f, b / f <= ONE_NEW),
    ]
