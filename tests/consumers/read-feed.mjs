// Read a feed file with feedsmith, an independent parser, and print what a
// mirror importer would take from each item, as JSON on stdout.
//   node read-feed.mjs FILE rss|atom|json
import { readFileSync } from "node:fs";
import { parseAtomFeed, parseJsonFeed, parseRssFeed } from "feedsmith";

const [file, kind] = process.argv.slice(2);
const text = readFileSync(file, "utf8");
const first = (list) => (Array.isArray(list) && list.length ? list[0] : undefined);

function rss(feed) {
  return {
    title: feed.title,
    language: feed.language,
    rights: feed.copyright,
    self: (feed.atom?.links || []).find((l) => l.rel === "self")?.href,
    items: (feed.items || []).map((item) => ({
      id: item.guid?.value ?? item.guid,
      link: item.link,
      title: item.title,
      date: item.pubDate,
      author: first(item.dc?.creators) ?? item.dc?.creator,
      language: first(item.dc?.languages) ?? item.dc?.language,
      rights: first(item.dc?.rights),
      categories: (item.categories || []).map((c) => c.name),
      content: item.content?.encoded,
      source: item.source ? { title: item.source.title, url: item.source.url } : undefined,
      enclosure: first(item.enclosures) ?? item.enclosure,
      media: item.media,
    })),
  };
}

function atom(feed) {
  return {
    title: feed.title?.value ?? feed.title,
    rights: feed.rights?.value ?? feed.rights,
    self: (feed.links || []).find((l) => l.rel === "self")?.href,
    items: (feed.entries || []).map((entry) => ({
      id: entry.id,
      link: (entry.links || []).find((l) => !l.rel || l.rel === "alternate")?.href,
      title: entry.title?.value ?? entry.title,
      date: entry.published,
      updated: entry.updated,
      author: first(entry.authors)?.name,
      categories: (entry.categories || []).map((c) => c.term),
      content: entry.content?.value ?? entry.content,
      rights: entry.rights?.value ?? entry.rights,
      source: entry.source,
      enclosure: (entry.links || []).find((l) => l.rel === "enclosure"),
    })),
  };
}

function json(feed) {
  return {
    title: feed.title,
    self: feed.feed_url,
    home: feed.home_page_url,
    hubs: feed.hubs,
    items: (feed.items || []).map((item) => ({
      id: item.id,
      link: item.url,
      title: item.title,
      date: item.date_published,
      author: first(item.authors)?.name,
      language: item.language,
      categories: item.tags || [],
      content: item.content_html,
      image: item.image,
    })),
  };
}

const parse = { rss: parseRssFeed, atom: parseAtomFeed, json: parseJsonFeed }[kind];
const shape = { rss, atom, json }[kind];
const input = kind === "json" ? JSON.parse(text) : text;
process.stdout.write(JSON.stringify({ raw: parse(input), feed: shape(parse(input)) }, null, 1));
