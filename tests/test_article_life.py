"""Issue 15: an article's life — settle before posting, edits carried over, deletes, post-now.

Real parts: the feed over loopback HTTP, the loopback Mastodon server through the real
Mastodon.py (its edit history read back), the reference PDS for Bluesky (records read back
with getRecord / listRecords), the editors' API over a real listener.  Time is a FakeClock
shared by the app and the Mastodon server; nothing sleeps.
"""

from __future__ import annotations

import threading
import time
from email.utils import formatdate

import httpx
import pytest
from mastodon import Mastodon

from syndicate.app import App
from syndicate.delivery import Deliverer
from syndicate.editors import Editors
from syndicate.retry import RetryPolicy
from syndicate.web import create_app, serve
from tests.cli_runner import invoke
from tests.fakes import FakeClock, bluesky, make_config, mastodon, write_feeds_yaml
from tests.servers.mastodon import Fault, MastodonServer

TOKEN = "loopback-token-1234567890"
API_TOKEN = "s3cret-editors-token-0123456789"
START = 1_750_000_000.0


def feed(*items: tuple[int, str], extra: str = "") -> bytes:
    """An RSS feed of (number, title) items, each with its own link, date and description."""
    body = "".join(
        f"<item><title>{title}</title><link>https://example.org/{n}/{extra}</link>"
        f"<guid isPermaLink=\"false\">guid-{n}</guid>"
        f"<pubDate>{formatdate(START - 3600 + n, usegmt=True)}</pubDate>"
        f"<description>&lt;p&gt;The standfirst of article {n}.&lt;/p&gt;</description></item>"
        for n, title in items)
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>ACR</title>'
            f"<link>https://example.org/</link><description>d</description>{body}</channel></rss>").encode()


@pytest.fixture
def clock():
    return FakeClock(START)


@pytest.fixture
def server(clock):
    with MastodonServer(token=TOKEN, clock=clock) as srv:
        yield srv
    assert not srv.errors, srv.errors[0]


def make_app(tmp_path, feed_server, server, clock, *, settle="10m", state=None, **target_keys) -> App:
    cfg = make_config(tmp_path, {"acr": {"url": feed_server.url("/f"), "settle": settle}},
                      targets={"mastodon": mastodon(server.url, timeout=5, **target_keys)},
                      **({"state": state} if state is not None else {}))
    return App(cfg, environ={"SYNDICATE_MASTODON_TOKEN": TOKEN}, clock=clock, sleep=clock.sleep,
               policy=RetryPolicy(jitter=0))


def seeded(tmp_path, feed_server, server, clock, **keys) -> App:
    """An app whose feed was read once, empty (so what comes next is new, and posted)."""
    feed_server.set_feed("/f", feed())
    app = make_app(tmp_path, feed_server, server, clock, **keys)
    app.run_cycle(all_feeds=True)
    return app


def cycle(app: App, feed_server, *items: tuple[int, str], **kw) -> None:
    feed_server.set_feed("/f", feed(*items, **kw))
    app.run_cycle(all_feeds=True)


def editors(app: App) -> Editors:
    return Editors(app.config, app.store, composer=app, fetcher=app.fetcher, clock=app.clock)


def history(server, status_id: str) -> list[str]:
    client = Mastodon(api_base_url=server.url, version_check_mode="none")
    client.access_token = TOKEN
    return [h.content for h in client.status_history(status_id)]


# --- settle ---------------------------------------------------------------------------------------


def test_a_title_fixed_three_minutes_after_publishing_goes_out_fixed(tmp_path, feed_server, server, clock,
                                                                   state_db):
    app = seeded(tmp_path, feed_server, server, clock, state=state_db)
    cycle(app, feed_server, (1, "Tpyo in the tilte"))
    assert server.statuses == []  # waiting to settle
    [d] = editors(app).detail(app.store.find_article_id("guid-1")).deliveries
    assert d.settle_until == START + 600
    assert app.deliverer.next_due_at() == START + 600  # the daemon wakes when it has settled
    clock.advance(180)
    cycle(app, feed_server, (1, "Typo in the title, fixed"))
    assert server.statuses == []
    clock.advance(421)
    cycle(app, feed_server, (1, "Typo in the title, fixed"))
    [status] = server.statuses
    assert "Typo in the title, fixed" in status["text"] and "Tpyo" not in status["text"]
    assert status["edits"] == 0  # posted fixed: nothing to edit
    assert [d.op for d in app.store.deliveries(app.store.find_article_id("guid-1"))] == ["post"]


def test_settle_zero_posts_at_once_and_a_settling_post_holds_nothing_back(tmp_path, feed_server, server,
                                                                          clock):
    app = seeded(tmp_path, feed_server, server, clock, settle=0)
    cycle(app, feed_server, (1, "At once"))
    assert len(server.statuses) == 1


def test_post_now_ends_the_wait(tmp_path, feed_server, server, clock):
    app = seeded(tmp_path, feed_server, server, clock)
    cycle(app, feed_server, (1, "Urgent"), (2, "Not urgent"))
    done = editors(app).post_now("guid-2", requester="tester", requested_by="Ann")
    assert done.targets == ("mastodon",) and done.requested_by == "Ann"
    app.run_cycle()
    assert [s["text"].splitlines()[0] for s in server.statuses] == ["Not urgent"]  # the other still settles
    [d] = app.store.deliveries(app.store.find_article_id("guid-2"))
    assert ("post now", "the wait to settle ended by Ann") in [(e.kind, e.detail) for e in d.history]
    assert editors(app).post_now("guid-2", requester="tester").targets == ()  # nothing waits now


# --- edits carried over ---------------------------------------------------------------------------


def test_a_title_fixed_after_posting_edits_the_status_once(tmp_path, feed_server, server, clock, state_db):
    app = seeded(tmp_path, feed_server, server, clock, settle=0, visibility="unlisted", state=state_db)
    cycle(app, feed_server, (1, "Tpyo in the tilte"))
    [first] = server.statuses
    cycle(app, feed_server, (1, "Typo in the title, fixed"))
    [status] = server.statuses
    assert status["id"] == first["id"] and status["edits"] == 1
    assert "Typo in the title, fixed" in status["text"]
    assert (status["visibility"], status["language"]) == ("unlisted", first["language"])
    assert len(history(server, status["id"])) == 2  # the original and one edit
    cycle(app, feed_server, (1, "Typo in the title, fixed"))  # nothing new: no edit
    assert server.statuses[0]["edits"] == 1
    post, edit = app.store.deliveries(app.store.find_article_id("guid-1"))
    assert (edit.op, edit.state) == ("edit", "sent")
    kinds = [(e.kind, e.detail) for e in post.history]
    assert any(k == "edited" and "title" in (d or "") for k, d in kinds)
    assert any(k == "edit edited" for k, _ in kinds)


def test_a_burst_of_five_edits_is_one_edit(tmp_path, feed_server, server, clock, state_db):
    app = seeded(tmp_path, feed_server, server, clock, state=state_db)
    cycle(app, feed_server, (1, "Draft title"))
    editors(app).post_now("guid-1", requester="tester")
    app.run_cycle()
    [first] = server.statuses
    for n in range(1, 6):
        clock.advance(60)
        cycle(app, feed_server, (1, f"Better title, take {n}"))
    assert server.statuses[0]["edits"] == 0  # the window is still open
    clock.advance(600)
    app.run_cycle(all_feeds=True)
    [status] = server.statuses
    assert status["id"] == first["id"] and status["edits"] == 1
    assert "Better title, take 5" in status["text"]
    ops = [d.op for d in app.store.deliveries(app.store.find_article_id("guid-1"))]
    assert ops == ["post", "edit"]


def test_whitespace_entities_and_tracking_parameters_are_no_edit(tmp_path, feed_server, server, clock):
    app = seeded(tmp_path, feed_server, server, clock, settle=0)
    cycle(app, feed_server, (1, "Bread &amp; roses"))
    cycle(app, feed_server, (1, "  Bread  &#38; roses "), extra="?utm_source=newsletter")
    assert server.statuses[0]["edits"] == 0
    assert [d.op for d in app.store.deliveries(app.store.find_article_id("guid-1"))] == ["post"]


def test_edits_ignore_leaves_the_status_and_says_so(tmp_path, feed_server, server, clock):
    app = seeded(tmp_path, feed_server, server, clock, settle=0, edits="ignore")
    cycle(app, feed_server, (1, "First"))
    cycle(app, feed_server, (1, "Second"))
    assert server.statuses[0]["edits"] == 0
    [post] = app.store.deliveries(app.store.find_article_id("guid-1"))
    assert any("not carried over (edits: ignore)" in (e.detail or "") for e in post.history)


# --- deletes, through the API and the CLI's service -----------------------------------------------


def test_delete_and_post_now_through_the_api(tmp_path, feed_server, server, clock, state_db):
    app = seeded(tmp_path, feed_server, server, clock, state=state_db)
    cycle(app, feed_server, (1, "One"), (2, "Two"))
    one, two = (app.store.find_article_id(f"guid-{n}") for n in (1, 2))
    handle = serve(create_app(app, api_token=API_TOKEN), "127.0.0.1", 0)
    try:
        with httpx.Client(base_url=handle.url, timeout=10,
                          headers={"Authorization": f"Bearer {API_TOKEN}"}) as api:
            r = api.post(f"/api/articles/{one}/post-now", json={"by": "Ann"})
            assert r.status_code == 200 and r.json()["targets"] == ["mastodon"]
            app.deliverer.deliver_due()
            [status] = server.statuses
            r = api.post(f"/api/articles/{one}/delete", json={"by": "Ann"})
            assert r.status_code == 202 and r.json()["queued"] == ["mastodon"]
            again = api.post(f"/api/articles/{one}/delete", json={"by": "Bob"})
            assert again.status_code == 200 and again.json()["already"] == ["mastodon"]
            r = api.post(f"/api/articles/{two}/delete", json={"by": "Ann"})  # not posted yet: withdrawn
            assert r.json()["withdrawn"] == ["mastodon"]
            assert api.post(f"/api/articles/{two}/retry", json={}).json()["requeued"] == 0  # stays withdrawn
            assert api.post("/api/articles/999/delete", json={}).status_code == 404
            assert api.post(f"/api/articles/{one}/delete", json={"targets": "x"}).status_code == 400
            app.deliverer.deliver_due()
            assert server.statuses == [] and server.deleted == [status["id"]]
            shown = api.get(f"/api/articles/{one}").json()
            post, delete = shown["deliveries"]
            assert delete["op"] == "delete" and delete["state"] == "sent" and delete["requested_by"] == "Ann"
            assert any(e["kind"] == "delete deleted" for e in post["history"])
    finally:
        handle.stop()
    clock.advance(3600)
    app.run_cycle(all_feeds=True)
    assert server.statuses == []  # article 2 was withdrawn, article 1 deleted: nothing posted again


def test_the_page_shows_the_wait_and_its_buttons_work(tmp_path, feed_server, server, clock):
    app = seeded(tmp_path, feed_server, server, clock)
    cycle(app, feed_server, (1, "Settling"))
    article_id = app.store.find_article_id("guid-1")
    handle = serve(create_app(app, api_token=API_TOKEN, clock=clock), "127.0.0.1", 0)
    try:
        with httpx.Client(base_url=handle.url, timeout=10) as page:
            assert page.post("/login", data={"token": API_TOKEN}).status_code == 303
            html = page.get("/").text
            assert "waiting to settle until" in html
            assert 'data-action="post-now">Post now' in html  # enabled: something waits
            assert 'data-action="delete" disabled>Delete posts' in html  # nothing posted yet
            csrf = html.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
            assert page.post(f"/api/articles/{article_id}/post-now", json={}).status_code == 403  # no CSRF
            r = page.post(f"/api/articles/{article_id}/post-now", json={"by": "Ann"},
                          headers={"X-CSRF-Token": csrf})
            assert r.json()["targets"] == ["mastodon"]
            app.deliverer.deliver_due()
            html = page.get("/").text
            assert 'data-action="post-now" disabled>Post now' in html
            assert 'data-action="delete">Delete posts' in html
            r = page.post(f"/api/articles/{article_id}/delete", json={"by": "Ann"},
                          headers={"X-CSRF-Token": csrf})
            assert r.status_code == 202
            app.deliverer.deliver_due()
            assert server.statuses == []
            assert "mastodon (delete)" in page.get("/").text
    finally:
        handle.stop()


def test_a_delete_never_touches_another_articles_post(tmp_path, feed_server, server, clock, state_db):
    app = seeded(tmp_path, feed_server, server, clock, settle=0, state=state_db)
    cycle(app, feed_server, (1, "Keep me"), (2, "Delete me"))
    kept = next(s for s in server.statuses if "Keep me" in s["text"])
    done = editors(app).delete("guid-2", requester="tester", requested_by="Ann")
    assert done.queued == ("mastodon",)
    assert app.store.request_delete(app.store.find_article_id("guid-2"), ["mastodon"],
                                    requested_by="life-gone").already == ("mastodon",)
    app.deliverer.deliver_due()
    assert [s["id"] for s in server.statuses] == [kept["id"]]


def test_the_cli_says_it_waits_posts_now_and_asks_before_deleting(tmp_path, feed_server):
    clock = FakeClock(time.time())  # the commands read the real clock
    with MastodonServer(token=TOKEN, clock=clock) as server:
        keys = {"feeds": {"acr": {"url": feed_server.url("/f"), "settle": "10m"}},
                "targets": {"mastodon": mastodon(server.url, timeout=5)}}
        path = write_feeds_yaml(tmp_path, keys["feeds"], targets=keys["targets"])
        app = seeded(tmp_path, feed_server, server, clock)
        cycle(app, feed_server, (1, "One"))

        def run(*args: str, answer: str | None = None):
            return invoke(["--config", str(path), *args], input=answer,
                          env={"SYNDICATE_MASTODON_TOKEN": TOKEN})

        shown = run("status")
        assert "waiting to settle until" in shown.output and "syndicate post-now" in shown.output
        assert "posted at once to mastodon" in run("post-now", "guid-1", "--by", "Ann").output
        assert "nothing was waiting to settle" in run("post-now", "guid-1").output
        clock.now = max(clock.now, time.time())  # the command dated it by the real clock
        app.deliverer.deliver_due()
        [status] = server.statuses
        refused = run("delete", "guid-1", answer="n\n")
        assert status["url"] in refused.output and "nothing deleted" in refused.output
        assert [d.op for d in app.store.deliveries(1)] == ["post"]
        done = run("delete", "guid-1", "--by", "Ann", answer="y\n")
        assert "delete queued for mastodon (requested by Ann)" in done.output
        assert "a delete was queued already" in run("delete", "guid-1", "--yes").output
        assert '"already": [' in run("delete", "guid-1", "--json").output
        clock.now = max(clock.now, time.time())
        app.deliverer.deliver_due()
        assert server.statuses == [] and server.deleted == [status["id"]]
        assert "mastodon (delete) sent" in run("show", "guid-1").output.replace("  ", " ")
        assert not server.errors


# --- an operation's lease and shutdown, as a post's ---------------------------------------------------


def waiting_delete(tmp_path, feed_server, server, clock):
    """An app whose article 1 is posted and its delete queued; the status's DELETE answers 503
    once, so the delete waits to retry (under ``keep_lease``) before it can go."""
    app = seeded(tmp_path, feed_server, server, clock, settle=0)
    cycle(app, feed_server, (1, "Delete me"))
    [status] = server.statuses
    assert editors(app).delete("guid-1", requester="tester", requested_by="Ann").queued == ("mastodon",)
    server.queue_faults(Fault(status=503, method="DELETE", path=r"/api/v1/statuses/\w+"))
    return app, status


def worker(app: App, clock, owner: str, sleep, stop=None) -> Deliverer:
    """A second worker on the app's state and targets, waiting by ``sleep``."""
    return Deliverer(app.store, app.targets, app.draft_for, policy=RetryPolicy(jitter=0), owner=owner,
                     lease_seconds=900, clock=clock, sleep=sleep, stop=stop)


def test_a_delete_whose_row_is_taken_while_it_waits_stops_lost(tmp_path, feed_server, server, clock, caplog):
    app, status = waiting_delete(tmp_path, feed_server, server, clock)
    taken = []

    def stalled(seconds):  # "me" stalls past its lease in the wait; another worker takes the row
        clock.advance(seconds + 901)
        taken.extend(app.store.claim_due("other", now=clock(), lease_seconds=900))

    [result] = worker(app, clock, "me", stalled).deliver_due()
    assert result.outcome == "lost" and result.error is None
    assert [(t.op, t.attempts) for t in taken] == [("delete", 2)]
    assert "operation crashed" not in caplog.text and "internal error" not in caplog.text
    assert "operation stopped: another worker holds the row now; nothing sent" in caplog.text
    post, delete = app.store.deliveries(app.store.find_article_id("guid-1"))
    assert (delete.op, delete.state, delete.last_error) == ("delete", "sending", None)  # the other's still
    assert [e.kind for e in delete.history if e.kind in ("postponed", "released", "failed")] == []
    assert server.statuses == [status] and server.deleted == []
    assert app.store.finish_operation(taken[0].id, "other", "deleted", "by the other worker")


def test_a_delete_waiting_to_retry_at_shutdown_is_released_unsent(tmp_path, feed_server, server, clock,
                                                                   caplog):
    app, status = waiting_delete(tmp_path, feed_server, server, clock)
    stop = threading.Event()

    def stopping(seconds):  # SIGTERM arrives while the delete waits to retry
        clock.sleep(seconds)
        stop.set()

    [result] = worker(app, clock, "me", stopping, stop).deliver_due()
    assert result.outcome == "released" and result.error is None
    assert "operation crashed" not in caplog.text and "internal error" not in caplog.text
    assert "operation released on shutdown" in caplog.text
    post, delete = app.store.deliveries(app.store.find_article_id("guid-1"))
    assert (delete.state, delete.last_error) == ("pending", None)
    assert delete.next_attempt_at <= clock()  # due again at once: no backoff spent on our shutdown
    assert [e.kind for e in delete.history if e.kind in ("postponed", "released")] == ["released"]
    assert server.statuses == [status]
    [again] = worker(app, clock, "next", clock.sleep).deliver_due()  # the next start deletes it
    assert again.outcome == "sent" and server.statuses == [] and server.deleted == [status["id"]]


# --- Bluesky: replace, reply, keep ------------------------------------------------------------------


@pytest.fixture
def account(pds):
    import secrets

    password = "pw-" + secrets.token_hex(8)
    did, handle = pds.create_account(f"l{secrets.token_hex(5)}.test", password)
    return did, handle, password


def bluesky_app(tmp_path, feed_server, pds, account, clock, **keys) -> App:
    did, handle, password = account
    feed_server.set_feed("/f", feed())
    cfg = make_config(tmp_path, {"acr": {"url": feed_server.url("/f"), "settle": 0}},
                      targets={"bluesky": bluesky(pds.url, handle, link_card=False, **keys)})
    app = App(cfg, environ={"SYNDICATE_BLUESKY_APP_PASSWORD": password}, clock=clock, sleep=clock.sleep,
              policy=RetryPolicy(jitter=0))
    app.run_cycle(all_feeds=True)
    return app


@pytest.mark.pds
def test_bluesky_replace_recreates_the_record_within_the_window(tmp_path, feed_server, pds, account):
    clock = FakeClock(time.time())  # the PDS dates records by its own clock
    app = bluesky_app(tmp_path, feed_server, pds, account, clock, edits="replace", replies="nobody")
    did = account[0]
    gate = "app.bsky.feed.threadgate"
    cycle(app, feed_server, (1, "Tpyo"))
    [old] = pds.list_records(did)
    old_key = old["uri"].rsplit("/", 1)[-1]
    assert pds.get_record(did, old_key, collection=gate) is not None
    clock.advance(600)
    cycle(app, feed_server, (1, "Typo fixed"))
    [new] = pds.list_records(did)
    assert new["uri"] != old["uri"] and "Typo fixed" in new["value"]["text"]
    assert pds.get_record(did, old_key) is None
    assert pds.get_record(did, old_key, collection=gate) is None  # its gate went with it
    assert pds.get_record(did, new["uri"].rsplit("/", 1)[-1], collection=gate) is not None
    [post, edit] = app.store.deliveries(app.store.find_article_id("guid-1"))
    assert post.remote_url.endswith(new["uri"].rsplit("/", 1)[-1])  # the post row holds the new one
    assert edit.op == "edit" and new["uri"].endswith(edit.key)


@pytest.mark.pds
def test_bluesky_replace_refuses_outside_the_window(tmp_path, feed_server, pds, account):
    clock = FakeClock(time.time())
    app = bluesky_app(tmp_path, feed_server, pds, account, clock, edits="replace", replace_within="1h")
    did = account[0]
    cycle(app, feed_server, (1, "Tpyo"))
    [old] = pds.list_records(did)
    clock.advance(2 * 3600)
    cycle(app, feed_server, (1, "Typo fixed"))
    assert pds.list_records(did) == [old]
    [post, edit] = app.store.deliveries(app.store.find_article_id("guid-1"))
    assert any(e.kind == "refused" and "replace_within" in (e.detail or "") for e in edit.history)


@pytest.mark.pds
def test_bluesky_reply_posts_an_update_under_the_post(tmp_path, feed_server, pds, account):
    clock = FakeClock(time.time())
    app = bluesky_app(tmp_path, feed_server, pds, account, clock, edits="reply")
    did = account[0]
    cycle(app, feed_server, (1, "Tpyo"))
    [old] = pds.list_records(did)
    cycle(app, feed_server, (1, "Typo fixed"))
    records = pds.list_records(did)
    assert len(records) == 2
    reply = next(r for r in records if r["uri"] != old["uri"])
    assert reply["value"]["text"] == "Updated: Typo fixed https://example.org/1/"
    assert reply["value"]["reply"]["parent"]["uri"] == old["uri"]
    link = reply["value"]["facets"][0]
    assert link["features"][0]["uri"] == "https://example.org/1/"


@pytest.mark.pds
def test_bluesky_keep_is_the_default_and_deletes_go_by_rkey(tmp_path, feed_server, pds, account):
    clock = FakeClock(time.time())
    app = bluesky_app(tmp_path, feed_server, pds, account, clock)
    did = account[0]
    cycle(app, feed_server, (1, "Tpyo"), (2, "Other"))
    cycle(app, feed_server, (1, "Typo fixed"), (2, "Other"))
    records = pds.list_records(did)
    assert len(records) == 2 and any("Tpyo" in r["value"]["text"] for r in records)
    editors(app).delete("guid-1", requester="tester", requested_by="Ann")
    app.deliverer.deliver_due()
    [left] = pds.list_records(did)
    assert "Other" in left["value"]["text"]
