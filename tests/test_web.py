"""The HTTP listener: health, metrics, the served feeds, the editors' API and page.

Most tests talk to the real uvicorn server from ``serve()`` on 127.0.0.1:0
with httpx, so headers (ETag, gzip, cookies) are what a client really sees.
"""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime
from email.utils import formatdate

import feedparser
import httpx
import pytest

from syndicate.app import App, CycleResult
from syndicate.config import parse_config
from syndicate.delivery import DeliveryResult
from syndicate.metrics import Metrics
from syndicate.models import Article, Posted
from syndicate.pipeline import FeedResult
from syndicate.web import create_app, serve

TOKEN = "s3cret-editors-token-0123456789"
CONFIG = """
state: {tmp}/state.db
poll_interval: 15m
feeds:
  - name: acr
    url: https://example.org/feed.xml
    targets: [mastodon]
targets:
  mastodon:
    kind: mastodon
    instance: https://mastodon.example
  bluesky:
    kind: bluesky
    handle: acr.bsky.social
output:
  dir: {tmp}/public
  title: Mirror feed
  link: https://mirror.example/
"""


def art(n: int, **kw) -> Article:
    base = dict(feed="acr", id=f"guid-{n}", link=f"https://example.org/{n}/", title=f"Title {n}",
                published=datetime(2024, 1, n, 9, tzinfo=UTC), fingerprint=f"h{n}",
                author="Ian Parker", standfirst=f"Standfirst {n}.", content_html=f"<p>Body {n}</p>",
                categories=("Theory",))
    base.update(kw)
    return Article(**base)


@pytest.fixture
def app(tmp_path):
    config = parse_config(CONFIG.format(tmp=tmp_path), environ={})
    application = App(config, targets={})
    yield application
    application.close()


@pytest.fixture
def seeded(app):
    """Article 1 sent to mastodon, 2 failed on mastodon, 3 seen only."""
    store = app.store
    store.ingest("acr", new=[art(1), art(2), art(3)], updated=[],
                 queue={"guid-1": ["mastodon"], "guid-2": ["mastodon"]})
    one, two = store.claim_due("w", now=time.time(), lease_seconds=60, limit=2)
    assert store.mark_sent(one.id, "w", Posted("1001", "https://mastodon.example/@acr/1001"))
    assert store.mark_failed(two.id, "w", "HTTP 422: Text character limit of 500 exceeded")
    return app


def ids(app) -> dict[str, int]:
    return {f"guid-{n}": app.store.find_article_id(f"guid-{n}") for n in (1, 2, 3)}


@pytest.fixture
def server(seeded):
    handle = serve(create_app(seeded, api_token=TOKEN), "127.0.0.1", 0)
    yield handle
    handle.stop()


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


@pytest.fixture
def api(server):
    with httpx.Client(base_url=server.url, timeout=10,
                      headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


# --- serve() ----------------------------------------------------------------------------


def test_serve_reports_the_real_port_and_stops(app):
    handle = serve(create_app(app, api_token=None), "127.0.0.1", 0)
    assert handle.port > 0 and handle.url == f"http://127.0.0.1:{handle.port}"
    assert httpx.get(f"{handle.url}/metrics").status_code == 200
    handle.stop()
    assert not handle.thread.is_alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{handle.url}/metrics", timeout=2)


def test_serve_on_a_busy_port_fails_clearly(app):
    with serve(create_app(app, api_token=None), "127.0.0.1", 0) as first:
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{first.port}"):
            serve(create_app(app, api_token=None), "127.0.0.1", first.port)


# --- health and metrics -----------------------------------------------------------------


def test_healthz_503_before_any_cycle_and_200_after(app, client):
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json() == {"status": "unhealthy", "reason": "no cycle has run yet"}
    app.store.set_meta("last_cycle_at", repr(time.time() - 5))
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and 4 <= body["last_cycle_age"] < 60


def test_healthz_503_when_the_last_cycle_is_too_old(app, client):
    app.store.set_meta("last_cycle_at", repr(time.time() - (3 * 900 + 300) - 10))
    r = client.get("/healthz")
    assert r.status_code == 503
    assert "last cycle" in r.json()["reason"] and "limit 3000s" in r.json()["reason"]


def test_healthz_503_when_the_store_is_unreadable(seeded):
    asgi = create_app(seeded, api_token=None)
    seeded.store.close()
    with serve(asgi, "127.0.0.1", 0) as handle:
        r = httpx.get(f"{handle.url}/healthz")
    assert r.status_code == 503
    assert r.json()["reason"].startswith("store unreadable")


def test_metrics_exposition_counts_cycles_and_reads_the_store(seeded):
    metrics = Metrics()
    with serve(create_app(seeded, api_token=None, metrics=metrics), "127.0.0.1", 0) as handle:
        seeded.store.set_meta("last_cycle_at", "1700000000.5")
        metrics.observe_cycle(CycleResult(
            feeds=(FeedResult("acr", "fetched", new=3, queued=2), FeedResult("rp", "error", error="x"),
                   FeedResult("acr", "not-modified")),
            deliveries=(DeliveryResult(1, 1, "https://example.org/1/", "mastodon", "sent", "u"),
                        DeliveryResult(2, 2, "https://example.org/2/", "mastodon", "failed", None, "e"),
                        DeliveryResult(3, 3, "https://example.org/3/", "bluesky", "found", "u")),
        ))
        r = httpx.get(f"{handle.url}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    for name in ("syndicate_feed_polls_total", "syndicate_fetch_errors_total",
                 "syndicate_articles_found_total", "syndicate_posts_sent_total",
                 "syndicate_posts_failed_total", "syndicate_outbox_depth",
                 "syndicate_last_cycle_timestamp_seconds"):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
    assert 'syndicate_feed_polls_total{feed="acr",status="fetched"} 1.0' in text
    assert 'syndicate_fetch_errors_total{feed="rp"} 1.0' in text
    assert 'syndicate_articles_found_total{feed="acr"} 3.0' in text
    assert 'syndicate_posts_sent_total{target="mastodon"} 1.0' in text
    assert 'syndicate_posts_sent_total{target="bluesky"} 1.0' in text
    assert 'syndicate_posts_failed_total{target="mastodon"} 1.0' in text
    assert 'syndicate_outbox_depth{state="sent",target="mastodon"} 1.0' in text
    assert 'syndicate_outbox_depth{state="failed",target="mastodon"} 1.0' in text
    assert "syndicate_last_cycle_timestamp_seconds 1.7000000005e+09" in text
    assert "syndicate_store_readable 1.0" in text


def test_metrics_registries_are_separate(app):
    a, b = Metrics(app.store), Metrics(app.store)
    a.observe_cycle(CycleResult(feeds=(FeedResult("acr", "error"),)))
    assert b'syndicate_fetch_errors_total{feed="acr"}' in a.render()
    assert b'syndicate_fetch_errors_total{feed="acr"}' not in b.render()


# --- the served feeds -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["feed.xml", "feed.atom", "feed.json"])
def test_feed_conditional_get_with_etag_and_last_modified(client, name):
    r = client.get(f"/{name}")  # not written yet: the listener writes it once
    assert r.status_code == 200
    etag, last_modified = r.headers["etag"], r.headers["last-modified"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "max-age=" in r.headers["cache-control"]
    assert r.headers["content-type"].split(";")[0] == {
        "feed.xml": "application/rss+xml", "feed.atom": "application/atom+xml",
        "feed.json": "application/feed+json"}[name]

    r2 = client.get(f"/{name}", headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.content == b"" and r2.headers["etag"] == etag
    r3 = client.get(f"/{name}", headers={"If-Modified-Since": last_modified})
    assert r3.status_code == 304
    older = formatdate(time.time() - 86400, usegmt=True)
    assert client.get(f"/{name}", headers={"If-Modified-Since": older}).status_code == 200
    assert client.get(f"/{name}", headers={"If-None-Match": '"other"'}).status_code == 200


def test_feed_changes_its_etag_when_the_file_changes(seeded, client):
    first = client.get("/feed.xml").headers["etag"]
    seeded.store.ingest("acr", new=[art(4)], updated=[], queue={})
    assert seeded.write_output()
    r = client.get("/feed.xml", headers={"If-None-Match": first})
    assert r.status_code == 200 and r.headers["etag"] != first
    assert b"Title 4" in r.content


def test_feed_gzip_when_asked(client):
    plain = client.get("/feed.xml", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    raw = httpx.Request("GET", f"{client.base_url}/feed.xml", headers={"Accept-Encoding": "gzip"})
    with httpx.Client() as c:
        zipped = c.send(raw, stream=True)
        body = zipped.read()  # decoded by httpx
        zipped.close()
    assert zipped.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["vary"]
    assert body == plain.content
    assert zipped.headers["etag"] != plain.headers["etag"]  # a strong ETag per representation
    # Either representation's ETag validates the other's cached copy.
    again = client.get("/feed.xml", headers={"Accept-Encoding": "gzip",
                                             "If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304 and again.headers["etag"] == zipped.headers["etag"]
    assert client.get("/feed.xml", headers={"Accept-Encoding": "gzip;q=0"}).headers.get(
        "content-encoding") is None


def test_feed_gzip_body_is_real_gzip(server):
    with httpx.Client() as c:
        with c.stream("GET", f"{server.url}/feed.json", headers={"Accept-Encoding": "gzip"}) as r:
            raw = b"".join(r.iter_raw())
    assert json.loads(gzip.decompress(raw))["version"] == "https://jsonfeed.org/version/1.1"


def test_served_rss_and_atom_parse_without_bozo(client):
    for name, version in (("feed.xml", "rss20"), ("feed.atom", "atom10")):
        parsed = feedparser.parse(client.get(f"/{name}").content)
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        assert parsed.version == version
        assert [e.title for e in parsed.entries] == ["Title 3", "Title 2", "Title 1"]
        assert parsed.entries[0].link == "https://example.org/3/"
        assert parsed.entries[0].published_parsed[:3] == (2024, 1, 3)


def test_served_json_feed_structure(client):
    feed = client.get("/feed.json").json()
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(feed["title"], str) and feed["title"] == "Mirror feed"
    assert isinstance(feed["items"], list) and len(feed["items"]) == 3
    seen = set()
    for item in feed["items"]:
        assert isinstance(item["id"], str) and item["id"] and item["id"] not in seen
        seen.add(item["id"])
        assert isinstance(item.get("content_html") or item.get("content_text"), str)
        assert item["url"].startswith("https://")
        datetime.fromisoformat(item["date_published"])  # RFC 3339
        for author in item.get("authors", []):
            assert isinstance(author["name"], str)
        assert all(isinstance(t, str) for t in item.get("tags", []))
        assert "First published on" in item["content_html"]


def test_feed_disabled_is_404(tmp_path):
    config = parse_config(CONFIG.format(tmp=tmp_path) + "  enabled: false\n", environ={})
    app = App(config, targets={})
    try:
        with serve(create_app(app, api_token=TOKEN), "127.0.0.1", 0) as handle:
            r = httpx.get(f"{handle.url}/feed.xml")
        assert r.status_code == 404 and "disabled" in r.json()["error"]
    finally:
        app.close()


# --- the API: authentication ------------------------------------------------------------


ROUTES = [("GET", "/api/articles"), ("GET", "/api/articles/1"),
          ("POST", "/api/articles/1/repost"), ("POST", "/api/articles/1/retry")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_api_401_without_token(client, method, path):
    r = client.request(method, path)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "missing token" in r.json()["error"]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_api_401_with_wrong_token(client, method, path):
    for header in (f"Bearer {TOKEN}x", "Bearer wrong", f"Basic {TOKEN}", "Bearer", f"bearer {TOKEN[:-1]}",
                   "Bearer ünïcode".encode()):
        r = client.request(method, path, headers={"Authorization": header})
        assert r.status_code == 401, header
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert set(r.json()) == {"error"}


@pytest.mark.parametrize(("method", "path"), ROUTES + [("GET", "/"), ("POST", "/login")])
def test_api_and_page_are_off_without_a_token(seeded, method, path):
    with serve(create_app(seeded, api_token=None), "127.0.0.1", 0) as handle:
        r = httpx.request(method, f"{handle.url}{path}",
                          headers={"Authorization": f"Bearer {TOKEN}"}, data={"token": TOKEN})
    assert r.status_code == 404
    message = "the editors' API is off: set SYNDICATE_API_TOKEN"
    if path.startswith("/api"):
        assert r.json() == {"error": message}
    else:
        assert message in r.text.replace("&#x27;", "'")


def test_an_empty_token_is_off_not_open(seeded):
    with serve(create_app(seeded, api_token=""), "127.0.0.1", 0) as handle:
        r = httpx.get(f"{handle.url}/api/articles", headers={"Authorization": "Bearer"})
    assert r.status_code == 404


# --- the API: routes --------------------------------------------------------------------


def test_list_articles_with_deliveries(seeded, api):
    r = api.get("/api/articles")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    rows = {a["guid"]: a for a in r.json()["articles"]}
    assert set(rows) == {"guid-1", "guid-2", "guid-3"}
    [sent] = rows["guid-1"]["deliveries"]
    assert sent["state"] == "sent" and sent["url"] == "https://mastodon.example/@acr/1001"
    assert sent["attempts"] == 1 and sent["requested_by"] is None
    [failed] = rows["guid-2"]["deliveries"]
    assert failed["state"] == "failed" and "character limit" in failed["error"]
    assert rows["guid-3"]["deliveries"] == []
    assert rows["guid-1"]["published"] == "2024-01-01T09:00:00+00:00"
    assert len(api.get("/api/articles", params={"limit": 1}).json()["articles"]) == 1


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", "100000"])
def test_list_articles_bad_limit_is_400(api, limit):
    r = api.get("/api/articles", params={"limit": limit})
    assert r.status_code == 400 and "limit" in r.json()["error"]


def test_get_article_with_preview(seeded, api):
    article_id = ids(seeded)["guid-1"]
    r = api.get(f"/api/articles/{article_id}")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == article_id and body["title"] == "Title 1" and body["author"] == "Ian Parker"
    assert body["deliveries"][0]["state"] == "sent"
    [sent] = body["deliveries"][0]["history"]  # the row's history, for the detail only
    assert (sent["kind"], sent["detail"]) == ("sent", "https://mastodon.example/@acr/1001")
    listed = {a["guid"]: a for a in api.get("/api/articles").json()["articles"]}
    assert "history" not in listed["guid-1"]["deliveries"][0]
    preview = body["preview"]["mastodon"]  # the feed posts to mastodon only
    assert set(body["preview"]) == {"mastodon"}
    assert "https://example.org/1/" in preview["text"]
    assert preview["limit"] == 500 and 0 < preview["length"] <= 500
    assert isinstance(preview["notes"], list) and isinstance(preview["facets"], list)
    assert "card" in preview


@pytest.mark.parametrize("bad", ["999", "abc", "1x", "-1", "%C3%A9", "99999999999999999999999"])
def test_bad_id_is_404(api, bad):
    for method, path in [("GET", f"/api/articles/{bad}"), ("POST", f"/api/articles/{bad}/repost"),
                         ("POST", f"/api/articles/{bad}/retry")]:
        r = api.request(method, path)
        assert r.status_code == 404, (method, path)
        assert "no such article" in r.json()["error"]


def test_repost_of_a_posted_article_needs_force(seeded, api):
    article_id = ids(seeded)["guid-1"]
    r = api.post(f"/api/articles/{article_id}/repost", json={})
    assert r.status_code == 409
    body = r.json()
    assert "already posted" in body["error"] and "https://mastodon.example/@acr/1001" in body["error"]
    assert body["posted"] == [{"target": "mastodon", "url": "https://mastodon.example/@acr/1001",
                               "sent_at": body["posted"][0]["sent_at"]}]
    assert len(seeded.store.deliveries(article_id)) == 1  # nothing queued

    r = api.post(f"/api/articles/{article_id}/repost",
                 json={"force": True, "by": "Jo", "text": "Still relevant"})
    assert r.status_code == 202
    assert r.json() == {"article": article_id, "queued": ["mastodon"], "requested_by": "Jo",
                        "intro": "Still relevant"}
    rows = seeded.store.deliveries(article_id)
    assert [(d.seq, d.state, d.requested_by) for d in rows] == [(0, "sent", None), (1, "pending", "Jo")]


def test_a_repost_already_pending_or_sending_is_409_without_force(seeded, api):
    article_id = ids(seeded)["guid-3"]  # seen only
    assert api.post(f"/api/articles/{article_id}/repost", json={}).status_code == 202
    r = api.post(f"/api/articles/{article_id}/repost", json={})
    assert r.status_code == 409
    assert "already queued (mastodon pending)" in r.json()["error"]
    assert r.json()["queued"] == [{"target": "mastodon", "state": "pending"}]
    seeded.store.claim_due("w", now=time.time() + 1, lease_seconds=60)
    r = api.post(f"/api/articles/{article_id}/repost", json={})
    assert r.status_code == 409 and "already queued (mastodon sending)" in r.json()["error"]
    assert len(seeded.store.deliveries(article_id)) == 1
    assert api.post(f"/api/articles/{article_id}/repost", json={"force": True}).status_code == 202
    assert [d.state for d in seeded.store.deliveries(article_id)] == ["sending", "pending"]


def test_repost_queued_with_who_asked_and_wakes_the_daemon(seeded):
    woken = []
    article_id = ids(seeded)["guid-3"]
    with serve(create_app(seeded, api_token=TOKEN, on_queued=lambda: woken.append(1)),
               "127.0.0.1", 0) as handle:
        r = httpx.post(f"{handle.url}/api/articles/{article_id}/repost",
                       headers={"Authorization": f"Bearer {TOKEN}"},
                       json={"targets": ["bluesky", "mastodon"], "by": "Editor Ed"})
    assert r.status_code == 202 and r.json()["queued"] == ["bluesky", "mastodon"]
    rows = seeded.store.deliveries(article_id)
    assert [(d.target, d.state, d.requested_by) for d in rows] == [
        ("bluesky", "pending", "Editor Ed"), ("mastodon", "pending", "Editor Ed")]
    assert woken == [1]


def test_repost_by_defaults_to_api(seeded, api):
    article_id = ids(seeded)["guid-3"]
    assert api.post(f"/api/articles/{article_id}/repost").status_code == 202  # no body at all
    [row] = seeded.store.deliveries(article_id)
    assert (row.target, row.requested_by) == ("mastodon", "api")


@pytest.mark.parametrize(("body", "message"), [
    (b"{", "malformed JSON body"),
    (b"[1, 2]", "expected an object"),
    (b"\xff\xfe", "malformed JSON body"),
    (b'{"targets": "mastodon"}', "targets: expected a non-empty list"),
    (b'{"targets": []}', "targets: expected a non-empty list"),
    (b'{"targets": [1]}', "targets: expected a non-empty list"),
    (b'{"force": "yes"}', "force: expected true or false"),
    (b'{"text": 5}', "text: expected a string"),
    (b'{"by": ["x"]}', "by: expected a name"),
    (b'{"target": ["x"]}', "unknown field 'target'"),
])
def test_repost_malformed_body_is_400(seeded, api, body, message):
    article_id = ids(seeded)["guid-3"]
    r = api.post(f"/api/articles/{article_id}/repost", content=body,
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert message in r.json()["error"]
    assert seeded.store.deliveries(article_id) == []


def test_repost_body_too_large_is_413(seeded, api):
    article_id = ids(seeded)["guid-3"]
    r = api.post(f"/api/articles/{article_id}/repost", content=b" " * 70_000)
    assert r.status_code == 413


def test_repost_unknown_target_is_422(seeded, api):
    article_id = ids(seeded)["guid-3"]
    r = api.post(f"/api/articles/{article_id}/repost", json={"targets": ["mastodon", "myspace"]})
    assert r.status_code == 422
    assert r.json()["error"] == "target myspace: not in feeds.yaml (known: bluesky, mastodon)"
    assert seeded.store.deliveries(article_id) == []


def test_retry_requeues_a_failed_row(seeded, api):
    article_id = ids(seeded)["guid-2"]
    r = api.post(f"/api/articles/{article_id}/retry")
    assert r.status_code == 200 and r.json() == {"article": article_id, "requeued": 1}
    [row] = seeded.store.deliveries(article_id)
    assert (row.state, row.attempts) == ("pending", 0)
    assert api.post(f"/api/articles/{article_id}/retry").json()["requeued"] == 0
    # only the failed rows of that article
    assert seeded.store.deliveries(ids(seeded)["guid-1"])[0].state == "sent"


def test_retry_bad_body_and_target(seeded, api):
    article_id = ids(seeded)["guid-2"]
    assert api.post(f"/api/articles/{article_id}/retry", content=b"nope").status_code == 400
    assert api.post(f"/api/articles/{article_id}/retry", json={"target": 3}).status_code == 400
    assert api.post(f"/api/articles/{article_id}/retry", json={"target": "x"}).status_code == 422
    assert api.post(f"/api/articles/{article_id}/retry",
                    json={"target": "bluesky"}).json()["requeued"] == 0


def test_unknown_route_and_method_are_json(client):
    r = client.get("/nope")
    assert r.status_code == 404 and "no such route" in r.json()["error"]
    r = client.delete("/api/articles")
    assert r.status_code == 405 and "error" in r.json()


def test_api_follows_a_reloaded_app(seeded, tmp_path):
    """With a callable, every request uses the current App (the daemon swaps it on SIGHUP)."""
    current = {"app": seeded}
    with serve(create_app(lambda: current["app"], api_token=TOKEN), "127.0.0.1", 0) as handle:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        assert len(httpx.get(f"{handle.url}/api/articles", headers=headers).json()["articles"]) == 3
        other = parse_config(CONFIG.format(tmp=tmp_path / "other"), environ={})
        current["app"] = App(other, targets={})
        try:
            assert httpx.get(f"{handle.url}/api/articles", headers=headers).json()["articles"] == []
        finally:
            current["app"].close()


# --- the editors' page ------------------------------------------------------------------


def test_page_needs_the_token_and_escapes_everything(seeded, server):
    evil = art(5, title='<script>alert("x")</script> & co', link="javascript:alert(1)",
               id="guid-5")
    seeded.store.ingest("acr", new=[evil], updated=[], queue={})
    with httpx.Client(base_url=server.url) as c:
        login = c.get("/")
        assert login.status_code == 200 and 'name="token"' in login.text
        assert "Title 1" not in login.text  # nothing shown before the token
        wrong = c.post("/login", data={"token": "wrong"})
        assert wrong.status_code == 401 and "not right" in wrong.text
        assert "syndicate_session" not in c.cookies

        ok = c.post("/login", data={"token": TOKEN})
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert TOKEN not in cookie  # a derived value, not the token

        page = c.get("/")
        assert page.status_code == 200
        html = page.text
        assert "Title 1" in html and "https://mastodon.example/@acr/1001" in html
        assert "character limit" in html and "Preview" in html
        assert '<script>alert("x")' not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in html
        assert 'href="javascript:' not in html
        csp = page.headers["content-security-policy"]
        assert "script-src 'nonce-" in csp and "default-src 'none'" in csp

        # The cookie alone cannot change anything: the API wants the page's CSRF token too.
        article_id = ids(seeded)["guid-3"]
        r = c.post(f"/api/articles/{article_id}/repost", json={})
        assert r.status_code == 403 and seeded.store.deliveries(article_id) == []
        csrf = html.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        r = c.post(f"/api/articles/{article_id}/repost", json={}, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 202
        assert seeded.store.deliveries(article_id)[0].requested_by == "editors' page"

        out = c.post("/logout")
        assert out.status_code == 303
        assert 'name="token"' in c.get("/").text


def test_a_closed_store_is_a_json_503_not_a_crash(seeded):
    asgi = create_app(seeded, api_token=TOKEN)
    seeded.store.close()
    with serve(asgi, "127.0.0.1", 0) as handle:
        r = httpx.get(f"{handle.url}/api/articles", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 503
    assert r.json()["error"].startswith("the state database is unavailable")


# --- the routes by reference, the page's files ----------------------------------------------


NEW_ROUTES = [("GET", "/api/status"), ("GET", "/api/preview?ref=1"), ("POST", "/api/repost"),
              ("POST", "/api/retry"), ("POST", "/api/release")]


@pytest.mark.parametrize(("method", "path"), NEW_ROUTES)
def test_the_routes_by_reference_need_the_token_too(client, method, path):
    r = client.request(method, path)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")


def test_repost_by_guid_or_url(seeded, api):
    article_id = ids(seeded)["guid-3"]
    r = api.post("/api/repost", json={"ref": "https://example.org/3", "by": "Jo"})  # same link identity
    assert r.status_code == 202
    assert r.json() == {"article": article_id, "queued": ["mastodon"], "requested_by": "Jo", "intro": None}
    r = api.post("/api/repost", json={"ref": "guid-3"})
    assert r.status_code == 409 and "already queued (mastodon pending)" in r.json()["error"]
    assert api.post("/api/repost", json={}).status_code == 400
    assert api.post("/api/repost", json={"ref": 3}).status_code == 400
    missing = api.post("/api/repost", json={"ref": "guid-404"})
    assert missing.status_code == 404 and "guid-404" in missing.json()["error"]
    too_long = api.post("/api/repost", json={"ref": "guid-3", "force": True, "text": "x" * 1001})
    assert too_long.status_code == 400 and "at most 1000 characters" in too_long.json()["error"]
    assert len(seeded.store.deliveries(article_id)) == 1


def test_status_lists_feeds_and_targets_as_the_cli_does(seeded, api):
    body = api.get("/api/status").json()
    assert {a["guid"] for a in body["articles"]} == {"guid-1", "guid-2", "guid-3"}
    assert [(t["name"], t["paused"]) for t in body["targets"]] == [("bluesky", False), ("mastodon", False)]
    sent = next(a for a in body["articles"] if a["guid"] == "guid-1")["deliveries"][0]
    assert [e["kind"] for e in sent["history"]] == ["sent"]
    assert api.get("/api/status", params={"limit": "0"}).status_code == 400


def test_the_page_shows_each_deliverys_history_and_its_files_keep_the_csp(seeded, server):
    with httpx.Client(base_url=server.url) as c:
        assert c.post("/login", data={"token": TOKEN}).status_code == 303
        page = c.get("/")
        nonce = page.headers["content-security-policy"].split("script-src 'nonce-", 1)[1].split("'", 1)[0]
        assert f'<script src="/static/page.js" nonce="{nonce}">' in page.text
        assert f'<link rel="stylesheet" href="/static/page.css" nonce="{nonce}">' in page.text
        assert "<style" not in page.text and "<script>" not in page.text  # nothing inline
        histories = [h.split("</details>", 1)[0] for h in page.text.split('<details class="history">')[1:]]
        assert len(histories) == 2  # one per delivery: the sent one and the failed one
        assert any("sent: https://mastodon.example/@acr/1001" in h for h in histories)
        assert any("failed: HTTP 422: Text character limit" in h for h in histories)
        js = c.get("/static/page.js")
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
        assert js.headers["x-content-type-options"] == "nosniff" and b"X-CSRF-Token" in js.content
        assert c.get("/static/page.css").headers["content-type"].startswith("text/css")
        missing = c.get("/static/../web/page.py")
        assert missing.status_code == 404 and "error" in missing.json()


def test_errors_keep_their_headers_through_the_one_handler(client):
    r = client.delete("/api/articles")
    assert r.status_code == 405 and {m.strip() for m in r.headers["allow"].split(",")} == {"GET", "HEAD"}
    assert r.headers["cache-control"] == "no-store" and r.json() == {"error": "method DELETE not allowed here"}
