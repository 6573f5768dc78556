"""One re-generated feed for the fleet (issue 14, item 4), on both backends: the mirror feeds are
kept in the state (bytes and ETag per file), rebuilt by whichever worker saw a change, and every
worker's listener serves the same bytes with the same ETag; writing them to ``output.dir`` stays.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from syndicate.app import App
from syndicate.feed_out import FEED_FILES
from syndicate.models import Article
from syndicate.web import create_app, serve
from tests.fakes import FakeClock, make_config


def art(n: int) -> Article:
    return Article(feed="acr", id=f"guid-{n}", link=f"https://example.org/{n}/", title=f"Title {n}",
                   published=datetime(2024, 1, n, 9, tzinfo=UTC), fingerprint=f"h{n}",
                   standfirst=f"Standfirst {n}.", content_html=f"<p>Body {n}</p>")


def worker(tmp_path, state, name: str, clock, **output) -> App:
    cfg = make_config(tmp_path, {"acr": "https://example.org/feed.xml"}, state=state,
                      output={"dir": str(tmp_path / name), "link": "https://mirror.example/", **output})
    return App(cfg, targets={}, clock=clock)


def served(app: App) -> dict[str, httpx.Response]:
    handle = serve(create_app(app, api_token=None), "127.0.0.1", 0)
    try:
        with httpx.Client(base_url=handle.url, timeout=10) as client:
            return {name: client.get(f"/{name}", headers={"Accept-Encoding": "identity"}) for name in FEED_FILES}
    finally:
        handle.stop()


def test_every_worker_serves_the_feed_one_of_them_rebuilt(tmp_path, state_db):
    one = worker(tmp_path, state_db, "one", FakeClock(1_750_000_000.0))
    two = worker(tmp_path, state_db, "two", FakeClock(1_750_000_000.0 + 3600))  # its own build date
    one.store.ingest("acr", new=[art(1), art(2)], updated=[], queue={})
    assert {p.name for p in one.write_output()} == set(FEED_FILES)

    first, second = served(one), served(two)
    for name in FEED_FILES:
        assert first[name].status_code == second[name].status_code == 200
        assert second[name].content == first[name].content and b"Title 2" in first[name].content
        assert second[name].headers["etag"] == first[name].headers["etag"]
        assert second[name].headers["last-modified"] == first[name].headers["last-modified"]
        assert (tmp_path / "one" / name).read_bytes() == first[name].content  # output.dir too

    assert two.run_cycle().written == ()  # nothing changed: the feed is not rebuilt (nor re-dated)
    assert (tmp_path / "two" / "feed.xml").read_bytes() == first["feed.xml"].content  # but its dir has it

    two.store.ingest("acr", new=[art(3)], updated=[], queue={})
    assert {p.name for p in two.write_output()} == set(FEED_FILES)  # the worker that saw the change
    again = served(one)
    assert b"Title 3" in again["feed.xml"].content
    assert again["feed.xml"].headers["etag"] != first["feed.xml"].headers["etag"]
    assert one.run_cycle().written == () and b"Title 3" in (tmp_path / "one" / "feed.xml").read_bytes()
    one.close()
    two.close()


def test_the_feed_is_served_without_writing_output_dir(tmp_path, state_db):
    app = worker(tmp_path, state_db, "public", FakeClock(), write_dir=False)
    app.store.ingest("acr", new=[art(1)], updated=[], queue={})
    assert {p.name for p in app.write_output()} == set(FEED_FILES)  # changed, in the state
    assert not (tmp_path / "public").exists()
    feeds = served(app)
    assert feeds["feed.json"].json()["items"][0]["title"] == "Title 1"
    app.close()


def test_an_upgraded_state_takes_the_files_on_disk_as_published(tmp_path, state_db):
    """Files an earlier version wrote keep their bytes (and build date) when nothing changed."""
    from syndicate.feed_out import write_feeds

    app = worker(tmp_path, state_db, "public", FakeClock(1_750_000_000.0))
    app.store.ingest("acr", new=[art(1)], updated=[], queue={})
    out = app.config.output
    write_feeds(app.store.latest_articles(out.max_items), out, now=datetime(2025, 1, 1, tzinfo=UTC),
                site_names={"acr": "acr"})
    before = {name: (out.dir / name).read_bytes() for name in FEED_FILES}
    assert app.write_output() == []  # nothing changed
    assert {name: app.store.mirror_file(name).data for name in FEED_FILES} == before
    app.close()


@pytest.mark.parametrize("name", FEED_FILES)
def test_a_missing_feed_is_rebuilt_once_when_asked_for(tmp_path, state_db, name):
    app = worker(tmp_path, state_db, "public", FakeClock())
    app.store.ingest("acr", new=[art(1)], updated=[], queue={})
    assert served(app)[name].status_code == 200
    assert app.store.mirror_file(name) is not None
    app.close()
