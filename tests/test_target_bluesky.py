"""The Bluesky adapter against the reference PDS (``@atproto/pds`` on loopback).

Faults the PDS cannot make on demand (503, 429, a lost answer) come from
``servers.fault_proxy`` in front of it, never from patching the SDK.
"""

from __future__ import annotations

import io
import itertools
import logging
import secrets
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from PIL import Image

from syndicate.config import BlueskyTarget, Secret
from syndicate.errors import AuthError, PermanentError, RateLimited, TransientError
from syndicate.models import Attempted, Facet, LinkCard, PostDraft, StoredSession
from syndicate.targets import Target
from syndicate.targets.bluesky import RESET_MARGIN, BlueskyAdapter, count_graphemes, prepare_thumb, tid_for
from syndicate.tid import is_tid
from tests.servers.fault_proxy import Fault, FaultProxy
from tests.servers.pds import start_pds

pytestmark = pytest.mark.pds

CREATE = "com.atproto.repo.createRecord"
LOGIN = "com.atproto.server.createSession"


# -- fixtures ----------------------------------------------------------------------------------


def attempted(key: str, post: PostDraft) -> Attempted:
    """What the outbox tells ``lookup`` about a row that sent ``post`` at ``key``."""
    return Attempted(key, (post.text,), datetime.now(UTC))


class Account:
    def __init__(self, did: str, handle: str, password: str) -> None:
        self.did, self.handle, self.password = did, handle, password


@pytest.fixture
def account(pds) -> Account:
    password = secrets.token_urlsafe(12)
    did, handle = pds.create_account(f"b{secrets.token_hex(5)}.test", password)
    return Account(did, handle, password)


@pytest.fixture
def proxy(pds):
    with FaultProxy(pds.url) as p:
        yield p


class MemoryStore:
    """The SessionStore protocol in memory; counts saves.  ``sessions`` holds the SDK's
    session strings (``handle:::did:::access:::refresh:::endpoint``), ``made_for`` the service
    and handle each was saved with."""

    def __init__(self) -> None:
        self.sessions: dict[str, str] = {}
        self.made_for: dict[str, tuple[str | None, str | None]] = {}
        self.saves = 0

    def load_session(self, target: str) -> StoredSession | None:
        if target not in self.sessions:
            return None
        return StoredSession(self.sessions[target], *self.made_for[target])

    def save_session(self, target: str, session: StoredSession) -> None:
        self.sessions[target] = session.data
        self.made_for[target] = (session.service, session.handle)
        self.saves += 1


_keys = itertools.count(int(time.time() * 1_000_000))


def new_key() -> str:
    return tid_for(next(_keys))


def make_adapter(service: str, account: Account, *, store=None, fetch_image=None, page_image=None,
                 password=None,
                 timeout: float = 10, **cfg) -> BlueskyAdapter:
    target = BlueskyTarget(kind="bluesky", service=service, handle=account.handle, timeout=timeout, **cfg)
    secret = Secret(password or account.password, "test")
    return BlueskyAdapter("bsky", target, secret, session_store=store, fetch_image=fetch_image,
                          page_image=page_image)


def facet(text: str, part: str, kind: str, value: str) -> Facet:
    """The facet covering the first ``part`` of ``text``, in UTF-8 byte offsets."""
    start = len(text[: text.index(part)].encode())
    return Facet(start, start + len(part.encode()), kind, value)  # type: ignore[arg-type]


def draft(text: str, **kw) -> PostDraft:
    return PostDraft(target="bsky", article_id="a1", text=text, length=count_graphemes(text), **kw)


def png(width: int = 64, height: int = 48, noise: bool = False) -> bytes:
    if noise:
        image = Image.frombytes("RGB", (width, height), secrets.token_bytes(width * height * 3))
    else:
        image = Image.new("RGB", (width, height), (200, 30, 40))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def raw_session(pds, account: Account) -> dict:
    resp = httpx.post(f"{pds.url}/xrpc/{LOGIN}", json={"identifier": account.handle,
                                                       "password": account.password})
    resp.raise_for_status()
    return resp.json()


# -- a rich post, read back --------------------------------------------------------------------

TEXT = ("Grève générale à Besançon 🇫🇷✊🏽👩‍👩‍👧: the unions’ call, in full — "
        "https://example.org/grève?x=1 #Grève #ACR")
LINK = "https://example.org/grève?x=1"


def test_post_reads_back_with_text_facets_card_and_langs(pds, account):
    image = png()
    fetched: list[str] = []

    def fetch_image(url: str) -> tuple[bytes, str]:
        fetched.append(url)
        return image, "image/png"

    facets = (facet(TEXT, LINK, "link", LINK), facet(TEXT, "#Grève", "tag", "Grève"),
              facet(TEXT, "#ACR", "tag", "ACR"))
    card = LinkCard(uri=LINK, title="Grève générale", description="The unions’ call, in full.",
                    thumb_url="https://example.org/image.png")
    key = new_key()
    adapter = make_adapter(pds.url, account, fetch_image=fetch_image)
    before = datetime.now(UTC)
    posted = adapter.deliver(draft(TEXT, facets=facets, card=card, language="fr"), key)
    adapter.close()

    assert posted.remote_id == f"at://{account.did}/app.bsky.feed.post/{key}"
    assert posted.url == f"https://bsky.app/profile/{account.did}/post/{key}"
    assert posted.posted_at is not None and posted.posted_at >= before
    assert fetched == ["https://example.org/image.png"]

    record = pds.get_record(account.did, key)["value"]
    assert record["$type"] == "app.bsky.feed.post"
    assert record["text"] == TEXT
    assert record["langs"] == ["fr"]
    created = datetime.fromisoformat(record["createdAt"].replace("Z", "+00:00"))
    assert abs((created - before).total_seconds()) < 60

    data = TEXT.encode()
    spans = [(data[f["index"]["byteStart"]:f["index"]["byteEnd"]].decode(), f["features"][0])
             for f in record["facets"]]
    assert spans == [
        (LINK, {"$type": "app.bsky.richtext.facet#link", "uri": LINK}),
        ("#Grève", {"$type": "app.bsky.richtext.facet#tag", "tag": "Grève"}),
        ("#ACR", {"$type": "app.bsky.richtext.facet#tag", "tag": "ACR"}),
    ]

    embed = record["embed"]
    assert embed["$type"] == "app.bsky.embed.external"
    external = embed["external"]
    assert (external["uri"], external["title"], external["description"]) == (
        LINK, "Grève générale", "The unions’ call, in full.")
    thumb = external["thumb"]
    assert thumb["$type"] == "blob" and thumb["mimeType"] == "image/png" and thumb["size"] == len(image)
    blob = httpx.get(f"{pds.url}/xrpc/com.atproto.sync.getBlob",
                     params={"did": account.did, "cid": thumb["ref"]["$link"]})
    assert blob.status_code == 200 and blob.content == image


def test_a_large_image_is_reencoded_to_fit_the_blob_limit(pds, account):
    big = png(2600, 1800, noise=True)
    assert len(big) > 1_000_000
    adapter = make_adapter(pds.url, account, fetch_image=lambda url: (big, "image/png"))
    key = new_key()
    card = LinkCard(uri="https://example.org/a", title="A", description="", thumb_url="https://x.test/i")
    adapter.deliver(draft("Big picture https://example.org/a", card=card), key)
    adapter.close()
    thumb = pds.get_record(account.did, key)["value"]["embed"]["external"]["thumb"]
    assert thumb["mimeType"] == "image/jpeg" and thumb["size"] <= 1_000_000


def test_an_image_failure_posts_without_a_thumbnail(pds, account, caplog):
    def broken(url: str) -> tuple[bytes, str]:
        raise OSError("connection refused")

    adapter = make_adapter(pds.url, account, fetch_image=broken)
    key = new_key()
    card = LinkCard(uri="https://example.org/b", title="B", description="d", thumb_url="https://x.test/i")
    with caplog.at_level(logging.WARNING, logger="syndicate.targets.bluesky"):
        adapter.deliver(draft("No picture https://example.org/b", card=card), key)
    adapter.close()
    external = pds.get_record(account.did, key)["value"]["embed"]["external"]
    assert "thumb" not in external and external["title"] == "B"
    [line] = [r.getMessage() for r in caplog.records]
    assert "no thumbnail for https://x.test/i" in line and "connection refused" in line


def test_no_card_when_the_target_disables_it(pds, account):
    adapter = make_adapter(pds.url, account, link_card=False)
    key = new_key()
    adapter.deliver(draft("Plain https://example.org/c", card=LinkCard("https://example.org/c", "C", "")), key)
    adapter.close()
    assert "embed" not in pds.get_record(account.did, key)["value"]


# -- limits ------------------------------------------------------------------------------------

CLUSTERS = "👩‍👩‍👧🇫🇷é✊🏽"  # 4 graphemes (é decomposed: e + U+0301), 40 bytes


def test_limits():
    cfg = BlueskyTarget(kind="bluesky", handle="acrbot.test")
    assert make_adapter("http://x.test", Account("d", "acrbot.test", "p")).limits().max_length == 300
    lower = BlueskyAdapter("b", replace(cfg, max_length=280), Secret("p", "t"))
    assert lower.limits().max_length == 280
    higher = BlueskyAdapter("b", replace(cfg, max_length=500), Secret("p", "t"))
    assert higher.limits().max_length == 300  # the PDS would refuse more
    assert higher.limits().url_length is None


def test_301_graphemes_are_refused_before_sending_and_300_are_posted(pds, proxy, account):
    assert count_graphemes(CLUSTERS) == 4
    text_300 = CLUSTERS * 10 + "x" * 260
    text_301 = text_300 + "y"
    adapter = make_adapter(proxy.url, account)
    with pytest.raises(PermanentError, match="301 graphemes, over the limit of 300"):
        adapter.deliver(draft(text_301), new_key())
    assert proxy.seen == []  # not even a login

    key = new_key()
    adapter.deliver(draft(text_300), key)  # the PDS counts graphemes as we do
    adapter.close()
    assert pds.get_record(account.did, key)["value"]["text"] == text_300

    # ...and the PDS itself would refuse the 301st.
    session = raw_session(pds, account)
    resp = httpx.post(f"{pds.url}/xrpc/{CREATE}", headers={"Authorization": f"Bearer {session['accessJwt']}"},
                      json={"repo": account.did, "collection": "app.bsky.feed.post", "rkey": new_key(),
                            "record": {"$type": "app.bsky.feed.post", "text": text_301,
                                       "createdAt": datetime.now(UTC).isoformat()}})
    assert resp.status_code == 400
    assert "grapheme too big (maximum 300, got 301)" in resp.json()["message"]


def test_a_bad_key_or_facet_is_refused_before_sending(proxy, account):
    adapter = make_adapter(proxy.url, account)
    with pytest.raises(PermanentError, match="not a TID"):
        adapter.deliver(draft("hello"), "not-a-tid")
    with pytest.raises(PermanentError, match="outside the text"):
        adapter.deliver(draft("hello", facets=(Facet(2, 9, "tag", "x"),)), new_key())
    assert proxy.seen == []


def test_a_validation_error_from_the_pds_is_permanent_with_its_message(pds, account):
    adapter = make_adapter(pds.url, account)
    bad = draft("see this", facets=(Facet(0, 3, "link", "not a uri"),))
    with pytest.raises(PermanentError) as info:
        adapter.deliver(bad, new_key())
    adapter.close()
    assert not isinstance(info.value, TransientError | AuthError)
    assert "400 InvalidRequest" in str(info.value) and "uri" in str(info.value)
    assert str(info.value).startswith("target bsky: posting: ")


# -- exactly once ------------------------------------------------------------------------------


def test_a_crash_after_the_pds_accepted_leaves_exactly_one_record(pds, proxy, account):
    adapter = make_adapter(proxy.url, account)
    key = new_key()
    post = draft("Exactly once, even when the answer is lost https://example.org/once")
    proxy.add_faults(CREATE, Fault(accept_then_drop=True))
    with pytest.raises(TransientError):
        adapter.deliver(post, key)
    assert proxy.seen[-1].outcome == "accepted 200 then dropped"

    found = adapter.lookup(attempted(key, post))  # what the outbox asks after an interrupted delivery
    again = adapter.deliver(post, key)  # or a plain retry: the lookup inside finds it
    adapter.close()
    assert found is not None and found.remote_id == again.remote_id == f"at://{account.did}/app.bsky.feed.post/{key}"
    assert found.url == again.url == f"https://bsky.app/profile/{account.did}/post/{key}"
    assert proxy.count(CREATE) == 1
    records = pds.list_records(account.did)
    assert [r["uri"].rsplit("/", 1)[-1] for r in records] == [key]


def test_lookup_of_a_key_never_used_is_none(proxy, account):
    adapter = make_adapter(proxy.url, account)
    assert adapter.lookup(attempted(new_key(), draft("x"))) is None
    adapter.close()


def test_the_pds_answers_500_for_a_duplicate_rkey_which_is_why_we_look_first(pds, account):
    session = raw_session(pds, account)
    key = new_key()
    body = {"repo": account.did, "collection": "app.bsky.feed.post", "rkey": key,
            "record": {"$type": "app.bsky.feed.post", "text": "one", "createdAt": datetime.now(UTC).isoformat()}}
    auth = {"Authorization": f"Bearer {session['accessJwt']}"}
    assert httpx.post(f"{pds.url}/xrpc/{CREATE}", headers=auth, json=body).status_code == 200
    assert httpx.post(f"{pds.url}/xrpc/{CREATE}", headers=auth, json=body).status_code == 500


# -- sessions ----------------------------------------------------------------------------------


def test_a_stored_session_is_reused_without_create_session(proxy, account):
    store = MemoryStore()
    first = make_adapter(proxy.url, account, store=store)
    first.deliver(draft("first"), new_key())
    first.close()
    assert proxy.count(LOGIN) == 1
    stored = store.sessions["bsky"]
    assert account.password not in stored

    second = make_adapter(proxy.url, account, store=store)
    second.deliver(draft("second"), new_key())
    second.close()
    assert proxy.count(LOGIN) == 1  # the second adapter used the stored session
    assert proxy.count(CREATE) == 2


def test_a_rejected_session_logs_in_again_once(proxy, account, caplog):
    store = MemoryStore()
    adapter = make_adapter(proxy.url, account, store=store)
    adapter.deliver(draft("first"), new_key())
    adapter.close()
    handle, did, access, refresh, endpoint = store.sessions["bsky"].split(":::")
    header, payload, signature = access.split(".")
    forged = ".".join([header, payload, signature[::-1]])  # well-formed, but the PDS rejects it
    store.sessions["bsky"] = ":::".join([handle, did, forged, refresh, endpoint])
    saves = store.saves

    again = make_adapter(proxy.url, account, store=store)
    with caplog.at_level(logging.INFO, logger="syndicate.targets.bluesky"):
        again.deliver(draft("second"), new_key())
    again.close()
    assert proxy.count(LOGIN) == 2
    assert store.saves == saves + 1 and forged not in store.sessions["bsky"]
    assert any("session was rejected" in r.getMessage() for r in caplog.records)
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert account.password not in logged and forged not in logged and refresh not in logged


def _expiring(pds, store: MemoryStore) -> tuple[str, str]:
    """Make the stored session's access token expire in a minute; return (access, refresh)."""
    handle, did, access, refresh, endpoint = store.sessions["bsky"].split(":::")
    access = pds.resign_token(access, exp=int(time.time()) + 60)
    store.sessions["bsky"] = ":::".join([handle, did, access, refresh, endpoint])
    return access, refresh


def test_an_expiring_session_is_refreshed_and_saved_not_recreated(pds, proxy, account):
    store = MemoryStore()
    make_adapter(proxy.url, account, store=store).deliver(draft("first"), new_key())
    access, refresh = _expiring(pds, store)
    saves = store.saves

    adapter = make_adapter(proxy.url, account, store=store)
    adapter.deliver(draft("second"), new_key())
    adapter.close()
    assert proxy.count("com.atproto.server.refreshSession") == 1
    assert proxy.count(LOGIN) == 1  # only the first adapter's
    assert store.saves == saves + 1
    assert access not in store.sessions["bsky"] and refresh not in store.sessions["bsky"]


def test_a_revoked_refresh_token_logs_in_again(pds, proxy, account):
    store = MemoryStore()
    make_adapter(proxy.url, account, store=store).deliver(draft("first"), new_key())
    _, refresh = _expiring(pds, store)
    revoke = httpx.post(f"{pds.url}/xrpc/com.atproto.server.deleteSession",
                        headers={"Authorization": f"Bearer {refresh}"})
    assert revoke.status_code == 200

    adapter = make_adapter(proxy.url, account, store=store)
    key = new_key()
    adapter.deliver(draft("second"), key)
    adapter.close()
    assert proxy.count("com.atproto.server.refreshSession") == 1  # refused: ExpiredToken
    assert proxy.count(LOGIN) == 2
    assert pds.get_record(account.did, key) is not None


def test_a_wrong_password_is_an_auth_error_after_one_attempt(proxy, account):
    adapter = make_adapter(proxy.url, account, password="wrong-password")
    with pytest.raises(AuthError, match="logging in: 401") as info:
        adapter.deliver(draft("never"), new_key())
    assert "wrong-password" not in str(info.value)
    with pytest.raises(AuthError, match="Invalid identifier or password"):
        adapter.deliver(draft("never"), new_key())
    assert proxy.count(LOGIN) == 1  # createSession is rate-limited: a refused password is not retried


def test_a_stored_session_for_another_account_is_not_used(proxy, pds, account):
    other = Account(*pds.create_account(f"o{secrets.token_hex(5)}.test", "other-pass-1"), "other-pass-1")
    store = MemoryStore()
    make_adapter(proxy.url, other, store=store).deliver(draft("other"), new_key())
    adapter = make_adapter(proxy.url, account, store=store)
    posted = adapter.deliver(draft("mine"), new_key())
    adapter.close()
    assert account.did in posted.remote_id
    assert proxy.count(LOGIN) == 2


# -- faults through the proxy ------------------------------------------------------------------


def test_503s_are_transient_and_a_retry_posts_once(pds, proxy, account):
    adapter = make_adapter(proxy.url, account)
    key = new_key()
    post = draft("Through a flaky PDS")
    proxy.add_faults(CREATE, Fault(status=503), Fault(status=503))
    for _ in range(2):
        with pytest.raises(TransientError, match="posting: 503 ServiceUnavailable") as info:
            adapter.deliver(post, key)
        assert not isinstance(info.value, RateLimited)
    adapter.deliver(post, key)
    adapter.close()
    assert proxy.count(CREATE) == 3
    assert len(pds.list_records(account.did)) == 1


def test_a_429_is_rate_limited_until_ratelimit_reset(pds, proxy, account):
    reset = int(time.time()) + 120
    adapter = make_adapter(proxy.url, account)
    key = new_key()
    proxy.add_faults(CREATE, Fault(status=429, headers={"ratelimit-reset": str(reset),
                                                        "ratelimit-remaining": "0"}))
    with pytest.raises(RateLimited) as info:
        adapter.deliver(draft("Slow down"), key)
    assert info.value.retry_at == datetime.fromtimestamp(reset, UTC)
    assert str(reset) not in str(info.value) and "rate limited" in str(info.value)
    adapter.deliver(draft("Slow down"), key)
    adapter.close()
    assert len(pds.list_records(account.did)) == 1


def test_a_429_on_login_is_rate_limited(proxy, account):
    reset = int(time.time()) + 300
    proxy.add_faults(LOGIN, Fault(status=429, headers={"ratelimit-reset": str(reset)}))
    with pytest.raises(RateLimited) as info:
        make_adapter(proxy.url, account).deliver(draft("x"), new_key())
    assert info.value.retry_at == datetime.fromtimestamp(reset, UTC)


# -- the rate budget: the PDS's ratelimit-* headers ----------------------------------------------


@pytest.fixture(scope="module")
def limited_pds(pds):
    """A second PDS with its rate limits on (the shared one has them off: tests log in a lot)."""
    with start_pds(env={"PDS_RATE_LIMITS_ENABLED": "true"}) as handle:
        yield handle


def test_rate_budget_follows_the_pds_ratelimit_headers(limited_pds):
    password = secrets.token_urlsafe(12)
    did, handle = limited_pds.create_account(f"r{secrets.token_hex(5)}.test", password)
    with FaultProxy(limited_pds.url) as proxy:
        adapter = make_adapter(proxy.url, Account(did, handle, password))
        target: Target = adapter
        assert target.rate_budget() is None  # nothing heard yet
        adapter.deliver(draft("Paced to the PDS"), new_key())
        answer = proxy.seen[-1]
        adapter.close()
    assert (answer.nsid, answer.outcome) == (CREATE, "forwarded 200")
    remaining, reset = int(answer.headers["ratelimit-remaining"]), int(answer.headers["ratelimit-reset"])
    assert 0 < remaining < int(answer.headers["ratelimit-limit"])
    # the reset given is when the adapter will send again: the PDS's (whole seconds, rounded down) + margin
    assert target.rate_budget() == (remaining, datetime.fromtimestamp(reset, UTC) + timedelta(seconds=RESET_MARGIN))


def test_a_429_spends_the_rate_budget(proxy, account):
    reset = int(time.time()) + 120
    adapter = make_adapter(proxy.url, account)
    proxy.add_faults(CREATE, Fault(status=429, headers={"ratelimit-reset": str(reset), "ratelimit-remaining": "0",
                                                        "ratelimit-limit": "3000"}))
    with pytest.raises(RateLimited):
        adapter.deliver(draft("Slow down"), new_key())
    adapter.close()
    assert adapter.rate_budget() == (0, datetime.fromtimestamp(reset, UTC) + timedelta(seconds=RESET_MARGIN))


@pytest.mark.parametrize("fault", [Fault(drop=True), Fault(status=500), Fault(status=502),
                                   Fault(delay=1.5)], ids=["drop", "500", "502", "timeout"])
def test_network_faults_are_transient(proxy, account, fault):
    # A lookup (the outbox's, after an outcome it did not hear, or deliver's own before a retry
    # at a key it sent at) that meets a network fault is transient.
    adapter = make_adapter(proxy.url, account, timeout=1)
    key = new_key()
    adapter.lookup(attempted(key, draft("x")))  # logged in
    proxy.add_faults("com.atproto.repo.getRecord", fault)
    with pytest.raises(TransientError) as info:
        adapter.lookup(attempted(key, draft("x")))
    assert type(info.value) is TransientError and "looking up the post" in str(info.value)
    proxy.add_faults(CREATE, Fault(status=503))
    with pytest.raises(TransientError, match="posting"):
        adapter.deliver(draft("x"), key)  # the first request at the key: nothing to look up
    proxy.add_faults("com.atproto.repo.getRecord", fault)
    with pytest.raises(TransientError) as info:
        adapter.deliver(draft("x"), key)  # a retry at it: looked up first
    assert type(info.value) is TransientError
    assert "looking up the post" in str(info.value)
    adapter.close()


def test_a_first_attempt_is_one_create_record_and_a_retry_looks_first(pds, proxy, account):
    adapter = make_adapter(proxy.url, account)
    adapter.lookup(attempted(new_key(), draft("x")))  # logged in
    gets = proxy.count("com.atproto.repo.getRecord")
    key = new_key()
    adapter.deliver(draft("One request, not two"), key)
    assert proxy.count(CREATE) == 1 and proxy.count("com.atproto.repo.getRecord") == gets
    again = adapter.deliver(draft("One request, not two"), key)  # a repeat at the key: found, not re-sent
    adapter.close()
    assert again.remote_id.endswith(f"/{key}")
    assert proxy.count(CREATE) == 1 and proxy.count("com.atproto.repo.getRecord") == gets + 1
    assert [r["uri"].rsplit("/", 1)[-1] for r in pds.list_records(account.did)].count(key) == 1


# -- helpers without a PDS ---------------------------------------------------------------------


def test_tid_for_is_a_valid_sortable_tid():
    now = int(time.time() * 1_000_000)
    keys = [tid_for(now + i) for i in range(3)]
    assert all(is_tid(k) and len(k) == 13 for k in keys)
    assert keys == sorted(keys) and len(set(keys)) == 3
    assert tid_for(now) == tid_for(now) != tid_for(now, clock_id=1)


def test_prepare_thumb():
    small = png()
    assert prepare_thumb(small, "image/png") == (small, "image/png")
    rgba = Image.new("RGBA", (2500, 100), (0, 0, 255, 128))
    out = io.BytesIO()
    rgba.save(out, "PNG")
    data, mime = prepare_thumb(out.getvalue(), "image/png")
    assert mime == "image/jpeg" and Image.open(io.BytesIO(data)).size == (2000, 80)
    with pytest.raises(ValueError, match=r"not a JPEG, PNG, WebP or GIF image \(served as text/html\)"):
        prepare_thumb(b"<html>", "text/html")


def test_without_a_feed_image_the_card_uses_the_page_og_image(pds, account, feed_server):
    from syndicate.page import page_image

    feed_server.set_feed("/article/", b'<html><head><meta property="og:image" content="/og.png">'
                         b"</head><body>x</body></html>", content_type="text/html")
    image = png()
    fetched: list[str] = []

    def fetch_image(url):
        fetched.append(url)
        return image, "image/png"

    def og(url):
        import httpx

        return page_image(httpx.get(url).content, url)

    article_url = feed_server.url("/article/")
    card = LinkCard(uri=article_url, title="T", description="D", thumb_url=None)
    key = new_key()
    adapter = make_adapter(pds.url, account, fetch_image=fetch_image, page_image=og)
    adapter.deliver(draft(f"T {article_url}", card=card), key)
    adapter.close()
    assert fetched == [feed_server.url("/og.png")]
    record = pds.get_record(account.did, key)["value"]
    assert record["embed"]["external"]["thumb"]["mimeType"] == "image/png"


# -- who may reply and quote: threadgate and postgate, written with the post ----------------------

APPLY = "com.atproto.repo.applyWrites"
GATES = dict(replies=["mentioned", "followers", "following"], quotes=False)


def test_threadgate_and_postgate_are_written_with_the_post_in_one_apply_writes(pds, proxy, account):
    adapter = make_adapter(proxy.url, account, **GATES)
    key = new_key()
    posted = adapter.deliver(draft("Who may reply https://example.org/gates", labels=("graphic-media",)), key)
    adapter.close()
    uri = f"at://{account.did}/app.bsky.feed.post/{key}"
    assert posted.remote_id == uri
    assert (proxy.count(APPLY), proxy.count(CREATE)) == (1, 0)  # one batch: all three, or none

    post = pds.get_record(account.did, key)["value"]
    assert post["labels"]["$type"] == "com.atproto.label.defs#selfLabels"
    assert [v["val"] for v in post["labels"]["values"]] == ["graphic-media"]
    gate = pds.get_record(account.did, key, "app.bsky.feed.threadgate")["value"]
    assert gate["post"] == uri
    assert [r["$type"] for r in gate["allow"]] == ["app.bsky.feed.threadgate#mentionRule",
                                                   "app.bsky.feed.threadgate#followerRule",
                                                   "app.bsky.feed.threadgate#followingRule"]
    quotes = pds.get_record(account.did, key, "app.bsky.feed.postgate")["value"]
    assert quotes["post"] == uri
    assert quotes["embeddingRules"] == [{"$type": "app.bsky.feed.postgate#disableRule"}]


def test_replies_nobody_is_a_threadgate_allowing_none_and_everybody_is_none(pds, account):
    nobody, everybody = new_key(), new_key()
    make_adapter(pds.url, account, replies="nobody").deliver(draft("No replies https://example.org/n"), nobody)
    make_adapter(pds.url, account).deliver(draft("Replies welcome https://example.org/e"), everybody)
    assert pds.get_record(account.did, nobody, "app.bsky.feed.threadgate")["value"]["allow"] == []
    assert pds.get_record(account.did, everybody, "app.bsky.feed.threadgate") is None
    assert pds.get_record(account.did, everybody, "app.bsky.feed.postgate") is None


def test_a_crash_after_the_batch_landed_finds_the_post_with_its_gates(pds, proxy, account):
    adapter = make_adapter(proxy.url, account, **GATES)
    key = new_key()
    post = draft("Exactly once, gates and all https://example.org/once-gated")
    proxy.add_faults(APPLY, Fault(accept_then_drop=True))
    with pytest.raises(TransientError):
        adapter.deliver(post, key)
    found = adapter.lookup(attempted(key, post))  # reconciliation after the crash
    again = adapter.deliver(post, key)
    adapter.close()
    assert found is not None and found.remote_id == again.remote_id == f"at://{account.did}/app.bsky.feed.post/{key}"
    assert proxy.count(APPLY) == 1
    assert pds.get_record(account.did, key, "app.bsky.feed.threadgate") is not None
    assert pds.get_record(account.did, key, "app.bsky.feed.postgate") is not None
