"""One rule for what a server's answer means, on every platform (``syndicate.errors``).

Each adapter maps its SDK's errors through the same status table: the loopback
Mastodon server (through the real Mastodon.py) and the real PDS (through the
fault proxy and the real atproto SDK) answer every status below to a post, and
both adapters must call it the same error.  No answer at all is transient; an
exception nobody expected on the SDK's path is transient too, and says it is an
internal error (as the deliverer says of one from anywhere else).
"""

from __future__ import annotations

import secrets
import time

import pytest

from syndicate.config import BlueskyTarget, MastodonTarget, Secret
from syndicate.errors import (
    AuthError,
    DeliveryError,
    PermanentError,
    RateLimited,
    TransientError,
    error_class,
)
from syndicate.models import PostDraft
from syndicate.targets.bluesky import BlueskyAdapter, tid_for
from syndicate.targets.mastodon import MastodonAdapter
from tests.servers.fault_proxy import Fault as ProxyFault
from tests.servers.fault_proxy import FaultProxy
from tests.servers.mastodon import Fault, MastodonServer

TOKEN = "error-table-token-0123456789"
STATUSES = "/api/v1/statuses"
CREATE = "com.atproto.repo.createRecord"

#: The rule, written out: what an answer with this status to a post means.
RULE: dict[int | None, type[DeliveryError]] = {
    None: TransientError,  # no answer: refused, dropped, timed out
    400: PermanentError,
    401: AuthError,
    403: AuthError,
    404: PermanentError,
    408: TransientError,
    409: TransientError,  # Conflict: the same Idempotency-Key still being processed
    410: PermanentError,
    413: PermanentError,
    422: PermanentError,
    425: TransientError,  # Too Early
    429: RateLimited,
    500: TransientError,
    502: TransientError,
    503: TransientError,
    504: TransientError,
}
ANSWERED = [s for s in RULE if s is not None]


def post(text: str = "What the strike is about https://example.org/strike") -> PostDraft:
    return PostDraft(target="t", article_id="a1", text=text, length=len(text))


def test_the_table_is_the_rule():
    for status, kind in RULE.items():
        assert error_class(status) is kind, status
    assert error_class(418) is PermanentError and error_class(599) is TransientError
    assert error_class(200) is TransientError  # an answer that is not the one asked for


# --- Mastodon ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mastodon_server():
    with MastodonServer(token=TOKEN) as server:
        yield server
    assert not server.errors, server.errors[0]


@pytest.fixture
def mastodon(mastodon_server):
    cfg = MastodonTarget(kind="mastodon", instance=mastodon_server.url, timeout=5)
    adapter = MastodonAdapter("masto", cfg, Secret(TOKEN, "test"))  # each its own rate budget
    yield mastodon_server, adapter
    adapter.close()


def masto_error(mastodon, fault: Fault) -> DeliveryError:
    server, adapter = mastodon
    server.queue_faults(fault)
    with pytest.raises(DeliveryError) as info:
        adapter.deliver(post(), secrets.token_hex(8))
    return info.value


@pytest.mark.parametrize("status", ANSWERED)
def test_mastodon_follows_the_rule(mastodon, status):
    err = masto_error(mastodon, Fault(status=status, method="POST", path=STATUSES))
    assert type(err) is RULE[status] and str(err).startswith(f"HTTP {status}")


def test_mastodon_no_answer_is_transient(mastodon):
    assert type(masto_error(mastodon, Fault(drop=True, method="POST", path=STATUSES))) is RULE[None]


def test_mastodon_an_unexpected_exception_is_an_internal_error_retried(mastodon):
    # a 200 whose JSON is not a status: reading it fails inside the adapter, not at the server
    err = masto_error(mastodon, Fault(status=200, body=["not", "a", "status"], method="POST", path=STATUSES))
    assert type(err) is TransientError and "posting the status on http" in str(err)
    assert "internal error: ValueError: the answer is no status" in str(err)


# --- Bluesky -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bluesky(pds):
    password = secrets.token_urlsafe(12)
    _did, handle = pds.create_account(f"e{secrets.token_hex(5)}.test", password)
    with FaultProxy(pds.url) as proxy:
        cfg = BlueskyTarget(kind="bluesky", service=proxy.url, handle=handle, timeout=10)
        adapter = BlueskyAdapter("bsky", cfg, Secret(password, "test"))
        yield proxy, adapter
        adapter.close()


_keys = iter(range(int(time.time() * 1_000_000), 1 << 53))


def bsky_error(bluesky, *faults: ProxyFault) -> DeliveryError:
    proxy, adapter = bluesky
    proxy.clear()
    proxy.add_faults(CREATE, *faults)
    with pytest.raises(DeliveryError) as info:
        adapter.deliver(post(), tid_for(next(_keys)))
    return info.value


@pytest.mark.pds
@pytest.mark.parametrize("status", ANSWERED)
def test_bluesky_follows_the_rule(bluesky, status):
    # a 401 makes the adapter log in again and try once more: the second answer decides
    faults = [ProxyFault(status=status)] * (2 if status == 401 else 1)
    err = bsky_error(bluesky, *faults)
    assert type(err) is RULE[status] and "posting: " in str(err) and str(status) in str(err)


@pytest.mark.pds
def test_bluesky_no_answer_is_transient(bluesky):
    assert type(bsky_error(bluesky, ProxyFault(drop=True))) is RULE[None]


@pytest.mark.pds
def test_bluesky_an_unexpected_exception_is_an_internal_error_retried(bluesky):
    # a 200 whose JSON is not a createRecord answer: the SDK cannot read it
    err = bsky_error(bluesky, ProxyFault(status=200, body=b'["not", "a", "record"]'))
    assert type(err) is TransientError and "internal error: " in str(err)
