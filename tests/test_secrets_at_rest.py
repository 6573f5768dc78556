"""Issue 12, item 4: secrets at rest.

The state database holds the Bluesky session (access and refresh JWTs): it and its ``-wal``
and ``-shm`` files are created 0600 in a 0700 directory whatever the umask, and a state left
with wider permissions is tightened when it is opened, with one warning.  The session's tokens
never appear in ``status --json``, the API, the logs or the metrics.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import stat
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from syndicate.store import Store

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def umask(value: int):
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def test_new_state_is_0600_in_a_0700_directory_under_umask_022(tmp_path):
    path = tmp_path / "state" / "syndicate.db"
    with umask(0o022):
        store = Store(path)
        try:
            store.set_meta("probe", "1")  # a write: the -wal and -shm files exist now
            assert (tmp_path / "state" / "syndicate.db-wal").exists()
            assert (tmp_path / "state" / "syndicate.db-shm").exists()
            assert {p.name: oct(mode(p)) for p in path.parent.iterdir()} == {
                "syndicate.db": "0o600", "syndicate.db-wal": "0o600", "syndicate.db-shm": "0o600"}
            assert oct(mode(path.parent)) == "0o700"
        finally:
            store.close()


def test_a_umask_that_would_lock_the_owner_out_still_gives_0600(tmp_path):
    path = tmp_path / "state.db"
    with umask(0o277):  # would make a new file read-only for its owner
        store = Store(path)
        try:
            store.set_meta("probe", "1")
        finally:
            store.close()
    assert oct(mode(path)) == "0o600"


def test_an_existing_wider_state_is_tightened_with_one_warning(tmp_path, caplog):
    path = tmp_path / "syndicate.db"
    with umask(0o022):
        Store(path).close()
        os.chmod(path, 0o644)  # as an older syndicate left it
        leftover = sqlite3.connect(path)  # an open connection keeps -wal and -shm, as after a crash
        leftover.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
        for side in ("-wal", "-shm"):
            os.chmod(f"{path}{side}", 0o664)
        try:
            with caplog.at_level(logging.WARNING):
                Store(path).close()
        finally:
            leftover.close()
    assert oct(mode(path)) == "0o600"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    line = warnings[0].getMessage() + " " + " ".join(f"{k}={v}" for k, v in vars(warnings[0]).items()
                                                     if k in ("file", "was", "now"))
    assert str(path) in line and "0644" in line and "0600" in line
    assert re.search(r"-wal", line) and re.search(r"-shm", line)
    with caplog.at_level(logging.WARNING):
        caplog.clear()
        Store(path).close()  # now private: nothing more to say
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_an_existing_directory_is_left_as_it_is(tmp_path):
    """The directory may be shared (a Docker volume, a working directory): only our files change."""
    os.chmod(tmp_path, 0o755)
    with umask(0o022):
        Store(tmp_path / "state.db").close()
    assert oct(mode(tmp_path)) == "0o755"
    assert oct(mode(tmp_path / "state.db")) == "0o600"


def test_in_memory_store_needs_no_file(tmp_path):
    store = Store(":memory:")
    store.set_meta("a", "b")
    assert store.get_meta("a") == "b"
    store.close()
    assert not Path(":memory:").exists()


# --- the Bluesky session's tokens stay in the state database ------------------------------------

JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


@pytest.mark.pds
def test_the_bluesky_session_tokens_appear_nowhere_but_the_state(tmp_path, pds):
    """Post through the real PDS, then look for the session's JWTs in everything an operator or
    an editor can see: the captured logs (debug, every logger), ``status --json``, the API's
    answers, the editors' page, the metrics and the health check."""
    import io
    import secrets
    from datetime import UTC, datetime

    import httpx

    from syndicate.app import App
    from syndicate.config import load_config
    from syndicate.logs import KeyValueFormatter
    from syndicate.models import Article
    from syndicate.web import create_app, serve
    from tests.helpers import run_cli

    password, api_token = secrets.token_urlsafe(12), secrets.token_urlsafe(24)
    _, handle = pds.create_account(f"r{secrets.token_hex(5)}.test", password)
    config_path = tmp_path / "feeds.yaml"
    state = tmp_path / "state" / "syndicate.db"
    config_path.write_text(f"""
state: {state}
feeds:
  - name: acr
    url: https://example.org/feed/
targets:
  bsky:
    kind: bluesky
    service: {pds.url}
    handle: {handle}
    password_env: TEST_BSKY_PASSWORD
    link_card: false
output:
  enabled: false
listen:
  api_token_env: TEST_API_TOKEN
""")
    env = {"TEST_BSKY_PASSWORD": password, "TEST_API_TOKEN": api_token}
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    seen: dict[str, str] = {}
    try:
        app = App(load_config(config_path, env), environ=env)
        try:
            article = Article(feed="acr", id="guid-1", link="https://example.org/one/", title="One",
                              published=datetime(2025, 1, 2, tzinfo=UTC), fingerprint="h1",
                              standfirst="A standfirst.")
            app.store.ingest("acr", new=[article], updated=[], queue={"guid-1": ["bsky"]})
            [result] = app.deliverer.deliver_due()
            assert result.outcome == "sent", result
            article_id = app.store.find_article_id("guid-1")
            with serve(create_app(app, api_token=api_token), "127.0.0.1", 0) as listener, \
                    httpx.Client(base_url=listener.url, timeout=10) as http:
                bearer = {"Authorization": f"Bearer {api_token}"}
                for path in ("/api/articles", f"/api/articles/{article_id}"):
                    answer = http.get(path, headers=bearer)
                    assert answer.status_code == 200, answer.text
                    seen[f"GET {path}"] = answer.text
                seen["GET /metrics"] = http.get("/metrics").text
                seen["GET /healthz"] = http.get("/healthz").text
                assert http.post("/login", data={"token": api_token}).status_code == 303
                page = http.get("/")
                assert "One" in page.text
                seen["GET / (signed in)"] = page.text
        finally:
            app.close()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    seen["logs"] = captured.getvalue()
    assert "posted" in seen["logs"]
    status = run_cli("status", "--json", config_path=config_path, env=env)
    assert status.returncode == 0, status.stderr
    seen["status --json"] = status.stdout + status.stderr

    db = sqlite3.connect(state)
    try:
        [stored] = [row[0] for row in db.execute("SELECT data FROM sessions")]
    finally:
        db.close()
    tokens = JWT.findall(stored)
    assert len(tokens) >= 2, "the stored session should hold an access and a refresh token"
    found = [f"session token {n} in {where}" for where, text in seen.items()
             for n, token in enumerate(tokens) if token in text]
    assert found == []
