"""The loopback Mastodon server behaves as Mastodon does, for what syndicate uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mastodon import Mastodon
from mastodon.errors import MastodonNetworkError, MastodonRatelimitError, MastodonUnauthorizedError

from tests.fakes import FakeClock
from tests.servers.mastodon import Fault, MastodonServer, countable_text, status_length

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LONG_URL = "https://example.org/2024/05/01/a-very-long-article-address-that-goes-on-and-on?utm=x"


@pytest.fixture
def server():
    with MastodonServer(token=TOKEN) as srv:
        yield srv
    assert not srv.errors, srv.errors[0]


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, timeout=5) as client:
        yield client


def client_for(server, token=TOKEN, timeout=5.0):
    client = Mastodon(api_base_url=server.url, ratelimit_method="throw", request_timeout=timeout,
                      version_check_mode="none")
    client.access_token = token
    return client


def post(http, text, headers=None, **params):
    return http.post("/api/v1/statuses", data={"status": text, **params}, headers={**AUTH, **(headers or {})})


# --- counting as StatusLengthValidator -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", 5),
        ("e\u0301te\u0301", 3),  # combining accents belong to their letter
        ("👨‍👩‍👧‍👦", 1),  # a ZWJ family is one grapheme
        ("🇬🇧🇫🇷", 2),  # flags: pairs of regional indicators
        ("👍🏽", 1),  # skin tone modifier
        ("a\r\nb", 3),  # CR LF is one grapheme
        (LONG_URL, 23),  # every URL is 23, however long
        ("see https://a.example/x.", 4 + 23 + 1),  # the full stop ends the sentence, not the URL
        ("(https://example.org/wiki/Foo_(bar))", 1 + 23 + 1),  # balanced parentheses belong to it
        ("example.org/no-scheme", 21),  # without a scheme it counts as typed
        ("http://127.0.0.1:8080/some/longer/path", 38),  # an IP address is no domain to twitter-text
        ("@alice@social.example.org hi", len("@alice hi")),  # a mention's domain is free
        ("   ", 0),  # blank text counts nothing
    ],
)
def test_status_length_counts_as_mastodon(text, expected):
    assert status_length(text) == expected


def test_spoiler_text_counts_against_the_limit():
    assert status_length("body", spoiler_text="CW: politics") == 4 + 12
    assert countable_text(f"a {LONG_URL} b", url_length=30) == "a " + "x" * 30 + " b"


def test_limit_enforced_at_exactly_max_characters(server, http):
    emoji = "👩🏽‍💻"
    fits = emoji * 400 + "a" * 76 + " " + LONG_URL  # 400 + 76 + 1 + 23 = 500
    assert status_length(fits) == 500
    assert post(http, fits).status_code == 200
    r = post(http, fits + "!")
    assert r.status_code == 422
    assert r.json() == {"error": "Validation failed: Text character limit of 500 exceeded"}
    assert [s["text"] for s in server.statuses] == [fits]


def test_limit_includes_the_spoiler_text(http):
    r = post(http, "a" * 495, spoiler_text="123456")
    assert r.status_code == 422
    assert post(http, "a" * 494, spoiler_text="123456").status_code == 200


def test_limit_follows_the_configured_max_and_url_length(server, http):
    server.max_characters = 1000
    server.characters_reserved_per_url = 30
    text = "b" * (1000 - 31) + " " + LONG_URL
    assert post(http, text).status_code == 200
    r = post(http, "b" + text)
    assert r.json()["error"] == "Validation failed: Text character limit of 1000 exceeded"


TEXT_PARTS = st.sampled_from(
    ["a", "é", "e\u0301", "👍🏽", "👨‍👩‍👧", "🇫🇷", " ", "\n", ".", "字", LONG_URL, " https://a.example/x ",
     "@bob@mastodon.example ", "#tag "]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(TEXT_PARTS, max_size=40), limit=st.integers(min_value=1, max_value=60))
def test_server_accepts_exactly_what_the_counter_allows(server, http, parts, limit):
    server.max_characters = limit
    text = "".join(parts)
    r = post(http, text)
    if not text.strip():
        assert r.status_code == 422
        assert r.json() == {"error": "Validation failed: Text can't be blank"}
    elif status_length(text) <= limit:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 422
        assert r.json()["error"] == f"Validation failed: Text character limit of {limit} exceeded"


def test_blank_text_is_refused_but_a_spoiler_alone_becomes_the_text(server, http):
    r = post(http, "  ")
    assert (r.status_code, r.json()) == (422, {"error": "Validation failed: Text can't be blank"})
    assert post(http, "", spoiler_text="only a warning").status_code == 200
    assert server.statuses[-1]["text"] == "only a warning"
    assert server.statuses[-1]["spoiler_text"] == ""


# --- statuses ---------------------------------------------------------------------------------


def test_a_status_keeps_what_was_sent_form_or_json(server, http):
    r = post(http, "Hello #world https://example.org/a", visibility="unlisted", language="de",
             spoiler_text="cw")
    body = r.json()
    assert r.status_code == 200
    assert body["visibility"] == "unlisted" and body["language"] == "de" and body["sensitive"] is True
    assert body["url"] == f"{server.url}/@syndicate/{body['id']}"
    assert 'href="https://example.org/a"' in body["content"]
    assert body["tags"] == [{"name": "world", "url": f"{server.url}/tags/world"}]
    r = http.post("/api/v1/statuses", json={"status": "json body", "visibility": "private"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["visibility"] == "private"
    assert [(s["text"], s["visibility"], s["language"]) for s in server.statuses] == [
        ("Hello #world https://example.org/a", "unlisted", "de"),
        ("json body", "private", "en"),  # the account's default language
    ]
    got = http.get(f"/api/v1/statuses/{body['id']}")
    assert got.status_code == 200 and got.json()["id"] == body["id"]


def test_idempotency_key_returns_the_first_status_and_creates_nothing(server, http):
    first = post(http, "once", headers={"Idempotency-Key": "row-1"}).json()
    again = post(http, "changed text", headers={"Idempotency-Key": "row-1"}).json()
    other = post(http, "once", headers={"Idempotency-Key": "row-2"}).json()
    assert again["id"] == first["id"] and again["content"] == first["content"]
    assert other["id"] != first["id"]
    assert [(s["text"], s["idempotency_key"]) for s in server.statuses] == [("once", "row-1"), ("once", "row-2")]


def test_idempotency_key_expires_after_an_hour():
    clock = FakeClock()
    with MastodonServer(token=TOKEN, clock=clock) as srv, httpx.Client(base_url=srv.url) as http:
        first = post(http, "x", headers={"Idempotency-Key": "k"}).json()
        clock.advance(3599)
        assert post(http, "x", headers={"Idempotency-Key": "k"}).json()["id"] == first["id"]
        clock.advance(2)
        assert post(http, "x", headers={"Idempotency-Key": "k"}).json()["id"] != first["id"]
        assert len(srv.statuses) == 2


def test_a_refused_post_does_not_burn_its_idempotency_key(server, http):
    assert post(http, "x" * 501, headers={"Idempotency-Key": "k"}).status_code == 422
    assert post(http, "fits", headers={"Idempotency-Key": "k"}).status_code == 200
    assert [s["text"] for s in server.statuses] == ["fits"]


def test_account_statuses_newest_first_with_limit(server, http):
    for i in range(45):
        post(http, f"post {i}")
    me = http.get("/api/v1/accounts/verify_credentials", headers=AUTH).json()
    assert me["username"] == "syndicate" and me["statuses_count"] == 45 and "source" in me
    page = http.get(f"/api/v1/accounts/{me['id']}/statuses", params={"limit": 100}, headers=AUTH)
    texts = [s["content"] for s in page.json()]
    assert len(texts) == 40  # Mastodon caps limit at twice the default of 20
    assert texts[0] == "<p>post 44</p>" and texts[-1] == "<p>post 5</p>"
    assert 'rel="next"' in page.headers["Link"]
    assert len(http.get(f"/api/v1/accounts/{me['id']}/statuses").json()) == 20
    assert http.get("/api/v1/accounts/1/statuses").status_code == 404


def test_account_statuses_link_header_as_mastodon_sends_it(server, http):
    for i in range(45):
        post(http, f"post {i}")
    me = http.get("/api/v1/accounts/verify_credentials", headers=AUTH).json()
    base = f"{server.url}/api/v1/accounts/{me['id']}/statuses"
    first = http.get(base, params={"limit": 40, "exclude_reblogs": "true"}, headers=AUTH)
    ids = [s["id"] for s in first.json()]
    # the page's filters and limit ride on both links, keys sorted as Rails' to_query
    assert first.headers["Link"] == (
        f'<{base}?exclude_reblogs=true&limit=40&max_id={ids[-1]}>; rel="next", '
        f'<{base}?exclude_reblogs=true&limit=40&min_id={ids[0]}>; rel="prev"')
    last = http.get(base, params={"limit": 40, "max_id": ids[-1]}, headers=AUTH)
    assert [s["content"] for s in last.json()] == [f"<p>post {i}</p>" for i in range(4, -1, -1)]
    assert last.headers["Link"] == f'<{base}?limit=40&min_id={last.json()[0]["id"]}>; rel="prev"'  # not full: no next
    empty = http.get(base, params={"max_id": last.json()[-1]["id"]}, headers=AUTH)
    assert empty.json() == [] and "Link" not in empty.headers
    newer = http.get(base, params={"min_id": ids[2], "limit": 2}, headers=AUTH).json()
    assert [s["id"] for s in newer] == ids[:2]  # min_id: the page just above it, newest first


def test_mastodon_py_pages_through_every_status_with_fetch_next(server):
    client = client_for(server)
    for i in range(85):
        client.status_post(f"post {i}")
    me = client.account_verify_credentials()
    seen, page = [], client.account_statuses(me["id"], limit=40, exclude_reblogs=True)
    while page:
        seen += [s["id"] for s in page]
        page = client.fetch_next(page)
    assert seen == [s["id"] for s in reversed(server.statuses)]  # 40 + 40 + 5, newest first, once each
    paths = [r.query for r in server.requests if r.path.endswith("/statuses") and r.method == "GET"]
    assert len(paths) == 3 and all(q.get("exclude_reblogs") for q in paths)


def test_account_statuses_filters(server, http):
    post(http, "a reply", in_reply_to_id="1")
    post(http, "about #Strikes")
    post(http, "plain")
    me = http.get("/api/v1/accounts/verify_credentials", headers=AUTH).json()
    base = f"/api/v1/accounts/{me['id']}/statuses"

    def texts(**params):
        return [s["content"] for s in http.get(base, params=params, headers=AUTH).json()]

    assert len(texts()) == 3
    assert "<p>a reply</p>" not in texts(exclude_replies="true")
    assert len(texts(tagged="strikes")) == 1 and texts(pinned="true") == [] and texts(only_media="1") == []


def test_statuses_posted_as_the_account_by_a_person(server, http):
    post(http, "ours", headers={"Idempotency-Key": "k"})
    made = server.post_as_account("by hand 1", "by hand 2")
    assert [s["text"] for s in made] == ["by hand 1", "by hand 2"]
    assert [(s["text"], s["idempotency_key"]) for s in server.statuses] == [
        ("ours", "k"), ("by hand 1", None), ("by hand 2", None)]
    me = http.get("/api/v1/accounts/verify_credentials", headers=AUTH).json()
    page = http.get(f"/api/v1/accounts/{me['id']}/statuses", headers=AUTH).json()
    assert [(s["content"], s["application"]["name"]) for s in page] == [
        ("<p>by hand 2</p>", "Web"), ("<p>by hand 1</p>", "Web"), ("<p>ours</p>", "syndicate")]


def test_forgetting_idempotency_keys_is_the_hour_passing(server, http):
    first = post(http, "x", headers={"Idempotency-Key": "k"}).json()
    assert post(http, "x", headers={"Idempotency-Key": "k"}).json()["id"] == first["id"]
    assert server.forget_idempotency_keys() == 1
    assert post(http, "x", headers={"Idempotency-Key": "k"}).json()["id"] != first["id"]
    assert len(server.statuses) == 2


def test_a_stricter_server_counts_code_points_and_urls_literally():
    with MastodonServer(token=TOKEN, max_characters=100, count_mode="codepoints") as srv, \
            httpx.Client(base_url=srv.url) as http:
        text = "x" * 60 + " " + LONG_URL  # 84 by Mastodon's count, 60 + 1 + len(LONG_URL) literally
        assert status_length(text) == 84 and srv.status_length(text) == 61 + len(LONG_URL) > 100
        r = post(http, text)
        assert (r.status_code, r.json()) == (422, {"error": "Validation failed: Text character limit of 100 exceeded"})
        conf = http.get("/api/v2/instance").json()["configuration"]["statuses"]
        assert (conf["max_characters"], conf["characters_reserved_per_url"]) == (100, 23)  # advertised as before
        assert post(http, "é" * 100).status_code == 200 and post(http, "é" * 101).status_code == 422
    with pytest.raises(ValueError, match="count_mode"):
        MastodonServer(count_mode="bytes")


def test_instance_v1_and_v2_report_the_configured_limits(server, http):
    server.max_characters, server.characters_reserved_per_url = 1000, 30
    for path in ("/api/v1/instance", "/api/v2/instance/"):
        conf = http.get(path).json()["configuration"]["statuses"]
        assert (conf["max_characters"], conf["characters_reserved_per_url"]) == (1000, 30)
    server.instance_v2 = False
    assert http.get("/api/v2/instance").status_code == 404


# --- authentication and errors --------------------------------------------------------------


def test_bad_or_missing_token_is_401(server, http):
    for headers in ({"Authorization": "Bearer wrong"}, {}):
        r = http.post("/api/v1/statuses", data={"status": "x"}, headers=headers)
        assert (r.status_code, r.json()) == (401, {"error": "The access token is invalid"})
    assert http.get("/api/v1/accounts/verify_credentials").status_code == 401
    with pytest.raises(MastodonUnauthorizedError):
        client_for(server, token="wrong").status_post("x")
    assert server.statuses == []


def test_read_only_token_cannot_post(server, http):
    server.add_token("reader", scopes=("read",))
    r = http.post("/api/v1/statuses", data={"status": "x"}, headers={"Authorization": "Bearer reader"})
    assert (r.status_code, r.json()) == (403, {"error": "This action is outside the authorized scopes"})


def test_unknown_records_are_404(http):
    for path in ("/api/v1/statuses/123", "/api/v1/media/123", "/api/v1/nothing"):
        r = http.get(path, headers=AUTH)
        assert (r.status_code, r.json()) == (404, {"error": "Record not found"})


# --- rate limits ------------------------------------------------------------------------------


def test_rate_limit_headers_count_down_then_429():
    clock = FakeClock(1_700_000_000.0)
    with MastodonServer(token=TOKEN, budget=3, window=300, clock=clock) as srv, \
            httpx.Client(base_url=srv.url) as http:
        seen = [http.get("/api/v1/instance") for _ in range(4)]
        assert [r.headers["X-RateLimit-Remaining"] for r in seen] == ["2", "1", "0", "0"]
        assert {r.headers["X-RateLimit-Limit"] for r in seen} == {"3"}
        assert {r.headers["X-RateLimit-Reset"] for r in seen} == {"2023-11-14T22:18:20.000000Z"}
        assert (seen[3].status_code, seen[3].json()) == (429, {"error": "Too many requests"})
        assert srv.reset_at == datetime(2023, 11, 14, 22, 18, 20, tzinfo=UTC)
        # the window ends when the clock passes the reset time...
        clock.advance(300)
        r = http.get("/api/v1/instance")
        assert r.status_code == 200 and r.headers["X-RateLimit-Remaining"] == "2"
        assert r.headers["X-RateLimit-Reset"] == "2023-11-14T22:23:20.000000Z"
        # ...or when the test says so
        http.get("/api/v1/instance"), http.get("/api/v1/instance")
        assert http.get("/api/v1/instance").status_code == 429
        srv.reset_window()
        assert http.get("/api/v1/instance").headers["X-RateLimit-Remaining"] == "2"


def test_peak_window_is_the_most_requests_one_window_counted():
    clock = FakeClock(1_700_000_000.0)
    with MastodonServer(token=TOKEN, budget=3, window=300, clock=clock) as srv, \
            httpx.Client(base_url=srv.url) as http:
        assert srv.peak_window == 0
        http.get("/api/v1/instance"), http.get("/api/v1/instance")
        assert srv.peak_window == 2
        clock.advance(300)  # a new window: one request in it, the peak stays
        http.get("/api/v1/instance")
        assert srv.peak_window == 2
        for _ in range(4):  # the 4th is refused, and still counted: the window was exceeded
            http.get("/api/v1/instance")
        assert srv.peak_window == 5 > srv.budget


def test_mastodon_py_throws_on_429(server):
    server.budget = 1
    client = client_for(server)
    client.status_post("one")
    with pytest.raises(MastodonRatelimitError):
        client.status_post("two")
    # "throw" neither waits for the reset and tries again nor paces: one refused request
    assert [r.status for r in server.requests if r.method == "POST"] == [200, 429]
    assert len(server.statuses) == 1


# --- media ------------------------------------------------------------------------------------


def test_media_v2_is_202_then_206_until_processed_then_200(server, http):
    server.media_polls = 2
    r = http.post("/api/v2/media", files={"file": ("a.png", b"\x89PNG data", "image/png")},
                  data={"description": "alt text"}, headers=AUTH)
    assert r.status_code == 202
    media = r.json()
    assert media["url"] is None and media["description"] == "alt text" and media["type"] == "image"
    early = post(http, "with image", **{"media_ids[]": media["id"]})
    assert (early.status_code, early.json()["error"]) == (
        422, "Cannot attach files that have not finished processing. Try again in a moment!")
    assert http.get(f"/api/v1/media/{media['id']}", headers=AUTH).status_code == 206
    done = http.get(f"/api/v1/media/{media['id']}", headers=AUTH)
    assert done.status_code == 200 and done.json()["url"].endswith(".png")
    assert http.get(done.json()["url"]).content == b"\x89PNG data"
    put = http.put(f"/api/v1/media/{media['id']}", data={"description": "better alt"}, headers=AUTH)
    assert put.json()["description"] == "better alt"
    r = post(http, "with image", **{"media_ids[]": media["id"]})
    assert r.status_code == 200 and r.json()["media_attachments"][0]["description"] == "better alt"
    assert server.statuses[0]["media"][0]["id"] == media["id"]
    assert http.get(f"/api/v1/media/{media['id']}", headers=AUTH).status_code == 404  # attached now


def test_media_through_mastodon_py(server):
    server.media_polls = 1
    client = client_for(server)
    media = client.media_post(b"GIF89a", mime_type="image/gif", description="a gif")
    assert media.url is None
    assert client.media(media).url is not None
    status = client.status_post("pic", media_ids=[media])
    assert status.media_attachments[0].type == "gifv"


def test_media_refuses_what_is_not_media(http):
    r = http.post("/api/v2/media", files={"file": ("a.txt", b"text", "text/plain")}, headers=AUTH)
    assert r.status_code == 422
    r = http.post("/api/v1/statuses", data={"status": "x", "media_ids[]": "999"}, headers=AUTH)
    assert r.json() == {"error": "Media 999 not found or already attached to another post"}


# --- faults -------------------------------------------------------------------------------------


def test_faults_apply_in_order_to_matching_requests_only(server, http):
    server.queue_faults(Fault(status=503, method="POST", path="/api/v1/statuses"), Fault(status=500))
    assert http.get("/api/v1/instance").status_code == 500  # the second fault matches anything
    r = post(http, "x")
    assert r.status_code == 503 and "503" in r.text and "X-RateLimit-Remaining" not in r.headers
    assert post(http, "x").status_code == 200
    assert server.pending_faults == [] and len(server.statuses) == 1
    assert [r.status for r in server.requests] == [500, 503, 200]


def test_fault_429_carries_its_reset():
    clock = FakeClock(1_700_000_000.0)
    with MastodonServer(token=TOKEN, clock=clock) as server, httpx.Client(base_url=server.url) as http:
        server.queue_faults(Fault(status=429, reset_in=30, retry_after=30))
        r = http.get("/api/v1/instance")
    assert r.status_code == 429 and r.json() == {"error": "Too many requests"}
    reset = datetime.fromisoformat(r.headers["X-RateLimit-Reset"])
    assert reset == datetime.fromtimestamp(clock() + 30, UTC)
    assert r.headers["Retry-After"] == "30" and r.headers["X-RateLimit-Remaining"] == "0"


def test_drop_and_hang_fail_the_client(server):
    client = client_for(server, timeout=0.3)
    server.queue_faults(Fault(drop=True), Fault(hang=True))
    with pytest.raises(MastodonNetworkError):
        client.status_post("dropped")
    with pytest.raises(MastodonNetworkError):
        client.status_post("hung")
    assert server.wait_until_held(1)  # the client gave up on its own timeout; the server still holds it
    server.release_hangs()
    assert server.statuses == []
    assert client.status_post("fine").id == server.statuses[0]["id"]


def test_accept_then_drop_creates_the_status_but_says_nothing(server):
    client = client_for(server)
    server.queue_faults(Fault(accept_then_drop=True, method="POST", path="/api/v1/statuses"))
    with pytest.raises(MastodonNetworkError):
        client.status_post("landed", idempotency_key="k")
    assert [s["text"] for s in server.statuses] == ["landed"]
    assert server.requests[-1].status is None  # no answer went out
    again = client.status_post("landed", idempotency_key="k")
    assert again.id == server.statuses[0]["id"] and len(server.statuses) == 1


def test_accept_then_hang_creates_the_status_and_holds_the_answer(server):
    client = client_for(server, timeout=5)
    server.queue_faults(Fault(accept_then_hang=True, method="POST", path="/api/v1/statuses"))
    failed = []

    def send():
        try:
            client.status_post("landed", idempotency_key="k")
        except MastodonNetworkError as exc:
            failed.append(exc)

    import threading

    sender = threading.Thread(target=send)
    sender.start()
    assert server.wait_until_held(1)
    assert [s["text"] for s in server.statuses] == ["landed"]  # accepted while the client still waits
    server.release_hangs()
    sender.join(10)
    assert len(failed) == 1 and server.held == 0 and server.requests[-1].status is None


def test_trickle_does_the_work_then_sends_a_byte_at_a_time_until_the_client_leaves(server):
    """Each read of the answer gets a byte well within any per-read timeout; the body never ends."""
    from tests.helpers import wait_until

    server.queue_faults(Fault(trickle=0.01, method="POST", path="/api/v1/statuses"))
    with httpx.Client(base_url=server.url, timeout=5) as http:
        with http.stream("POST", "/api/v1/statuses", data={"status": "trickled"}, headers=AUTH) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
            assert "x-ratelimit-remaining" in r.headers
            received = b""
            for chunk in r.iter_raw():
                received += chunk
                if len(received) >= 5:
                    break
            assert received == b" " * len(received)
            assert server.trickling == 1
    assert wait_until(lambda: server.trickling == 0)
    assert [s["text"] for s in server.statuses] == ["trickled"]
    assert server.requests[-1].status == 200


# --- outside pytest -----------------------------------------------------------------------------


def test_runs_as_a_subprocess_with_a_state_file(tmp_path: Path):
    state = tmp_path / "statuses.json"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.mastodon", "--port", "0", "--token", TOKEN, "--state-file",
         str(state)], stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert json.loads(state.read_text()) == {"statuses": []}
        with httpx.Client(base_url=url) as http:
            http.post("/__control/faults", json={"faults": [{"status": 502}]})
            assert post(http, "first").status_code == 502
            assert post(http, "first", headers={"Idempotency-Key": "k"}).status_code == 200
            saved = json.loads(state.read_text())["statuses"]
            assert [(s["text"], s["idempotency_key"]) for s in saved] == [("first", "k")]
            assert http.get("/__control/state").json()["statuses"] == saved
            assert http.post("/__control/forget_idempotency_keys").json() == {"forgotten": 1}
            assert post(http, "first", headers={"Idempotency-Key": "k"}).status_code == 200
            made = http.post("/__control/post_as_account", json={"texts": ["by hand"]}).json()["statuses"]
            assert [s["idempotency_key"] for s in made] == [None]
            texts = [s["text"] for s in json.loads(state.read_text())["statuses"]]
            assert texts == ["first", "first", "by hand"]
            http.post("/__control/config", json={"count_mode": "codepoints", "max_characters": 10})
            assert post(http, "x" * 11).status_code == 422
            assert http.post("/__control/config", json={"count_mode": "bytes"}).status_code == 422
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


# --- mentions, as ProcessMentionsService makes them ----------------------------------------------


def test_mentions_are_made_as_account_mention_re_finds_them(server):
    text = ("Hi @alice and @Bob@Example.Social, (@carol_1@sub.example.org): "
            "not me@example.org, not https://example.net/@dave, not x=@erin, not @\u2060frank@example.social "
            "nor \u2060@ever.")  # a word joiner before "@" is no word character: that one is a mention
    status = client_for(server).status_post(text)
    assert [(m["acct"], m["username"]) for m in status["mentions"]] == [
        ("alice", "alice"), ("bob@example.social", "bob"), ("carol_1@sub.example.org", "carol_1"),
        ("ever", "ever")]
    assert status["mentions"][1]["url"] == "https://example.social/@bob"
    assert server.statuses[0]["mentions"] == ["alice", "bob@example.social", "carol_1@sub.example.org", "ever"]
    assert client_for(server).status(status["id"])["mentions"] == status["mentions"]


def test_quote_policies_are_taken_only_from_api_version_7(http, server):
    """Mastodon 4.5 (api_versions.mastodon 7) takes ``quote_approval_policy`` and shows it as the
    status's ``quote_approval``; 4.3 (2) says 2 and ignores the parameter as any unknown one."""
    assert http.get("/api/v2/instance").json()["api_versions"] == {"mastodon": 2}
    old = post(http, "before 4.5", quote_approval_policy="nobody")
    assert old.status_code == 200 and "quote_approval" not in old.json()
    server.api_version = 7
    assert http.get("/api/v2/instance").json()["api_versions"] == {"mastodon": 7}
    new = post(http, "on 4.5", quote_approval_policy="followers")
    assert new.json()["quote_approval"] == {"automatic": ["followers"], "manual": [], "current_user": "automatic"}
    default = post(http, "on 4.5, no policy given")
    assert default.json()["quote_approval"]["automatic"] == ["public"]  # the account's default
    bad = post(http, "a bad one", quote_approval_policy="friends")
    assert bad.status_code == 422 and "Quote approval policy" in bad.json()["error"]
    assert [s["quote_policy"] for s in server.statuses] == [None, "followers", "public"]


# --- edits and deletes (UpdateStatusService, RemoveStatusService) ---------------------------------


def test_an_edit_through_mastodon_py_keeps_the_id_and_records_its_history(server):
    server.media_polls = 0
    client = client_for(server)
    media = client.media_post(b"GIF89a", mime_type="image/gif", description="a gif")
    first = client.status_post("Tpyo in the title", visibility="unlisted", language="fr",
                               spoiler_text="politics", media_ids=[media])
    assert len(client.status_history(first)) == 1  # unedited: its one snapshot
    edited = client.status_update(first, "Typo fixed", spoiler_text="politics", sensitive=True,
                                  media_ids=[media])
    assert edited.id == first.id and edited.edited_at is not None
    assert (edited.visibility, edited.language, edited.spoiler_text) == ("unlisted", "fr", "politics")
    assert [m.id for m in edited.media_attachments] == [media.id]
    history = client.status_history(first)
    assert [h.content for h in history] == ["<p>Tpyo in the title</p>", "<p>Typo fixed</p>"]
    assert client.status_source(first).text == "Typo fixed"
    assert server.statuses[0]["edits"] == 1


def test_an_edit_resets_what_it_leaves_out_as_mastodon_does(server):
    server.media_polls = 0
    client = client_for(server)
    media = client.media_post(b"GIF89a", mime_type="image/gif")
    first = client.status_post("text", spoiler_text="cw", media_ids=[media])
    edited = client.status_update(first, "text again")
    assert edited.spoiler_text == "" and edited.media_attachments == []
    again = client.status_update(first, "text again")  # changing nothing: no edit (NoChangesSubmittedError)
    assert again.edited_at == edited.edited_at
    assert len(client.status_history(first)) == 2  # the original and one edit
    client.status_update(first, "text, third")
    assert len(client.status_history(first)) == 3


def test_an_edit_is_validated_as_a_new_status_and_a_refusal_changes_nothing(server, http):
    status = post(http, "short").json()
    r = http.put(f"/api/v1/statuses/{status['id']}", data={"status": "x" * 501}, headers=AUTH)
    assert r.status_code == 422
    assert r.json() == {"error": "Validation failed: Text character limit of 500 exceeded"}
    r = http.put(f"/api/v1/statuses/{status['id']}", data={"status": " "}, headers=AUTH)
    assert r.json() == {"error": "Validation failed: Text can't be blank"}
    assert server.statuses[0]["text"] == "short" and server.statuses[0]["edits"] == 0
    assert http.put("/api/v1/statuses/999", data={"status": "x"}, headers=AUTH).status_code == 404
    assert http.put(f"/api/v1/statuses/{status['id']}", data={"status": "x"}).status_code == 401


def test_a_delete_answers_the_source_and_the_status_is_gone(server):
    client = client_for(server)
    first = client.status_post("to go")
    kept = client.status_post("to stay")
    gone = client.status_delete(first)
    assert gone.text == "to go"
    assert [s["id"] for s in server.statuses] == [kept.id] and server.deleted == [first.id]
    from mastodon.errors import MastodonNotFoundError
    with pytest.raises(MastodonNotFoundError):
        client.status(first)
    with pytest.raises(MastodonNotFoundError):
        client.status_delete(first)
