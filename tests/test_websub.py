"""The WebSub publish ping, against a real loopback hub."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest

from syndicate.app import App
from syndicate.config import parse_config
from syndicate.models import Article
from syndicate.websub import ping


@pytest.fixture
def hub():
    received: list[list[tuple[str, str]]] = []
    status = {"code": 204}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            received.append(parse_qsl(body))
            self.send_response(status["code"])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", received, status
    server.shutdown()
    server.server_close()


def test_ping_publishes_each_topic(hub):
    url, received, _ = hub
    assert ping(url, ["https://m.example/feed.xml", "https://m.example/feed.atom"], user_agent="t")
    assert received == [[("hub.mode", "publish"), ("hub.url", "https://m.example/feed.xml"),
                         ("hub.url", "https://m.example/feed.atom")]]


def test_refused_or_unreachable_hub_is_one_log_line(hub, caplog):
    url, _, status = hub
    status["code"] = 400
    assert not ping(url, ["https://m.example/feed.xml"], user_agent="t")
    assert not ping("http://127.0.0.1:9/", ["https://m.example/feed.xml"], user_agent="t", timeout=1)
    assert [r.getMessage() for r in caplog.records] == ["websub ping refused", "websub ping failed"]


def app_with_one_article(tmp_path, hub_url: str, self_url: str) -> App:
    """An App whose output feed announces itself at ``self_url`` to the hub, with one article."""
    cfg = parse_config(f"""
state: {tmp_path / 's.db'}
feeds: [{{name: acr, url: "https://e.org/feed"}}]
output: {{dir: "{tmp_path / 'out'}", self_url: "{self_url}", websub_hub: "{hub_url}"}}
""", environ={})
    app = App(cfg, targets={})
    app.store.ingest("acr", new=[Article(feed="acr", id="1", link="https://e.org/1", title="One",
                                         published=datetime(2024, 1, 1, tzinfo=UTC))], updated=[], queue={})
    return app


def test_app_pings_only_when_the_output_changed(hub, tmp_path):
    url, received, _ = hub
    app = app_with_one_article(tmp_path, url, "https://m.example/feeds/feed.xml")
    assert len(app.write_output()) == 3
    assert app.write_output() == []
    app.close()
    [topics] = received
    assert sorted(v for k, v in topics if k == "hub.url") == [
        "https://m.example/feeds/feed.atom", "https://m.example/feeds/feed.json", "https://m.example/feeds/feed.xml"]


def test_the_hub_hears_the_urls_the_feeds_declare(hub, tmp_path):
    url, received, _ = hub
    app = app_with_one_article(tmp_path, url, "https://m.example/rss")
    app.write_output()
    app.close()
    [topics] = received
    # "https://m.example/rss" is a base URL, slash or not: each file declares its own URL under it
    assert sorted(v for k, v in topics if k == "hub.url") == [
        "https://m.example/rss/feed.atom", "https://m.example/rss/feed.json", "https://m.example/rss/feed.xml"]
    assert b'href="https://m.example/rss/feed.xml"' in (tmp_path / "out" / "feed.xml").read_bytes()
    assert b'href="https://m.example/rss/feed.atom"' in (tmp_path / "out" / "feed.atom").read_bytes()
