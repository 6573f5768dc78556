"""Issue 12, item 6: the editors' sessions and wrong-token limits.

- The page's session cookie expires (``listen.session_ttl``, default 12 h): an expired cookie
  gets 401 from the API and the sign-in form from the page.
- Signing out revokes the session on the server: the old cookie no longer works.
- Rotating the API token (a reload with a new value) revokes every session.
- Each session has its own CSRF token.
- Wrong tokens, at sign-in or as a bearer token, are limited per client address (10 a minute):
  then 429 with Retry-After, even for the right token, until the minute has passed.  Each is
  logged with the address, never with the token.

Time is a fake clock given to ``create_app``; the server is the real uvicorn from ``serve``.
"""

from __future__ import annotations

import logging
import re
import signal

import httpx
import pytest

from syndicate.app import App
from syndicate.config import parse_config
from syndicate.models import Article
from syndicate.web import create_app, serve
from tests.fakes import FakeClock

TOKEN = "editors-token-0123456789abcdef"
CONFIG = """
state: {tmp}/state.db
feeds:
  - name: acr
    url: https://example.org/feed.xml
output:
  dir: {tmp}/public
"""


@pytest.fixture
def clock():
    return FakeClock(10_000.0)


@pytest.fixture
def app(tmp_path):
    from datetime import UTC, datetime

    application = App(parse_config(CONFIG.format(tmp=tmp_path), environ={}), targets={})
    application.store.ingest("acr", new=[Article(
        feed="acr", id="guid-1", link="https://example.org/1/", title="Title 1",
        published=datetime(2024, 1, 1, tzinfo=UTC), fingerprint="h1")], updated=[], queue={})
    yield application
    application.close()


@pytest.fixture
def site(app, clock):
    asgi = create_app(app, api_token=TOKEN, session_ttl=3600, clock=clock)
    with serve(asgi, "127.0.0.1", 0) as handle:
        yield asgi, handle


def client(handle, address: str = "127.0.0.1") -> httpx.Client:
    """A client whose requests come from ``address`` (any of 127.0.0.0/8 on Linux)."""
    return httpx.Client(base_url=handle.url, timeout=10,
                        transport=httpx.HTTPTransport(local_address=address))


def sign_in(http: httpx.Client, token: str = TOKEN) -> str:
    r = http.post("/login", data={"token": token})
    assert r.status_code == 303, r.text
    return http.cookies["syndicate_session"]


def csrf_of(page: str) -> str:
    return page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]


# --- expiry, sign-out, rotation ---------------------------------------------------------------


def test_the_session_cookie_expires_after_the_ttl(site, clock):
    _, handle = site
    with client(handle) as http:
        r = http.post("/login", data={"token": TOKEN})
        assert r.status_code == 303
        cookie = r.headers["set-cookie"]
        assert "Max-Age=3600" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert TOKEN not in cookie
        assert http.get("/api/articles").status_code == 200
        clock.advance(3599)
        assert http.get("/api/articles").status_code == 200
        clock.advance(2)
        expired = http.get("/api/articles")
        assert expired.status_code == 401
        assert "sign in again" in expired.json()["error"]
        page = http.get("/")
        assert 'name="token"' in page.text and "Title 1" not in page.text


def test_signing_out_revokes_the_session_on_the_server(site):
    _, handle = site
    with client(handle) as http:
        cookie = sign_in(http)
        assert http.post("/logout").status_code == 303
    with client(handle) as replay:  # someone who kept a copy of the cookie
        replay.cookies.set("syndicate_session", cookie)
        assert replay.get("/api/articles").status_code == 401
        assert 'name="token"' in replay.get("/").text


def test_rotating_the_token_revokes_every_session(site):
    asgi, handle = site
    with client(handle) as first, client(handle) as second:
        sign_in(first)
        sign_in(second)
        assert first.get("/api/articles").status_code == 200
        assert second.get("/api/articles").status_code == 200
        asgi.state.editors.set_token("a-brand-new-token-9876543210")
        assert first.get("/api/articles").status_code == 401
        assert second.get("/api/articles").status_code == 401
        assert first.get("/api/articles", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 401
        new = {"Authorization": "Bearer a-brand-new-token-9876543210"}
        assert first.get("/api/articles", headers=new).status_code == 200


def test_each_session_has_its_own_csrf_token(site, app):
    _, handle = site
    article_id = app.store.find_article_id("guid-1")
    with client(handle) as alice, client(handle) as bob:
        sign_in(alice)
        sign_in(bob)
        alice_csrf, bob_csrf = csrf_of(alice.get("/").text), csrf_of(bob.get("/").text)
        assert alice_csrf != bob_csrf
        r = bob.post(f"/api/articles/{article_id}/retry", json={}, headers={"X-CSRF-Token": alice_csrf})
        assert r.status_code == 403
        r = bob.post(f"/api/articles/{article_id}/retry", json={}, headers={"X-CSRF-Token": bob_csrf})
        assert r.status_code == 200


def test_the_session_ttl_is_configurable_and_defaults_to_12_hours(tmp_path):
    default = parse_config(CONFIG.format(tmp=tmp_path), environ={})
    assert default.listen.session_ttl == 12 * 3600
    custom = parse_config(CONFIG.format(tmp=tmp_path) + "listen:\n  session_ttl: 30m\n", environ={})
    assert custom.listen.session_ttl == 1800


# --- wrong tokens -----------------------------------------------------------------------------


def test_failed_sign_ins_are_limited_per_address(site, clock, caplog):
    _, handle = site
    with caplog.at_level(logging.WARNING, logger="syndicate.web"), \
            client(handle, "127.0.0.2") as guesser, client(handle, "127.0.0.3") as editor:
        for n in range(10):
            r = guesser.post("/login", data={"token": f"guess-number-{n}"})
            assert r.status_code == 401, n
        refused = guesser.post("/login", data={"token": TOKEN})  # even the right one, now
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "syndicate_session" not in guesser.cookies
        sign_in(editor)  # another address is not held up
        clock.advance(61)
        sign_in(guesser)  # a minute later: allowed again
    lines = [r for r in caplog.records if r.name == "syndicate.web"]
    text = "\n".join(f"{r.getMessage()} {vars(r)}" for r in lines)
    assert "127.0.0.2" in text
    assert not any(f"guess-number-{n}" in text for n in range(10))
    assert TOKEN not in text
    assert len(lines) <= 11  # one line per wrong token and one for the refusal, not one per request


def test_wrong_bearer_tokens_are_limited_per_address(site, clock, caplog):
    _, handle = site
    with caplog.at_level(logging.WARNING, logger="syndicate.web"), client(handle, "127.0.0.4") as http:
        for n in range(10):
            r = http.get("/api/articles", headers={"Authorization": f"Bearer wrong-{n}-{TOKEN}"})
            assert r.status_code == 401, n
        for _ in range(3):
            r = http.get("/api/articles", headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 429
            assert r.json()["error"].startswith("too many wrong tokens")
            assert int(r.headers["retry-after"]) >= 1
        assert http.post("/login", data={"token": TOKEN}).status_code == 429  # the same limit
        clock.advance(60)
        assert http.get("/api/articles", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    text = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "127.0.0.4" in text
    assert "wrong-" not in text and TOKEN not in text


def test_a_right_token_does_not_count_and_old_failures_age_out(site, clock):
    _, handle = site
    with client(handle, "127.0.0.5") as http:
        for n in range(9):  # at 0, 5, … 40 s
            assert http.post("/login", data={"token": f"typo-{n}"}).status_code == 401
            clock.advance(5)
        sign_in(http)  # the right token is let through and not counted
        clock.advance(30)  # at 75 s the failures of 0, 5, 10 and 15 s are over a minute old
        for n in range(5):  # 5 + 5 = 10: the last one reaches the limit
            assert http.post("/login", data={"token": f"again-{n}"}).status_code == 401
        assert http.get("/api/articles", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 429
        clock.advance(60)
        for n in range(9):
            assert http.post("/login", data={"token": f"again-{n}"}).status_code == 401
        assert http.get("/api/articles", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


# --- the real daemon: a reload with a rotated token -------------------------------------------


def test_a_reload_with_a_rotated_token_file_revokes_the_sessions(tmp_path, feed_server, spawn_daemon,
                                                                   acr_rss):
    feed_server.set_feed("/feed/", acr_rss)
    token_file = tmp_path / "api_token"
    token_file.write_text("first-token-abcdefghijklmnop\n")
    config = tmp_path / "feeds.yaml"
    config.write_text(f"""
state: {tmp_path / 'state.db'}
poll_interval: 1h
feeds:
  - name: acr
    url: {feed_server.url('/feed/')}
output:
  dir: {tmp_path / 'public'}
listen:
  enabled: true
  port: 0
  session_ttl: 2h
""")
    daemon = spawn_daemon(config, "run", env={"SYNDICATE_API_TOKEN_FILE": str(token_file)})
    line = daemon.wait_for_line("listening")
    assert line, daemon.output
    url = re.search(r"url=(\S+)", line).group(1)
    with httpx.Client(base_url=url, timeout=10) as http:
        r = http.post("/login", data={"token": "first-token-abcdefghijklmnop"})
        assert r.status_code == 303 and "Max-Age=7200" in r.headers["set-cookie"]
        assert http.get("/api/articles").status_code == 200
        token_file.write_text("second-token-qrstuvwxyz012345\n")
        mark = len(daemon.lines)
        daemon.signal(signal.SIGHUP)
        assert daemon.wait_for_line("configuration reloaded", start=mark), daemon.output
        assert http.get("/api/articles").status_code == 401
        assert http.get("/api/articles", headers={
            "Authorization": "Bearer first-token-abcdefghijklmnop"}).status_code == 401
        assert http.get("/api/articles", headers={
            "Authorization": "Bearer second-token-qrstuvwxyz012345"}).status_code == 200
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(20) == 0
    assert "first-token" not in daemon.output and "second-token" not in daemon.output
