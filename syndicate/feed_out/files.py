"""Writing the three files, and reading back what an earlier run wrote.

``write_feeds`` writes each file atomically (a synced temporary file, then
``os.replace``) and leaves a file alone when only its build date would
change, so its mtime (and the ETag a server derives from it) is stable.
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
from syndicate.feed_out.items import ATOM_FILE, JSON_FILE, RSS_FILE, channel, select, utc
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


def write_feeds(
    articles: Sequence[Article],
    output: OutputConfig,
    *,
    now: datetime,
    site_names: Mapping[str, str] | None = None,
) -> list[Path]:
    """Render the feeds and write them atomically into ``output.dir`` (created if missing).

    ``articles`` as for ``render_feeds``: most recently added first.  A file
    is rewritten only when its content changed: when the only difference is
    the build date, the old file (and its date, mtime and ETag) is kept, so
    the build date is the time the content last changed.  Returns the paths
    that were (re)written.
    """
    directory = Path(output.dir)
    directory.mkdir(parents=True, exist_ok=True)
    items = select(articles, output.max_items, site_names)
    chan = channel(output)
    renderers: dict[str, Callable[[datetime], bytes]] = {
        RSS_FILE: lambda when: render_rss(items, chan, when),
        ATOM_FILE: lambda when: render_atom(items, chan, when),
        JSON_FILE: lambda when: render_json(items, chan),
    }
    written: list[Path] = []
    for name, render in renderers.items():
        path = directory / name
        data = render(now)
        try:
            old = path.read_bytes()
        except FileNotFoundError:
            old = None
        if old is not None:
            if old == data:
                continue
            previous = _build_date(name, old)
            if previous is not None and render(previous) == old:
                continue
        _atomic_write(path, data)
        written.append(path)
    return written


def recorded_dates(directory: Path) -> dict[str, datetime]:
    """``{item id or link: date_published}`` from the ``feed.json`` an earlier run wrote.

    Empty when there is none or it cannot be read: this is a fallback, it
    never stops a run.
    """
    try:
        doc = json.loads((Path(directory) / JSON_FILE).read_bytes())
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
