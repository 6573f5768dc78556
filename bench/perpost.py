"""Figure 10: CPU per post, each adapter against bare clients posting the same to the same server.

Mastodon (``tests/servers/mastodon.py`` in its own process, rate budget raised):

- floor A: a bare Mastodon.py client as feediverse uses it (``Mastodon(api_base_url,
  access_token)``, ``status_post(text)``): what the issue's peer pays per post;
- floor B: a bare ``httpx.Client`` ``POST /api/v1/statuses`` (form body, bearer token,
  ``Idempotency-Key``), the answer parsed as JSON;
- ours: ``MastodonAdapter.deliver(draft, key)`` (limits read once beforehand, as a delivery
  run does), every post with a new key.

Bluesky (the reference PDS, node, in its own process):

- floor: a bare ``httpx.Client`` ``com.atproto.repo.createRecord`` with a record dict built
  in place (logged in once with ``createSession``);
- ours: ``BlueskyAdapter.deliver(draft, key)``, every post at a new TID;
- for context: atproto's ``create_record`` with its models (what ``Client.send_post`` does).

Each kind runs ``rounds`` times in turn (A, B, ours, A, B, ours, …) with ``posts`` posts a
round; the figure is each kind's best round (process CPU per post), so a burst of load on
the shared machine hits one round, not one kind.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bench.common import Line
from bench.context import Context

MASTODON_RATIO = 0.5  # ours ≤ 0.5 × a bare Mastodon.py post (the issue: ≤ 0.5 × feediverse)
BLUESKY_RATIO = 1.5  # ours ≤ 1.5 × a bare createRecord over httpx
HTTPX_RATIO = 1.5  # ours ≤ 1.5 × a bare httpx status post (the same discipline as Bluesky)


def _cpu_per(fn: Callable[[int], None], n: int) -> float:
    import gc

    gc.collect()
    c0 = time.process_time()
    for i in range(n):
        fn(i)
    return (time.process_time() - c0) / n


def _rounds(kinds: dict[str, Callable[[int], None]], n: int, rounds: int) -> dict[str, float]:
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, fn in kinds.items():
            per = _cpu_per(fn, n)
            best[name] = min(best.get(name, per), per)
    return best


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs"


def _text(i: int) -> str:
    return (f"Post {i} {secrets.token_hex(4)}: a headline of a usual length, and its link "
            f"https://news.example.org/2026/12/02/a-story-{i}/")


def _mastodon(n: int, rounds: int) -> list[Line]:
    import httpx
    from mastodon import Mastodon

    from bench.delivery import MastodonProcess
    from syndicate.config import MastodonTarget, Secret
    from syndicate.models import PostDraft
    from syndicate.targets.mastodon import MastodonAdapter

    token = secrets.token_hex(12)
    server = MastodonProcess(token)
    try:
        bare = Mastodon(api_base_url=server.url, access_token=token, ratelimit_method="throw",
                        version_check_mode="none")
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
        cfg = MastodonTarget(kind="mastodon", instance=server.url, token_env="X")
        adapter = MastodonAdapter("mastodon", cfg, Secret(token, "bench"))
        adapter.limits()
        run = secrets.token_hex(4)

        def mpy(i: int) -> None:
            bare.status_post(_text(i), visibility="public", idempotency_key=f"{run}-a{i}")

        def bare_httpx(i: int) -> None:
            r = client.post("/api/v1/statuses", data={"status": _text(i), "visibility": "public"},
                            headers={"Idempotency-Key": f"{run}-b{i}"})
            r.raise_for_status()
            r.json()

        counter = [0]

        def ours(i: int) -> None:
            counter[0] += 1
            text = _text(i)
            adapter.deliver(PostDraft(target="mastodon", article_id=str(i), text=text, length=len(text)),
                            f"{run}-c{counter[0]}")

        for fn in (mpy, bare_httpx, ours):  # connections up, first-use imports done
            fn(0)
        best = _rounds({"mastodon.py": mpy, "httpx": bare_httpx, "ours": ours}, n, rounds)
        adapter.close()
        client.close()
    finally:
        server.close()
    ratio_a = best["ours"] / best["mastodon.py"]
    ratio_b = best["ours"] / best["httpx"]
    notes = [f"best of {rounds} rounds of {n} posts per kind, taken in turn; process CPU per post; "
             f"server in its own process",
             f"bare Mastodon.py status_post {_us(best['mastodon.py'])}, bare httpx POST {_us(best['httpx'])}, "
             f"MastodonAdapter.deliver {_us(best['ours'])}"]
    return [
        Line("10a", "post to Mastodon vs bare Mastodon.py", _us(best["ours"]),
             f"floor Mastodon.py {_us(best['mastodon.py'])}, <={MASTODON_RATIO}x", ratio_a,
             ratio_a <= MASTODON_RATIO, notes=notes),
        Line("10b", "post to Mastodon vs bare httpx", _us(best["ours"]),
             f"floor httpx POST {_us(best['httpx'])}, <={HTTPX_RATIO}x", ratio_b, ratio_b <= HTTPX_RATIO),
    ]


def _bluesky(n: int, rounds: int) -> list[Line]:
    import httpx

    from syndicate.config import BlueskyTarget, Secret
    from syndicate.models import PostDraft
    from syndicate.targets.bluesky import BlueskyAdapter
    from syndicate.tid import tid_for
    from tests.servers.pds import PdsUnavailable, missing_reason, start_pds

    why = missing_reason()
    if why is not None:
        return [Line("10c", "post to Bluesky vs bare httpx", "-", f"skipped: {why}", None, None)]
    try:
        pds = start_pds()
    except PdsUnavailable as exc:
        return [Line("10c", "post to Bluesky vs bare httpx", "-", f"skipped: {str(exc)[:80]}", None, None)]
    try:
        password = secrets.token_urlsafe(12)
        did, handle = pds.create_account(f"b{secrets.token_hex(4)}.test", password)
        client = httpx.Client(base_url=pds.url)
        session = client.post("/xrpc/com.atproto.server.createSession",
                              json={"identifier": handle, "password": password}).json()
        client.headers["Authorization"] = f"Bearer {session['accessJwt']}"
        cfg = BlueskyTarget(kind="bluesky", service=pds.url, handle=handle, password_env="X", link_card=False)
        adapter = BlueskyAdapter("bluesky", cfg, Secret(password, "bench"))
        from atproto import Client

        sdk = Client(base_url=pds.url)
        sdk.login(handle, password, fetch_bsky_profile=False)
        base = int(time.time() * 1_000_000)
        counter = [0]

        def key() -> str:
            counter[0] += 1
            return tid_for(base + counter[0])

        def now() -> str:
            return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

        def bare(i: int) -> None:
            record = {"$type": "app.bsky.feed.post", "text": _text(i), "createdAt": now(), "langs": ["en"]}
            r = client.post("/xrpc/com.atproto.repo.createRecord",
                            json={"repo": did, "collection": "app.bsky.feed.post", "rkey": key(),
                                  "record": record})
            r.raise_for_status()
            r.json()

        def ours(i: int) -> None:
            text = _text(i)
            adapter.deliver(PostDraft(target="bluesky", article_id=str(i), text=text, length=len(text),
                                      language="en"), key())

        from atproto import models

        def atproto_sdk(i: int) -> None:  # send_post without its profile lookup
            sdk.com.atproto.repo.create_record(models.ComAtprotoRepoCreateRecord.Data(
                repo=did, collection="app.bsky.feed.post", record=models.AppBskyFeedPost.Record(
                    text=_text(i), created_at=now(), langs=["en"])))

        for fn in (bare, ours, atproto_sdk):
            fn(0)
        best = _rounds({"httpx": bare, "ours": ours, "atproto": atproto_sdk}, n, rounds)
        adapter.close()
        client.close()
    finally:
        pds.stop()
    ratio = best["ours"] / best["httpx"]
    return [Line("10c", "post to Bluesky vs bare httpx", _us(best["ours"]),
                 f"floor createRecord {_us(best['httpx'])}, <={BLUESKY_RATIO}x", ratio, ratio <= BLUESKY_RATIO,
                 notes=[f"best of {rounds} rounds of {n} posts per kind, taken in turn; process CPU per post; "
                        f"the reference PDS in its own process",
                        f"bare httpx createRecord {_us(best['httpx'])}, BlueskyAdapter.deliver {_us(best['ours'])}, "
                        f"atproto create_record {_us(best['atproto'])} "
                        f"({best['atproto'] / best['httpx']:.2f}x the floor)"])]


def run(ctx: Context) -> list[Line]:
    n = 50 if ctx.quick else 100
    rounds = 3 if ctx.quick else 5
    return _mastodon(n, rounds) + _bluesky(n // 2, rounds)
