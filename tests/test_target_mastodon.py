"""MastodonAdapter through the real Mastodon.py against the loopback Mastodon server."""

from __future__ import annotations

import io
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from syndicate.config import MastodonTarget, Secret
from syndicate.errors import AuthError, DeliveryError, PermanentError, RateLimited, TransientError
from syndicate.models import Attempted, LinkCard, PostDraft, Posted, TargetLimits
from syndicate.targets import Target
from syndicate.targets.mastodon import RESET_MARGIN, MastodonAdapter
from tests.fakes import FakeClock
from tests.servers.mastodon import Fault, MastodonServer, status_length

TOKEN = "s3cret-token-value"
LINK = "https://example.org/2024/05/01/why-the-strike-matters"
SOURCE = "https://redpepper.example/original-piece"
STATUSES = "/api/v1/statuses"


@pytest.fixture
def server():
    with MastodonServer(token=TOKEN, media_polls=2) as srv:
        yield srv
    assert not srv.errors, srv.errors[0]


def make(server, *, token=TOKEN, **options):
    kwargs = {k: options.pop(k) for k in ("fetch_image", "sleep", "media_poll_attempts", "clock") if k in options}
    cfg = MastodonTarget(kind="mastodon", instance=server.url, timeout=options.pop("timeout", 5), **options)
    adapter = MastodonAdapter("masto", cfg, Secret(token, "env TEST"), **kwargs)
    return adapter


@pytest.fixture
def adapter(server):
    a = make(server)
    yield a
    a.close()


def draft(text=None, *, link=LINK, card=None, language="en"):
    text = text or f"Why the strike matters\n\nFirst published in Red Pepper on 1 May 2024 {SOURCE}\n\n{link}"
    return PostDraft(target="masto", article_id="a1", text=text, length=status_length(text),
                     card=card, language=language)


def test_is_a_target(adapter):
    target: Target = adapter  # the Protocol is structural (and not runtime-checkable)
    assert target.name == "masto" and callable(target.lookup)


# --- limits -----------------------------------------------------------------------------------


def test_limits_come_from_the_instance_once(server):
    server.max_characters, server.characters_reserved_per_url = 1000, 30
    adapter = make(server)
    assert adapter.limits() == TargetLimits(max_length=1000, url_length=30, unit="graphemes")
    assert adapter.limits() is adapter.limits()
    assert [r.path for r in server.requests] == ["/api/v2/instance/"]


def test_limits_fall_back_to_v1_then_to_500_23(server):
    server.max_characters, server.instance_v2 = 700, False  # Mastodon < 4.0
    assert make(server).limits().max_length == 700
    server.queue_faults(Fault(status=503), Fault(drop=True))
    assert make(server).limits() == TargetLimits(max_length=500, url_length=23)


def test_limits_honour_max_length_and_the_content_warning(server):
    server.max_characters = 1000
    assert make(server, max_length=300).limits().max_length == 300
    assert make(server, max_length=5000).limits().max_length == 1000  # the server still says no
    assert make(server, content_warning="CW: strike").limits().max_length == 1000 - 10


# --- delivering -------------------------------------------------------------------------------


def test_a_status_carries_the_text_and_fits_the_instance_limit(server):
    server.max_characters = 1000
    adapter = make(server, visibility="unlisted", content_warning="politics")
    limit = adapter.limits().max_length
    head = "Why the strike matters — a long read. "
    filler = "x" * (limit - status_length(head) - (1 + 23) * 2)  # every URL counts 23
    text = f"{head}{filler} {LINK}\n{SOURCE}"
    assert status_length(text) == limit
    posted = adapter.deliver(draft(text, language="en-GB"), "outbox-1")
    [status] = server.statuses
    assert status["text"] == text and LINK in status["text"] and SOURCE in status["text"]
    assert (status["visibility"], status["language"], status["spoiler_text"]) == ("unlisted", "en-GB", "politics")
    assert status["idempotency_key"] == "outbox-1"
    assert posted == Posted(remote_id=status["id"], url=status["url"], posted_at=posted.posted_at)
    assert posted.posted_at.tzinfo is not None
    assert posted.posted_at == datetime.fromisoformat(status["created_at"])  # the server's time, not ours
    with pytest.raises(PermanentError, match="HTTP 422: Validation failed: Text character limit of 1000"):
        adapter.deliver(draft(text + "!"), "outbox-2")


def test_the_same_key_twice_makes_one_status(server, adapter):
    first = adapter.deliver(draft(), "outbox-7")
    again = adapter.deliver(draft(), "outbox-7")
    assert first == again and len(server.statuses) == 1


def test_accepted_but_unheard_then_retried_with_the_same_key_posts_once(server, adapter):
    server.queue_faults(Fault(accept_then_drop=True, method="POST", path=STATUSES))
    with pytest.raises(TransientError):
        adapter.deliver(draft(), "outbox-9")
    assert len(server.statuses) == 1  # it landed; we never heard
    posted = adapter.deliver(draft(), "outbox-9")
    assert [s["id"] for s in server.statuses] == [posted.remote_id]


def sent(*drafts, key="k", since=None, taken=()):
    """What the outbox tells lookup: the texts a row sent, since when, the ids other rows hold."""
    when = since or datetime.now(UTC) - timedelta(minutes=5)
    return Attempted(key, tuple(d.text for d in drafts), when, frozenset(taken))


def test_lookup_finds_a_status_an_earlier_process_made(server, adapter):
    posted = adapter.deliver(draft(), "outbox-3")
    adapter.deliver(draft("Another article https://example.org/other"), "outbox-4")
    fresh = make(server)  # a new process: no memory of the first
    assert fresh.lookup(sent(draft(), key="outbox-3")) == posted
    assert fresh.lookup(sent(draft(link="https://example.org/never-posted"), key="outbox-5")) is None


def test_lookup_matches_the_whole_text_whitespace_aside(server, adapter):
    posted = adapter.deliver(draft("Just words, no link", language=None), "k1")
    assert make(server).lookup(sent(draft("Just   words,\nno link"))) == posted
    text = "Solidarity with @union@social.example today https://example.org/u"  # shown as @union
    posted = adapter.deliver(draft(text), "k2")
    assert make(server).lookup(sent(draft(text))) == posted


@pytest.mark.parametrize("other", [
    f"Why the strike matters\n\nFirst published in Red Pepper on 1 May 2024 {SOURCE}\n\n{LINK}3",  # longer URL
    f"From our archive:\n\nWhy the strike matters\n\nFirst published in Red Pepper on 1 May 2024 "
    f"{SOURCE}\n\n{LINK}",  # the same post with an editor's intro
    f"Great read: {LINK} (and {SOURCE})",  # the same links in other words
])
def test_lookup_never_takes_a_status_that_merely_carries_the_links(server, adapter, other):
    adapter.deliver(draft(other), "someone-else")
    assert make(server).lookup(sent(draft())) is None


def test_lookup_only_considers_statuses_made_since_the_first_attempt():
    clock = FakeClock(1_750_000_000.0)
    with MastodonServer(token=TOKEN, clock=clock) as srv:
        srv.post_as_account(draft().text)  # the same text, posted by hand an hour before
        clock.advance(3600)
        since = datetime.fromtimestamp(clock(), UTC)
        assert make(srv).lookup(sent(draft(), since=since)) is None
        clock.advance(10)
        [mine] = srv.post_as_account(draft().text)
        assert make(srv).lookup(sent(draft(), since=since)).remote_id == mine["id"]
        gets = [r for r in srv.requests if r.path.endswith("/statuses") and r.method == "GET"]
        assert len(gets) == 2  # one page each: the walk stops at the first status older than `since`


def test_lookup_skips_a_status_another_row_holds(server, adapter):
    first = adapter.deliver(draft(), "row-1")
    second = adapter.deliver(draft(), "row-2")  # a forced repost: the same text
    assert make(server).lookup(sent(draft(), taken={second.remote_id})) == first
    assert make(server).lookup(sent(draft(), taken={first.remote_id, second.remote_id})) is None


def test_lookup_pages_back_past_the_newest_forty(server, adapter):
    posted = adapter.deliver(draft(), "row-1")
    server.post_as_account(*[f"Note {i}" for i in range(95)])
    assert make(server).lookup(sent(draft())) == posted
    pages = [r.query for r in server.requests if r.path.endswith("/statuses") and r.method == "GET"]
    assert len(pages) == 3 and [bool(p.get("max_id")) for p in pages] == [False, True, True]


def test_lookup_matches_any_text_the_row_sent(server, adapter):
    short = draft("A shorter first version https://example.org/x")
    posted = adapter.deliver(short, "row-1")  # composed at the fallback limits, before they were read
    assert make(server).lookup(sent(draft(), short)) == posted


def test_lookup_errors_are_translated(server, adapter):
    server.queue_faults(Fault(status=502))
    with pytest.raises(TransientError, match="HTTP 502"):
        adapter.lookup(sent(draft()))


# --- errors -------------------------------------------------------------------------------------


def deliver_error(server, adapter, *faults):
    server.queue_faults(*faults)
    with pytest.raises(DeliveryError) as info:
        adapter.deliver(draft(), "k")
    return info.value


def test_bad_token_is_an_auth_error_that_never_shows_the_token(server):
    err = deliver_error(server, make(server, token="wrong-token-value"))
    assert type(err) is AuthError
    assert str(err).startswith("HTTP 401: The access token is invalid")
    assert "wrong-token-value" not in str(err) and "wrong-token-value" not in repr(err.__cause__)


def test_read_only_token_is_an_auth_error(server):
    server.add_token("reader", scopes=("read",))
    err = deliver_error(server, make(server, token="reader"))
    assert type(err) is AuthError and "HTTP 403: This action is outside the authorized scopes" in str(err)


@pytest.mark.parametrize(
    ("fault", "kind", "text"),
    [
        (Fault(status=404, body={"error": "Record not found"}), PermanentError, "HTTP 404: Record not found"),
        (Fault(status=400, body={"error": "param is missing"}), PermanentError, "HTTP 400: param is missing"),
        (Fault(status=500), TransientError, "HTTP 500: Internal Server Error"),
        (Fault(status=502), TransientError, "HTTP 502: Bad Gateway"),
        (Fault(status=503), TransientError, "HTTP 503: Service Unavailable"),
        (Fault(status=504), TransientError, "HTTP 504: Gateway Timeout"),
        (Fault(drop=True), TransientError, "connection failed or dropped"),
    ],
)
def test_errors_are_translated(server, adapter, fault, kind, text):
    err = deliver_error(server, adapter, fault)
    assert type(err) is kind
    assert str(err).startswith(text)
    assert server.statuses == []


def test_a_hang_is_a_timeout(server):
    adapter = make(server, timeout=0.3)
    err = deliver_error(server, adapter, Fault(hang=True, hang_for=5))
    assert type(err) is TransientError and "no answer within 0.3s" in str(err)


def test_a_429_fault_gives_the_servers_reset(server, adapter):
    err = deliver_error(server, adapter, Fault(status=429, reset_in=30, method="POST", path=STATUSES))
    assert type(err) is RateLimited and str(err).startswith("HTTP 429")
    header = server.requests[-1].response_headers["X-RateLimit-Reset"]
    assert err.retry_at == datetime.fromisoformat(header) + timedelta(seconds=RESET_MARGIN)
    assert err.retry_at.tzinfo is not None


def test_a_spent_budget_gives_the_windows_reset():
    clock = FakeClock(1_700_000_000.5)
    with MastodonServer(token=TOKEN, budget=2, window=300, clock=clock) as srv:
        adapter = make(srv)
        adapter.deliver(draft(), "k1")
        adapter.deliver(draft(link="https://example.org/b"), "k2")
        with pytest.raises(RateLimited) as info:
            adapter.deliver(draft(link="https://example.org/c"), "k3")
        assert srv.reset_at == datetime(2023, 11, 14, 22, 18, 20, 500000, tzinfo=UTC)
        assert info.value.retry_at == srv.reset_at + timedelta(seconds=RESET_MARGIN)  # lands in the new window
        assert len(srv.statuses) == 2
        srv.reset_window()
        adapter.deliver(draft(link="https://example.org/c"), "k3")
        assert len(srv.statuses) == 3


def test_a_lookup_sends_nothing_past_the_request_that_spent_the_budget():
    """A lookup's first call is two requests (verify_credentials for the account, then its
    statuses): when the answer to the first spends the budget, the second is not sent."""
    clock = FakeClock(time.time())
    with MastodonServer(token=TOKEN, budget=2, window=300, clock=clock) as srv:
        earlier = make(srv, clock=clock)
        earlier.deliver(draft(), "k1")  # 1 request left
        fresh = make(srv, clock=clock)  # another worker: it knows neither the account nor the budget
        with pytest.raises(RateLimited) as info:
            fresh.lookup(sent(draft(), key="k1"))
        assert "not sent" in str(info.value)
        assert [(r.path, r.status) for r in srv.requests][-1] == ("/api/v1/accounts/verify_credentials", 200)
        assert all(r.status != 429 for r in srv.requests) and srv.peak_window == srv.budget
        clock.set(info.value.retry_at)  # the next window, as the error says
        assert fresh.lookup(sent(draft(), key="k1")) is not None  # found
        earlier.close()
        fresh.close()


def test_a_request_whose_answer_was_lost_counts_against_the_budget():
    """The server counted it, the adapter never heard: the next request would be one too many."""
    clock = FakeClock(time.time())
    with MastodonServer(token=TOKEN, budget=2, window=300, clock=clock) as srv:
        adapter = make(srv, clock=clock)
        adapter.deliver(draft(), "k1")  # 1 request left, says the answer
        srv.queue_faults(Fault(accept_then_drop=True, method="POST", path=STATUSES))
        with pytest.raises(TransientError):
            adapter.deliver(draft(link="https://example.org/b"), "k2")  # made, counted, unanswered
        with pytest.raises(RateLimited) as info:
            adapter.deliver(draft(link="https://example.org/c"), "k3")
        assert "not sent" in str(info.value)
        assert len(srv.requests) == 2 and all(r.status != 429 for r in srv.requests)
        assert srv.peak_window == srv.budget
        adapter.close()


def test_rate_budget_follows_the_headers():
    clock = FakeClock(1_700_000_000.0)
    with MastodonServer(token=TOKEN, budget=5, window=300, clock=clock) as srv:
        adapter = make(srv)
        assert adapter.rate_budget() is None
        adapter.deliver(draft(), "k1")
        adapter.deliver(draft(link="https://example.org/b"), "k2")
        # the reset is when the adapter will send again: the server's, plus the margin
        assert adapter.rate_budget() == (3, srv.reset_at + timedelta(seconds=RESET_MARGIN))


def test_no_error_message_carries_the_token(server, adapter):
    faults = [Fault(status=s) for s in (400, 404, 422, 429, 500, 503)] + [Fault(drop=True)]
    for fault in faults:
        err = deliver_error(server, adapter, fault)
        assert TOKEN not in str(err) and TOKEN not in str(err.__cause__)


# --- thumbnails ---------------------------------------------------------------------------------

def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 40)).save(out, "PNG")
    return out.getvalue()


PNG = _png()
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 40 30\nshowpage\n%%EOF\n"
CARD = LinkCard(uri=LINK, title="Why the strike matters", description="", thumb_url="https://example.org/t.png")


def test_thumbnail_uploaded_with_alt_text_after_processing(server):
    clock, fetched = FakeClock(), []

    def fetch(url):
        fetched.append(url)
        return PNG, "image/png"

    adapter = make(server, thumbnail=True, fetch_image=fetch, sleep=clock.sleep)
    adapter.deliver(draft(card=CARD), "k")
    [status] = server.statuses
    assert fetched == ["https://example.org/t.png"]
    assert [(m["description"], m["type"]) for m in status["media"]] == [("Why the strike matters", "image")]
    assert len(clock.sleeps) == 2  # 202, then 206, then 200
    assert [r.status for r in server.requests if r.path.startswith("/api/v1/media")] == [206, 200]


def test_thumbnail_not_ready_in_time_posts_without_it(server):
    server.media_polls = 50
    clock = FakeClock()
    adapter = make(server, thumbnail=True, fetch_image=lambda url: (PNG, "image/png"), sleep=clock.sleep,
                   media_poll_attempts=3)
    adapter.deliver(draft(card=CARD), "k")
    assert len(clock.sleeps) == 3 and server.statuses[0]["media"] == []


@pytest.mark.parametrize("fetch", [lambda url: (b"not an image", "text/plain"), lambda url: 1 / 0])
def test_thumbnail_that_cannot_be_had_is_left_out(server, fetch):
    make(server, thumbnail=True, fetch_image=fetch, sleep=FakeClock().sleep).deliver(draft(card=CARD), "k")
    assert [s["media"] for s in server.statuses] == [[]]


def test_only_a_safely_decoded_image_is_uploaded_with_the_type_it_really_is(server, caplog):
    """An EPS served as image/png is refused (never uploaded); a PNG served as
    octet-stream is uploaded as image/png."""
    make(server, thumbnail=True, fetch_image=lambda url: (EPS, "image/png"),
         sleep=FakeClock().sleep).deliver(draft(card=CARD), "k1")
    assert server.media == [] and [s["media"] for s in server.statuses] == [[]]
    assert "thumbnail https://example.org/t.png refused (not a JPEG, PNG, WebP or GIF image" in caplog.text
    make(server, thumbnail=True, fetch_image=lambda url: (PNG, "application/octet-stream"),
         sleep=FakeClock().sleep).deliver(draft(card=CARD), "k2")
    assert [m["type"] for m in server.media] == ["image"]  # the server refuses octet-stream


def test_thumbnail_upload_server_error_fails_the_delivery(server):
    adapter = make(server, thumbnail=True, fetch_image=lambda url: (PNG, "image/png"), sleep=FakeClock().sleep)
    server.queue_faults(Fault(status=503, method="POST", path="/api/v2/media"))
    with pytest.raises(TransientError, match="uploading the thumbnail"):
        adapter.deliver(draft(card=CARD), "k")
    assert server.statuses == []


def test_no_thumbnail_unless_configured(server):
    called = []
    make(server, fetch_image=lambda url: called.append(url)).deliver(draft(card=CARD), "k")
    assert called == [] and server.statuses[0]["media"] == []


def test_close_then_use_again(server, adapter):
    adapter.deliver(draft(), "k1")
    adapter.close()
    adapter.close()
    assert adapter.deliver(draft(), "k1").remote_id == server.statuses[0]["id"]


def test_an_answer_without_a_status_id_is_not_taken_for_a_post(server, adapter):
    # a 200 with JSON that is no status (a proxy's, a broken server's): never recorded as sent
    err = deliver_error(server, adapter, Fault(status=200, body={"error": "try later"}, method="POST",
                                                path=STATUSES))
    assert type(err) is TransientError and "internal error" in str(err) and "no id" in str(err)


# --- quotes, content warnings, alt text ---------------------------------------------------------


@pytest.mark.parametrize(("api_version", "sent"), [(2, None), (7, "nobody")])
def test_the_quote_policy_goes_only_to_an_instance_that_knows_it(server, api_version, sent):
    server.api_version = api_version
    adapter = make(server, quote_policy="nobody")
    adapter.deliver(draft(), "k1")
    adapter.close()
    [request] = [r for r in server.requests if r.path.startswith(STATUSES)]
    assert request.params.get("quote_approval_policy") == sent  # not even sent to a 4.3
    assert server.statuses[0]["quote_policy"] == sent


def test_without_a_quote_policy_none_is_sent_to_a_4_5(server):
    server.api_version = 7
    make(server).deliver(draft(), "k1")
    [request] = [r for r in server.requests if r.path.startswith(STATUSES)]
    assert "quote_approval_policy" not in request.params
    assert server.statuses[0]["quote_policy"] == "public"  # the account's default


def test_an_articles_content_warning_replaces_the_targets(server):
    adapter = make(server, content_warning="Politics")
    adapter.deliver(replace(draft(), content_warning="Violence"), "k1")
    adapter.deliver(draft("Another one https://example.org/2"), "k2")
    adapter.close()
    assert [s["spoiler_text"] for s in server.statuses] == ["Violence", "Politics"]


def test_the_thumbnail_takes_the_feeds_alt_text(server):
    clock = FakeClock()
    adapter = make(server, thumbnail=True, fetch_image=lambda url: (PNG, "image/png"), sleep=clock.sleep)
    adapter.deliver(replace(draft(card=CARD), image_alt="Pickets at the depot gates at dawn"), "k1")
    adapter.close()
    assert [m["description"] for m in server.statuses[0]["media"]] == ["Pickets at the depot gates at dawn"]
