"""An article's own web page → ``Article``, for articles no feed carries any more.

An editor may repost an old article that has dropped off the feed.  Its page
still says what it is: Open Graph and ``article:*`` meta tags, JSON-LD
``datePublished``, ``<link rel=canonical>``, ``<html lang>``.  Pages are
arbitrary, often broken HTML, which is what beautifulsoup4 is for; the
article body then goes through the same ``summary`` rules as feed content
(bold lead, repost credits).  Pure: bytes in, value out.

A page is a stranger's document: its canonical link, ``og:url`` and
``og:image`` are used only when they are http(s) URLs (``summary.web_url``);
otherwise the next candidate, and in the end the URL the page was fetched
from (or no image).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bs4 import BeautifulSoup

from syndicate.models import Article
from syndicate.parse import canonical_url
from syndicate.summary import html_to_text, markup_to_text, parse_date, summarise, web_url


def _meta(soup: BeautifulSoup, *names: str) -> str | None:
    for name in names:
        tag = soup.find("meta", attrs={"property": name}) or soup.find("meta", attrs={"name": name})
        if tag and tag.get("content"):
            return " ".join(str(tag["content"]).split())
    return None


def _json_ld(soup: BeautifulSoup) -> dict[str, Any]:
    """The first JSON-LD object that looks like an article."""
    for script in soup.find_all("script", attrs={"type": "application/ld+json"}):
        try:
            data = json.loads(script.string or "")
        except (ValueError, TypeError):
            continue
        items = data.get("@graph", [data]) if isinstance(data, dict) else data
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and "datePublished" in item:
                return item
    return {}


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    text = str(value).strip()
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return parse_date(text)
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)


def _author(soup: BeautifulSoup, ld: dict[str, Any]) -> str | None:
    author = ld.get("author")
    if isinstance(author, list) and author:
        author = author[0]
    if isinstance(author, dict):
        author = author.get("name")
    if isinstance(author, str) and author.strip():
        return author.strip()
    return _meta(soup, "author", "article:author", "twitter:creator")


def article_from_page(url: str, html: bytes | str, *, feed: str, now: datetime) -> Article:
    """Read an article page's metadata; raises ``ValueError`` if it has no title."""
    soup = BeautifulSoup(html, "lxml")
    ld = _json_ld(soup)
    canonical = soup.find("link", attrs={"rel": "canonical"})
    claimed = (str(canonical["href"]) if canonical and canonical.get("href") else None, _meta(soup, "og:url"))
    link = canonical_url(next((u for u in (web_url(c, url) for c in claimed) if u), url))
    title = _meta(soup, "og:title", "twitter:title") or (
        soup.title.get_text(" ", strip=True) if soup.title else "")
    title = markup_to_text(title)
    if not title:
        raise ValueError(f"page {url}: no title found")
    body = soup.find("article") or soup.find("main") or soup.body
    summary = summarise(str(body) if body else "", _meta(soup, "og:description", "description") or "",
                        base_url=link)
    page_date = _when(_meta(soup, "article:published_time")) or _when(ld.get("datePublished"))
    if page_date is None:
        time_tag = soup.find("time", attrs={"datetime": True})
        page_date = _when(time_tag["datetime"]) if time_tag else None
    published = (summary.source.published if summary.source and summary.source.published
                 else page_date or now)
    html_tag = soup.find("html")
    language = str(html_tag.get("lang")) if html_tag and html_tag.get("lang") else None
    image = web_url(_meta(soup, "og:image", "twitter:image"), link) or summary.image
    categories = tuple(dict.fromkeys(
        str(t["content"]).strip() for t in soup.find_all("meta", attrs={"property": "article:tag"})
        if t.get("content")))
    standfirst = summary.standfirst or html_to_text(_meta(soup, "og:description", "description") or "")
    return Article(
        feed=feed, id=link, link=link, title=title, published=published, feed_published=page_date,
        author=_author(soup, ld), categories=categories, standfirst=standfirst,
        content_html=summary.content_html, image=canonical_url(image, link) if image else None,
        image_alt=(_meta(soup, "og:image:alt", "twitter:image:alt") or summary.image_alts.get(image)
                   or title) if image else None,
        source=summary.source, language=language,
        date_only=bool(summary.source and summary.source.published),  # a credit gives a day
    )


def page_image(html: bytes | str, base_url: str) -> str | None:
    """The page's Open Graph / Twitter card image, as an absolute URL."""
    soup = BeautifulSoup(html, "lxml")
    image = web_url(_meta(soup, "og:image", "og:image:url", "twitter:image"), base_url)
    return canonical_url(image) if image else None
