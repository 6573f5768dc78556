"""Deterministic inputs: WordPress-style RSS (and the same posts as Atom and RDF) feeds, stored articles.

Everything is drawn from ``random.Random(seed)``, so the same arguments give
the same bytes on every run and every machine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from syndicate.models import Article

WORDS = (
    "rent housing tenants union strike workers wages climate ecosocialist movement organise "
    "council landlord eviction campaign solidarity public transport energy bills profit crisis "
    "capital labour democracy struggle picket nurses teachers rail pension inflation austerity "
    "budget migrants refugees border war peace resistance feminist anti-racist international "
    "assembly congress debate strategy party socialist left policy reform revolution history "
    "market state power class community water land food farm industry green future justice"
).split()
CATEGORIES = ("Britain", "Housing", "Trade unions", "Ecosocialism", "Europe", "Climate", "Economy",
              "Feminism", "Anti-racism", "International", "Ukraine", "Theory", "Reviews", "Uncategorized")
AUTHORS = ("Jo Ramsay", "Simon Hardy", "Terry Conway", "Fred Leplat", "Nadia Abbas", "Ana Ruiz",
           "Piotr Nowak", "Liam Byrne", "Keira Okafor", "Mei Lin")
SOURCES = ("Red Pepper", "Socialist Worker", "International Viewpoint", "Tribune", "Jacobin")
BASE_DATE = datetime(2023, 3, 6, 9, 30, tzinfo=UTC)


def _words(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def _sentence(rng: random.Random, lo: int = 8, hi: int = 18) -> str:
    s = _words(rng, lo, hi)
    return s[0].upper() + s[1:] + "."


def _title(rng: random.Random) -> str:
    t = _words(rng, 4, 9)
    return t[0].upper() + t[1:]


@dataclass(frozen=True)
class _Post:
    """One generated post, whatever format writes it."""

    title: str
    link: str
    n: int
    when: datetime
    author: str
    cats: list[str]
    description: str
    content: str
    comments: int


def _post(rng: random.Random, site: str, host: str, n: int, when: datetime) -> _Post:
    title = _title(rng)
    slug = title.lower().replace(" ", "-")[:32] + f"-{n}"
    link = f"https://{host}/{slug}/"
    cats = rng.sample(CATEGORIES, rng.randint(1, 4))
    author = rng.choice(AUTHORS)
    lead = _sentence(rng, 7, 11)
    paras = [" ".join(_sentence(rng, 5, 10) for _ in range(2)) for _ in range(1 + (n % 6 == 0))]
    credit = ""
    if n % 5 == 0:  # one in five is a repost with a credit line
        src = rng.choice(SOURCES)
        credit = (f'<p><em>This article was first published in <a href="https://example.org/{slug}/">'
                  f"{src}</a> on {(when - timedelta(days=2)).strftime('%-d %B %Y')}.</em></p>\n\n")
    image = (f'<figure class="wp-block-image size-large"><img decoding="async" loading="lazy" width="1024" '
             f'height="683" src="https://{host}/wp-content/uploads/2023/03/img-{n}.jpg" alt="" '
             f'class="wp-image-{n}"/></figure>\n\n') if n % 4 == 0 else ""
    body = "".join(f"<p>{p}</p>\n\n" for p in paras)
    content = f"\n{credit}<p><strong>{lead}</strong></p>\n\n{image}{body}"
    excerpt = (lead + " " + paras[0])[:110].rsplit(" ", 1)[0]
    description = (f"<p>{excerpt} [&#8230;]</p>\n<p>The post <a href=\"{link}\">{title}</a> appeared "
                   f"first on <a href=\"https://{host}\">{site}</a>.</p>\n")
    return _Post(title, link, n, when, author, cats, description, content, rng.randint(0, 9))


def _item(p: _Post, host: str) -> str:
    cat_xml = "".join(f"\t\t<category><![CDATA[{c}]]></category>\n" for c in p.cats)
    return (
        "\t<item>\n"
        f"\t\t<title>{p.title}</title>\n"
        f"\t\t<link>{p.link}</link>\n"
        f"\t\t<comments>{p.link}#respond</comments>\n"
        f"\t\t<dc:creator><![CDATA[{p.author}]]></dc:creator>\n"
        f"\t\t<pubDate>{format_datetime(p.when)}</pubDate>\n"
        f"{cat_xml}"
        f'\t\t<guid isPermaLink="false">https://{host}/?p={p.n}</guid>\n'
        f"\t\t<description><![CDATA[{p.description}]]></description>\n"
        f"\t\t<content:encoded><![CDATA[{p.content}]]></content:encoded>\n"
        f"\t\t<wfw:commentRss>{p.link}feed/</wfw:commentRss>\n"
        f"\t\t<slash:comments>{p.comments}</slash:comments>\n"
        "\t</item>\n"
    )


def _entry(p: _Post, host: str) -> str:
    """An Atom entry as WordPress's wp-atom.php writes it."""
    stamp = p.when.strftime("%Y-%m-%dT%H:%M:%SZ")
    cat_xml = "".join(f'<category scheme="https://{host}" term="{c}" />' for c in p.cats)
    return (
        "\t<entry>\n"
        f"\t\t<author>\n\t\t\t<name>{p.author}</name>\n\t\t\t\t\t</author>\n\n"
        f"\t\t<title type=\"html\"><![CDATA[{p.title}]]></title>\n"
        f'\t\t<link rel="alternate" type="text/html" href="{p.link}" />\n\n'
        f"\t\t<id>https://{host}/?p={p.n}</id>\n"
        f"\t\t<updated>{stamp}</updated>\n"
        f"\t\t<published>{stamp}</published>\n"
        f"\t\t{cat_xml}\n"
        f'\t\t<summary type="html"><![CDATA[{p.description}]]></summary>\n\n'
        f'\t\t\t\t\t<content type="html" xml:base="{p.link}"><![CDATA[{p.content}]]></content>\n\t\t\n'
        f'\t\t\t\t\t<link rel="replies" type="text/html" href="{p.link}#comments" thr:count="{p.comments}" />\n'
        f'\t\t\t<link rel="replies" type="application/atom+xml" href="{p.link}feed/atom/" '
        f'thr:count="{p.comments}" />\n'
        f"\t\t\t<thr:total>{p.comments}</thr:total>\n"
        "\t\t\t</entry>\n"
    )


def _rdf_item(p: _Post, host: str) -> str:
    """An RSS 1.0 item, as an RDF feed (Drupal, OJS, arXiv-style) writes one."""
    subjects = "".join(f"\t\t<dc:subject>{c}</dc:subject>\n" for c in p.cats)
    return (
        f'\t<item rdf:about="{p.link}">\n'
        f"\t\t<title>{p.title}</title>\n"
        f"\t\t<link>{p.link}</link>\n"
        f"\t\t<description><![CDATA[{p.description}]]></description>\n"
        f"\t\t<content:encoded><![CDATA[{p.content}]]></content:encoded>\n"
        f"\t\t<dc:creator>{p.author}</dc:creator>\n"
        f"\t\t<dc:date>{p.when.strftime('%Y-%m-%dT%H:%M:%SZ')}</dc:date>\n"
        f"{subjects}"
        "\t</item>\n"
    )


def _posts(items: int, seed: int, site: str, host: str, first_id: int) -> tuple[datetime, list[_Post]]:
    rng = random.Random(f"{seed}:{first_id}:{host}")
    newest = BASE_DATE + timedelta(hours=first_id)
    posts = []
    for k in range(items):
        n = first_id + items - 1 - k  # newest first
        posts.append(_post(rng, site, host, n, newest - timedelta(hours=k * 3, minutes=rng.randint(0, 59))))
    return newest, posts


def wordpress_feed(items: int, *, seed: int = 1, site: str = "Anti*Capitalist Resistance",
                   host: str = "acr.example.org", first_id: int = 10_000) -> bytes:
    """An RSS 2.0 feed as WordPress writes it: ``items`` entries, newest first.

    Entry ``k`` has guid ``https://HOST/?p=FIRST_ID+k``; a different
    ``first_id`` gives entries the store has never seen.
    """
    newest, posts = _posts(items, seed, site, host, first_id)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"\n'
        '\txmlns:content="http://purl.org/rss/1.0/modules/content/"\n'
        '\txmlns:wfw="http://wellformedweb.org/CommentAPI/"\n'
        '\txmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '\txmlns:atom="http://www.w3.org/2005/Atom"\n'
        '\txmlns:sy="http://purl.org/rss/1.0/modules/syndication/"\n'
        '\txmlns:slash="http://purl.org/rss/1.0/modules/slash/"\n\t>\n\n<channel>\n',
        f"\t<title>{site}</title>\n",
        f'\t<atom:link href="https://{host}/feed/" rel="self" type="application/rss+xml" />\n',
        f"\t<link>https://{host}</link>\n",
        "\t<description>Ecosocialist, internationalist, feminist, anti-racist</description>\n",
        f"\t<lastBuildDate>{format_datetime(newest)}</lastBuildDate>\n",
        "\t<language>en-GB</language>\n",
        "\t<sy:updatePeriod>\n\thourly\t</sy:updatePeriod>\n\t<sy:updateFrequency>\n\t1\t</sy:updateFrequency>\n",
        "\t<generator>https://wordpress.org/?v=6.1.1</generator>\n",
    ]
    out.extend(_item(p, host) for p in posts)
    out.append("</channel>\n</rss>\n")
    return "".join(out).encode("utf-8")


def wordpress_atom_feed(items: int, *, seed: int = 1, site: str = "Anti*Capitalist Resistance",
                        host: str = "acr.example.org", first_id: int = 10_000) -> bytes:
    """The same posts as ``wordpress_feed``, as WordPress's Atom feed writes them (``xml:base`` and
    ``xml:lang`` on the feed, html title, summary and content, threading links)."""
    newest, posts = _posts(items, seed, site, host, first_id)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?><feed\n\txmlns="http://www.w3.org/2005/Atom"\n'
        '\txmlns:thr="http://purl.org/syndication/thread/1.0"\n\txml:lang="en-GB"\n'
        f'\txml:base="https://{host}/wp-atom.php"\n\t>\n',
        f'\t<title type="text">{site}</title>\n',
        '\t<subtitle type="text">Ecosocialist, internationalist, feminist, anti-racist</subtitle>\n\n',
        f"\t<updated>{newest.strftime('%Y-%m-%dT%H:%M:%SZ')}</updated>\n\n",
        f'\t<link rel="alternate" type="text/html" href="https://{host}" />\n',
        f"\t<id>https://{host}/feed/atom/</id>\n",
        f'\t<link rel="self" type="application/atom+xml" href="https://{host}/feed/atom/" />\n\n',
        '\t<generator uri="https://wordpress.org/" version="6.1.1">WordPress</generator>\n',
    ]
    out.extend(_entry(p, host) for p in posts)
    out.append("</feed>\n")
    return "".join(out).encode("utf-8")


def rdf_feed(items: int, *, seed: int = 1, site: str = "Anti*Capitalist Resistance",
             host: str = "acr.example.org", first_id: int = 10_000) -> bytes:
    """The same posts as ``wordpress_feed``, as an RSS 1.0 (RDF) feed."""
    newest, posts = _posts(items, seed, site, host, first_id)
    seq = "".join(f'\t\t\t\t<rdf:li rdf:resource="{p.link}"/>\n' for p in posts)
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rdf:RDF\n'
        '  xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"\n  xmlns="http://purl.org/rss/1.0/"\n'
        '  xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '  xmlns:content="http://purl.org/rss/1.0/modules/content/"\n'
        '  xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">\n',
        f'\t<channel rdf:about="https://{host}/">\n\t\t<title>{site}</title>\n\t\t<link>https://{host}/</link>\n'
        "\t\t<description>Ecosocialist, internationalist, feminist, anti-racist</description>\n"
        f"\t\t<dc:language>en-GB</dc:language>\n\t\t<dc:date>{newest.strftime('%Y-%m-%dT%H:%M:%SZ')}</dc:date>\n"
        "\t\t<sy:updatePeriod>hourly</sy:updatePeriod>\n"
        f"\t\t<items>\n\t\t\t<rdf:Seq>\n{seq}\t\t\t</rdf:Seq>\n\t\t</items>\n\t</channel>\n",
    ]
    out.extend(_rdf_item(p, host) for p in posts)
    out.append("</rdf:RDF>\n")
    return "".join(out).encode("utf-8")


def articles(feed: str, count: int, *, seed: int = 1, start: int = 0, body_chars: int = 1200) -> list[Article]:
    """``count`` normalised articles of ``feed`` (for pre-populating a store)."""
    rng = random.Random(f"articles:{seed}:{feed}:{start}")
    out = []
    for i in range(start, start + count):
        when = BASE_DATE - timedelta(hours=i)
        title = _title(rng)
        body = ""
        while len(body) < body_chars:
            body += f"<p>{_sentence(rng)} {_sentence(rng)}</p>"
        out.append(Article(
            feed=feed, id=f"https://{feed}.example.org/?p={i}",
            link=f"https://{feed}.example.org/{i}/", title=title, published=when, feed_published=when,
            author=rng.choice(AUTHORS), categories=tuple(rng.sample(CATEGORIES, 2)),
            standfirst=_sentence(rng, 15, 30), content_html=body, language="en",
            fingerprint=f"{i:032x}",
        ))
    return out
