"""Writing the three files, and reading back what an earlier run wrote.

``changed_feeds`` renders the files whose content changed since what was
published (on disk, or in the state: ``Store.rebuild_mirror``), leaving a
file alone when only its build date would change, so its bytes (and the
ETag derived from them) are stable.  ``write_feeds`` writes them into
``output.dir``, ``write_files`` any bytes there, each atomically (a synced
temporary file, then ``os.replace``).
``recorded_dates`` reads the dates an earlier run published, so an article
the source gives no date keeps the one it was first seen at even after the
state database is lost (see ``pipeline``).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from syndicate.config import OutputConfig
from syndicate.feed_out.atom import render_atom
from syndicate.feed_out.changes import Life, select_items
from syndicate.feed_out.items import ATOM_FILE, JSON_FILE, RSS_FILE, channel, utc
from syndicate.feed_out.jsonfeed import render_json
from syndicate.feed_out.rss import render_rss
from syndicate.models import Article

# The build date, in files we wrote ourselves; a wrong match only costs a rewrite,
# since the old file is kept only when re-rendering at that date gives its very bytes.
_BUILD_DATE = {
    RSS_FILE: re.compile(rb"<lastBuildDate>([^<]{1,64})</lastBuildDate>"),
    ATOM_FILE: re.compile(rb"<updated>([^<]{1,64})</updated>"),
}


def _build_date(name: str, data: bytes) -> datetime | None:
    """The build date written in a previously rendered file, if it has one."""
    pattern = _BUILD_DATE.get(name)
    m = pattern.search(data) if pattern else None
    if m is None:
        return None
    text = m.group(1).decode("ascii", "replace").strip()
    try:
        return parsedate_to_datetime(text) if name == RSS_FILE else datetime.fromisoformat(text)
    except (ValueError, TypeError):
        return None


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a synced temporary file and ``os.replace``."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644  # mirror sites' web servers must be able to read it
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def changed_feeds(
    articles: Sequence[Article],
    output: OutputConfig,
    *,
    now: datetime,
    old: Callable[[str], bytes | None],
    site_names: Mapping[str, str] | None = None,
    life: Life | None = None,
) -> dict[str, bytes]:
    """The files whose content changed since ``old(name)`` (the bytes published so far, or None),
    rendered at ``now``: when the only difference is the build date, the old file is kept (not in
    the result), so the build date is the time the content last changed.  Pure."""
    items = select_items(articles, output.max_items, site_names, life)
    chan = channel(output)
    stones = life.tombstones if life else ()
    renderers: dict[str, Callable[[datetime], bytes]] = {
        RSS_FILE: lambda when: render_rss(items, chan, when),
        ATOM_FILE: lambda when: render_atom(items, chan, when, stones),
        JSON_FILE: lambda when: render_json(items, chan),
    }
    changed: dict[str, bytes] = {}
    for name, render in renderers.items():
        data = render(now)
        previous_bytes = old(name)
        if previous_bytes is not None:
            if previous_bytes == data:
                continue
            previous = _build_date(name, previous_bytes)
            if previous is not None and render(previous) == previous_bytes:
                continue
        changed[name] = data
    return changed


def _on_disk(directory: Path, name: str) -> bytes | None:
    try:
        return (directory / name).read_bytes()
    except FileNotFoundError:
        return None


def write_feeds(
    articles: Sequence[Article],
    output: OutputConfig,
    *,
    now: datetime,
    site_names: Mapping[str, str] | None = None,
    life: Life | None = None,
) -> list[Path]:
    """Render the feeds and write them atomically into ``output.dir`` (created if missing).

    ``articles`` as for ``render_feeds``: most recently added first.  A file
    is rewritten only when its content changed (``changed_feeds``), so its
    date, mtime and ETag stay.  Returns the paths that were (re)written.
    """
    directory = Path(output.dir)
    directory.mkdir(parents=True, exist_ok=True)
    changed = changed_feeds(articles, output, now=now, site_names=site_names,
                            old=lambda name: _on_disk(directory, name), life=life)
    return write_files(directory, changed)


def write_files(directory: Path, files: Mapping[str, bytes]) -> list[Path]:
    """Write these files into ``directory`` (created if missing), each atomically, leaving a file
    that already holds its bytes alone; the paths (re)written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, data in files.items():
        if _on_disk(directory, name) == data:
            continue
        _atomic_write(directory / name, data)
        written.append(directory / name)
    return written


def recorded_dates(directory: Path | bytes) -> dict[str, datetime]:
    """``{item id or link: date_published}`` from the ``feed.json`` an earlier run wrote (in
    ``directory``, or its bytes as the state keeps them).

    Empty when there is none or it cannot be read: this is a fallback, it
    never stops a run.
    """
    try:
        raw = directory if isinstance(directory, bytes) else (Path(directory) / JSON_FILE).read_bytes()
        doc = json.loads(raw)
        items = doc["items"] if isinstance(doc, dict) else []
    except (OSError, ValueError, KeyError):
        return {}
    dates: dict[str, datetime] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        try:
            when = utc(datetime.fromisoformat(str(item["date_published"])))
        except (KeyError, ValueError):
            continue
        for key in ("id", "url"):
            value = item.get(key)
            if isinstance(value, str) and value:
                dates.setdefault(value, when)
    return dates
