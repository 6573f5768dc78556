"""``syndicate feed --check``: is what is on disk a feed a mirror can import?

One line per file, so an operator can check a deployment at a glance::

    feed.xml: valid RSS 2.0, 50 items
    feed.atom: valid Atom 1.0, 50 items
    feed.json: INVALID: item 3 (urn:x): date_published "yesterday" is not an RFC 3339 date

The rules are the specifications' musts (an error makes the file INVALID)
and the W3C feed validator's advice that mirrors trip over (a warning):
one source element per RSS item, an Atom ``<source>`` with its ``id`` and
``updated``, an author on every entry, a self link, no relative URL in
content, no id twice.  It reads files, never the network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import lxml.html
from lxml import etree

from syndicate.feed_out.atom import ATOM_NS
from syndicate.feed_out.items import ATOM_FILE, FEED_FILES, JSON_FILE, RSS_FILE
from syndicate.feed_out.jsonfeed import JSON_FEED_VERSION
from syndicate.feed_out.rss import CONTENT_NS, DC_NS, MEDIA_NS
from syndicate.value import field, valueclass

_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:\d\d)$")
_ABSOLUTE = re.compile(r"^(?:https?|mailto):", re.I)
_JSON_FEED_KEYS = {"version", "title", "home_page_url", "feed_url", "description", "user_comment",
                   "next_url", "icon", "favicon", "authors", "author", "language", "expired", "hubs",
                   "items"}
_JSON_ITEM_KEYS = {"id", "url", "external_url", "title", "content_html", "content_text", "summary",
                   "image", "banner_image", "date_published", "date_modified", "authors", "author",
                   "tags", "language", "attachments"}


@valueclass(frozen=False, slots=False)
class Report:
    """What one file's check found."""

    name: str
    kind: str = ""  # "RSS 2.0", "Atom 1.0", "JSON Feed 1.1"
    items: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def line(self) -> str:
        if self.errors:
            more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            return f"{self.name}: INVALID: {self.errors[0]}{more}"
        text = f"{self.name}: valid {self.kind}, {self.items} item{'' if self.items == 1 else 's'}"
        if self.warnings:
            more = f" (and {len(self.warnings) - 1} more)" if len(self.warnings) > 1 else ""
            text += f"; warning: {self.warnings[0]}{more}"
        return text


def _relative_urls(fragment: str) -> list[str]:
    if not fragment.strip():
        return []
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return []
    found = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for name in ("href", "src", "cite"):
            value = (el.get(name) or "").strip()
            if value and not _ABSOLUTE.match(value):
                found.append(value)
        for candidate in (el.get("srcset") or "").split(","):
            url = candidate.split()[0] if candidate.split() else ""
            if url and not _ABSOLUTE.match(url):
                found.append(url)
    return found


def _rfc822(text: str | None) -> bool:
    try:
        return bool(text) and parsedate_to_datetime(text or "").tzinfo is not None
    except (TypeError, ValueError, IndexError):
        return False


def _xml(data: bytes, report: Report) -> etree._Element | None:
    try:
        return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        report.errors.append(f"not well-formed XML: {exc}")
        return None


def _tag_of(el: etree._Element) -> str:
    """A parsed element's tag as text: ``rss``, or ``{namespace}feed``."""
    return etree.QName(el).text


def check_rss(data: bytes, report: Report) -> None:
    report.kind = "RSS 2.0"
    root = _xml(data, report)
    if root is None:
        return
    if root.tag != "rss" or root.get("version") != "2.0":
        report.errors.append(f"root element is <{_tag_of(root)}>, not <rss version=\"2.0\">")
        return
    ch = root.find("channel")
    if ch is None:
        report.errors.append("no <channel>")
        return
    for tag in ("title", "link", "description"):
        if not (ch.findtext(tag) or "").strip():
            report.errors.append(f"channel has no <{tag}>")
    if not any(ln.get("rel") == "self" for ln in ch.findall(f"{{{ATOM_NS}}}link")):
        report.warnings.append('no atom:link rel="self" (set output.self_url)')
    seen: set[str] = set()
    for n, item in enumerate(ch.findall("item"), start=1):
        guid = (item.findtext("guid") or "").strip()
        where = f"item {n} ({guid or item.findtext('link') or 'no guid'})"
        if not (item.findtext("title") or item.findtext("description")):
            report.errors.append(f"{where}: neither <title> nor <description>")
        if not guid:
            report.warnings.append(f"{where}: no <guid>")
        elif guid in seen:
            report.errors.append(f"{where}: guid appears twice")
        seen.add(guid)
        if not _rfc822(item.findtext("pubDate")):
            report.errors.append(f"{where}: pubDate {item.findtext('pubDate')!r} is not an RFC 822 date")
        link = (item.findtext("link") or "").strip()
        if link and not _ABSOLUTE.match(link):
            report.errors.append(f"{where}: link {link!r} is not absolute")
        if item.find("source") is not None and item.find(f"{{{DC_NS}}}source") is not None:
            report.warnings.append(f"{where}: both <source> and dc:source")
        source = item.find("source")
        if source is not None and not source.get("url"):
            report.errors.append(f"{where}: <source> without url")
        for enclosure in item.findall("enclosure"):
            if not (enclosure.get("url") and (enclosure.get("length") or "").isdigit()
                    and enclosure.get("type")):
                report.errors.append(f"{where}: <enclosure> needs url, length and type")
        for media in item.findall(f"{{{MEDIA_NS}}}content"):
            if not media.get("url"):
                report.errors.append(f"{where}: media:content without url")
        if item.find(f"{{{DC_NS}}}creator") is None and item.find("author") is None:
            report.warnings.append(f"{where}: no author")
        relative = _relative_urls(item.findtext(f"{{{CONTENT_NS}}}encoded") or "")
        if relative:
            report.warnings.append(f"{where}: relative URL in content:encoded: {relative[0]!r}")
    report.items = len(ch.findall("item"))


def check_atom(data: bytes, report: Report) -> None:
    report.kind = "Atom 1.0"
    root = _xml(data, report)
    if root is None:
        return
    a = f"{{{ATOM_NS}}}"
    if root.tag != f"{a}feed":
        report.errors.append(f"root element is {_tag_of(root)}, not an Atom <feed>")
        return
    for tag in ("id", "title", "updated"):
        if not (root.findtext(a + tag) or "").strip():
            report.errors.append(f"feed has no <{tag}>")
    if not _RFC3339.match(root.findtext(a + "updated") or "x"):
        report.errors.append("feed <updated> is not an RFC 3339 date")
    if not any(ln.get("rel") == "self" for ln in root.findall(a + "link")):
        report.warnings.append('no link rel="self" (set output.self_url)')
    feed_author = root.find(a + "author") is not None
    seen: set[str] = set()
    entries = root.findall(a + "entry")
    for n, entry in enumerate(entries, start=1):
        entry_id = (entry.findtext(a + "id") or "").strip()
        where = f"entry {n} ({entry_id or 'no id'})"
        if not entry_id:
            report.errors.append(f"{where}: no <id>")
        elif entry_id in seen:
            report.errors.append(f"{where}: id appears twice")
        seen.add(entry_id)
        if entry.find(a + "title") is None:
            report.errors.append(f"{where}: no <title>")
        for tag in ("updated", "published"):
            value = entry.findtext(a + tag)
            if (value is not None or tag == "updated") and not _RFC3339.match(value or "x"):
                report.errors.append(f"{where}: <{tag}> {value!r} is not an RFC 3339 date")
        if entry.find(a + "author") is None and not feed_author:
            report.errors.append(f"{where}: no <author>")
        source = entry.find(a + "source")
        if source is not None:
            for tag in ("id", "updated"):
                if not (source.findtext(a + tag) or "").strip():
                    report.warnings.append(f"{where}: <source> has no <{tag}>")
        content = entry.find(a + "content")
        if content is not None and content.get("type") == "html":
            relative = _relative_urls(content.text or "")
            if relative:
                report.warnings.append(f"{where}: relative URL in content: {relative[0]!r}")
    report.items = len(entries)


def _json_item(item: Any, where: str, report: Report) -> None:
    if not isinstance(item, dict):
        report.errors.append(f"{where}: not an object")
        return
    if not isinstance(item.get("id"), str) or not item["id"]:
        report.errors.append(f"{where}: no id (a non-empty string)")
    if not (isinstance(item.get("content_html"), str) or isinstance(item.get("content_text"), str)):
        report.errors.append(f"{where}: neither content_html nor content_text")
    for key in ("url", "external_url", "title", "summary", "image", "banner_image", "language"):
        if key in item and not isinstance(item[key], str):
            report.errors.append(f"{where}: {key} is not a string")
    for key in ("date_published", "date_modified"):
        if key in item and not (isinstance(item[key], str) and _RFC3339.match(item[key])):
            report.errors.append(f"{where}: {key} {item[key]!r} is not an RFC 3339 date")
    authors = item.get("authors", [])
    if not isinstance(authors, list) or not all(
            isinstance(p, dict) and any(isinstance(p.get(k), str) for k in ("name", "url", "avatar"))
            for p in authors):
        report.errors.append(f"{where}: authors must be objects with a name, url or avatar")
    elif not authors:
        report.warnings.append(f"{where}: no author")
    tags = item.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        report.errors.append(f"{where}: tags must be strings")
    for attachment in item.get("attachments", []) or []:
        if not (isinstance(attachment, dict) and isinstance(attachment.get("url"), str)
                and isinstance(attachment.get("mime_type"), str)):
            report.errors.append(f"{where}: an attachment needs url and mime_type")
    unknown = sorted(k for k in item if k not in _JSON_ITEM_KEYS and not k.startswith("_"))
    if unknown:
        report.warnings.append(f"{where}: unknown key {unknown[0]!r} (custom keys start with _)")
    content = item.get("content_html")
    relative = _relative_urls(content) if isinstance(content, str) else []
    if relative:
        report.warnings.append(f"{where}: relative URL in content_html: {relative[0]!r}")


def check_json(data: bytes, report: Report) -> None:
    report.kind = "JSON Feed 1.1"
    try:
        doc = json.loads(data)
    except ValueError as exc:
        report.errors.append(f"not JSON: {exc}")
        return
    if not isinstance(doc, dict):
        report.errors.append("not a JSON object")
        return
    if doc.get("version") != JSON_FEED_VERSION:
        report.errors.append(f"version is {doc.get('version')!r}, not {JSON_FEED_VERSION!r}")
    if not isinstance(doc.get("title"), str) or not doc["title"]:
        report.errors.append("no title")
    for key in ("home_page_url", "feed_url", "description", "language"):
        if key in doc and not isinstance(doc[key], str):
            report.errors.append(f"{key} is not a string")
    if "feed_url" not in doc:
        report.warnings.append("no feed_url (set output.self_url)")
    for hub in doc.get("hubs", []) or []:
        if not (isinstance(hub, dict) and isinstance(hub.get("type"), str)
                and isinstance(hub.get("url"), str)):
            report.errors.append("a hub needs type and url")
    unknown = sorted(k for k in doc if k not in _JSON_FEED_KEYS and not k.startswith("_"))
    if unknown:
        report.warnings.append(f"unknown key {unknown[0]!r} (custom keys start with _)")
    items = doc.get("items")
    if not isinstance(items, list):
        report.errors.append("no items list")
        return
    seen: set[str] = set()
    for n, item in enumerate(items, start=1):
        item_id = item.get("id") if isinstance(item, dict) else None
        where = f"item {n} ({item_id})"
        _json_item(item, where, report)
        if isinstance(item_id, str) and item_id in seen:
            report.errors.append(f"{where}: id appears twice")
        seen.add(str(item_id))
    report.items = len(items)


CHECKS: dict[str, Callable[[bytes, Report], None]] = {
    RSS_FILE: check_rss, ATOM_FILE: check_atom, JSON_FILE: check_json,
}


def check_file(name: str, data: bytes) -> Report:
    """Check the bytes of one of the three files (``name`` says which)."""
    report = Report(name)
    CHECKS[name](data, report)
    return report


def check_feeds(directory: Path) -> list[Report]:
    """A report for each of ``feed.xml``, ``feed.atom`` and ``feed.json`` in ``directory``."""
    reports = []
    for name in FEED_FILES:
        try:
            data = (Path(directory) / name).read_bytes()
        except OSError as exc:
            reports.append(Report(name, errors=[f"cannot read {Path(directory) / name}: {exc.strerror}"]))
            continue
        reports.append(check_file(name, data))
    return reports
