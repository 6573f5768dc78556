"""A process's first look at ``output.dir``: the files there that hold the published bytes are left
alone; one that does not (edited, cut short, the same size with other bytes) is written again."""

from __future__ import annotations

from datetime import UTC, datetime

from syndicate.app import App
from syndicate.feed_out import FEED_FILES
from syndicate.models import Article
from tests.fakes import FakeClock, make_config


def app_on(tmp_path, clock) -> App:
    cfg = make_config(tmp_path, {"acr": "https://example.org/feed.xml"}, state=str(tmp_path / "state.db"),
                      output={"dir": str(tmp_path / "public"), "link": "https://mirror.example/"})
    return App(cfg, targets={}, clock=clock)


def published(tmp_path) -> dict[str, bytes]:
    clock = FakeClock(1_750_000_000.0)
    first = app_on(tmp_path, clock)
    first.store.ingest("acr", new=[Article(feed="acr", id="guid-1", link="https://example.org/1/", title="Title 1",
                                           published=datetime(2024, 1, 1, 9, tzinfo=UTC), fingerprint="h1")],
                       updated=[], queue={})
    assert {p.name for p in first.write_output()} == set(FEED_FILES)
    first.close()
    return {name: (tmp_path / "public" / name).read_bytes() for name in FEED_FILES}


def test_the_published_files_found_there_are_left_alone(tmp_path):
    files = published(tmp_path)
    app = app_on(tmp_path, FakeClock(1_750_000_000.0 + 60))
    assert app.sync_output_dir() == []
    assert {name: (tmp_path / "public" / name).read_bytes() for name in FEED_FILES} == files
    app.close()


def test_a_file_that_differs_is_written_again_even_at_the_same_size(tmp_path):
    files = published(tmp_path)
    edited, cut = sorted(FEED_FILES)[:2]
    (tmp_path / "public" / edited).write_bytes(bytes(len(files[edited])))  # its size, other bytes
    (tmp_path / "public" / cut).write_bytes(files[cut][:10])
    app = app_on(tmp_path, FakeClock(1_750_000_000.0 + 60))
    assert sorted(p.name for p in app.sync_output_dir()) == sorted([edited, cut])
    assert {name: (tmp_path / "public" / name).read_bytes() for name in FEED_FILES} == files
    app.close()
