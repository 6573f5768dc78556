"""Figure 11: a changed feed costs what changed (``parse.fast``, the lxml fast path).

11a: ``parse_feed`` of a fresh 1,000-item WordPress feed (1.46 MB: every entry read,
ids, links, fingerprints) against ``feedparser.parse`` of the same bytes.
11b: the same feed a poll later with one new entry on top, read the way the pipeline reads
a feed it has read before (``stop_at``: the store asked, entry by entry, whether it knows
it unchanged), against the same ``feedparser.parse``.
11c/11d: the same for the same posts as WordPress's Atom feed writes them (``xml:base``,
``xml:lang``, html summary and content, threading links); 11e/11f as an RSS 1.0 (RDF) feed.
Process CPU, best of ``reps``, taken in turn; notes: the lxml parse alone (the floor under
both), and the whole cycle for each.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import feedparser

from bench.common import Line, load, secs, write_config
from bench.context import Context
from bench.gen import rdf_feed, wordpress_atom_feed, wordpress_feed

FRESH = 0.3
ONE_NEW = 0.05


@dataclass(frozen=True)
class _Format:
    keys: tuple[str, str]  # the figures' keys: fresh, one new
    name: str
    make: Callable[[int], bytes]
    content_type: str
    start: bytes  # how an entry starts, and ends
    end: bytes
    ident: bytes | None  # a pattern for its id, when that is not its link


FORMATS = (
    _Format(("11a", "11b"), "RSS", lambda n: wordpress_feed(n, seed=1), "application/rss+xml; charset=UTF-8",
            b"<item>", b"</item>", rb"<guid[^>]*>([^<]+)</guid>"),
    _Format(("11c", "11d"), "Atom", lambda n: wordpress_atom_feed(n, seed=1),
            "application/atom+xml; charset=UTF-8", b"\t<entry>", b"</entry>", rb"<id>([^<]+)</id>"),
    _Format(("11e", "11f"), "RDF", lambda n: rdf_feed(n, seed=1), "application/rdf+xml; charset=UTF-8",
            b"<item rdf:about=", b"</item>", None),
)


def _cpu(fn: object) -> float:
    import gc

    gc.collect()
    t0 = time.process_time()
    fn()  # type: ignore[operator]
    return time.process_time() - t0


def _one_more(feed: bytes, fmt: _Format) -> bytes:
    """``feed`` with a copy of its first entry on top, under a new id and link."""
    start = feed.index(fmt.start)
    end = feed.index(fmt.end, start) + len(fmt.end)
    item = feed[start:end]
    link = re.search(rb"<link>([^<]+)</link>", item) or re.search(rb'<link rel="alternate"[^>]* href="([^"]+)"', item)
    assert link
    fresh = item
    if fmt.ident is not None:
        ident = re.search(fmt.ident, item)
        assert ident
        fresh = fresh.replace(ident.group(1), ident.group(1) + b"-new")
    fresh = fresh.replace(link.group(1), link.group(1) + b"new/")
    return feed[:start] + fresh + b"\n\t" + feed[start:]


def run(ctx: Context) -> list[Line]:
    lines: list[Line] = []
    for fmt in FORMATS:
        lines.extend(_figures(ctx, fmt))
    return lines


def _figures(ctx: Context, fmt: _Format) -> list[Line]:
    from lxml import etree

    from syndicate.app import App
    from syndicate.parse import parse_feed

    n, reps = ctx.sizes.ingest_items, ctx.sizes.ingest_reps
    folder = ctx.tmp / f"parse-{fmt.name.lower()}"
    folder.mkdir()
    old = fmt.make(n)
    new = _one_more(old, fmt)  # the same feed with one new entry on top
    headers = {"content-type": fmt.content_type}
    base = "https://acr.example.org/feed/"
    file = folder / "feed.xml"
    file.write_bytes(old)
    path = f"/parse-{fmt.name.lower()}/feed/"
    ctx.server.set_feed(path, file)
    cfg = write_config(folder / "feeds.yaml", state=folder / "state.db",
                       feeds=[("wp", ctx.server.url(path))], out=folder / "public")
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
        if not got.entries or not got.entries[0].link.endswith("new/") or len(got.entries) > 10:
            raise RuntimeError(f"{fmt.name}, one new entry: read {len(got.entries)}, first {got.entries[:1]}")
        fp, fresh, one, lx = [], [], [], []
        for _ in range(reps):
            fp.append(_cpu(lambda: feedparser.parse(old, sanitize_html=False, resolve_relative_uris=False)))
            fresh.append(_cpu(lambda: parse_feed("wp", old, base_url=base, headers=headers)))
            one.append(_cpu(lambda: parse_feed("wp", new, base_url=base, headers=headers, stop_at=stop)))
            lx.append(_cpu(lambda: etree.fromstring(old)))
        file.write_bytes(new)
        ctx.server.set_feed(path, file)
        one_cycle = _cpu(lambda: app.run_cycle(all_feeds=True))
    finally:
        app.close()
    f, a, b = min(fp), min(fresh), min(one)
    size = f"{len(old) / 1e6:.2f} MB"
    notes = [f"best of {reps}, in turn; feedparser.parse with its sanitiser and URI resolver off, as "
             f"parse_feed runs it; lxml's own parse of the bytes {secs(min(lx))}",
             f"whole cycles (App.run_cycle, fetch to store): fresh {secs(fresh_cycle)}; one new entry "
             f"{secs(one_cycle)}",
             f"one new entry: {len(got.entries)} entries read (the new one, then the known ones in a row "
             f"that end the read), the store asked in {queries}"]
    label = "items" if fmt.name == "RSS" else fmt.name
    return [
        Line(fmt.keys[0], f"parse fresh {n} {label} ({size})", secs(a),
             f"floor feedparser {secs(f)}, <={FRESH}x", a / f, a / f <= FRESH, notes=notes),
        Line(fmt.keys[1], f"parse {n} {label}, one new", secs(b), f"floor feedparser {secs(f)}, <={ONE_NEW}x",
             b / f, b / f <= ONE_NEW),
    ]
