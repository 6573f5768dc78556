"""Platforms own their rules: the registry, and composing that names no platform.

A platform is one module under ``syndicate/targets`` (its limits as data, its
adapter, its draft step), its config model, and one line in
``syndicate.targets.PLATFORMS``.  ``compose`` knows none of them, nor the
configuration.  The third platform here ("echo": a notebook that keeps what it
is sent, with a limit of 140 code points and a "card" of its own) is defined in
this file and goes through ``app``, ``compose`` and the outbox untouched.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import ClassVar, Literal, get_args

import pytest

from syndicate.app import build_target
from syndicate.compose import Composed
from syndicate.config import (
    BlueskyTarget,
    DeliveryConfig,
    MastodonTarget,
    Secret,
    SecretRef,
    TargetBase,
    TargetConfig,
)
from syndicate.delivery import Deliverer
from syndicate.drafts import platform_limits
from syndicate.fetch import Fetcher
from syndicate.models import Article, Attempted, LinkCard, PostDraft, Posted, TargetLimits
from syndicate.retry import RetryPolicy
from syndicate.store import Store
from syndicate.targets import PLATFORMS, Platform, Services, draft_post, platform_of

ARTICLE = Article(feed="acr", id="acr-1", title="Stalinist Realism and Open Communism",
                  link="https://anticapitalistresistance.org/stalinist-realism-and-open-communism-2/",
                  published=datetime(2022, 10, 13, 9, 0, tzinfo=UTC), standfirst="Ian Parker describes it.",
                  categories=("Communism",))


# --- the registry --------------------------------------------------------------------------------


def test_every_kind_feeds_yaml_accepts_has_its_platform():
    models = {get_args(m.types()["kind"])[0]: m for m in get_args(get_args(TargetConfig)[0])}
    assert set(models) == set(PLATFORMS) == {"mastodon", "bluesky"}
    for kind, platform in PLATFORMS.items():
        assert platform.kind == kind and platform.config is models[kind]


def test_the_platforms_declare_their_limits_as_data():
    assert PLATFORMS["mastodon"].limits == TargetLimits(max_length=500, url_length=23, unit="graphemes")
    assert PLATFORMS["bluesky"].limits == TargetLimits(max_length=300, url_length=None, unit="graphemes",
                                                       max_bytes=3000)
    masto = MastodonTarget(kind="mastodon", instance="https://masto.example", max_length=400,
                           content_warning="CW: strike")
    assert platform_limits(masto) == TargetLimits(400 - 10, 23, "graphemes")  # the CW shares the budget
    bsky = BlueskyTarget(kind="bluesky", handle="acr.test", max_length=1000)
    assert platform_limits(bsky) == PLATFORMS["bluesky"].limits  # max_length can only lower it


@pytest.mark.parametrize("module", ["syndicate.compose", "syndicate.template", "syndicate.textlen",
                                    "syndicate.hashtags"])
def test_composing_imports_neither_the_config_nor_a_platform(module):
    code = (f"import sys, {module}; "
            "print(sorted(m for m in sys.modules if m.startswith(('syndicate.config', 'syndicate.targets'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- a third platform: one module, its config model, one registry line ----------------------------


class EchoTarget(TargetBase):
    """Its config model (feeds.yaml would say ``kind: echo``)."""

    secret_what: ClassVar[str] = "notebook key"
    secret_key: ClassVar[str] = "key"
    secret_file_key: ClassVar[str] = "key_file"

    kind: Literal["echo"]
    key_env: str = "ECHO_KEY"
    shout: bool = False

    @property
    def secret_ref(self) -> SecretRef:
        return SecretRef(env=self.key_env)


# -- what would be syndicate/targets/echo.py --

ECHO_LIMITS = TargetLimits(max_length=140, url_length=None, unit="chars")


class EchoAdapter:
    def __init__(self, name: str, cfg: EchoTarget, key: Secret, services: Services) -> None:
        self.name, self.cfg, self.key = name, cfg, key
        self.notebook: dict[str, PostDraft] = {}

    def limits(self) -> TargetLimits:
        return echo_limits(self.cfg)

    def lookup(self, attempted: Attempted) -> Posted | None:
        return self._posted(attempted.key) if attempted.key in self.notebook else None

    def deliver(self, draft: PostDraft, key: str) -> Posted:
        self.notebook.setdefault(key, draft)
        return self._posted(key)

    def rate_budget(self) -> tuple[int, datetime | None] | None:
        return None

    def verify(self) -> str:
        return f"echo notebook {self.name}"

    def close(self) -> None:
        pass

    def _posted(self, key: str) -> Posted:
        return Posted(remote_id=key, url=f"https://echo.example/{key}")


def echo_limits(cfg: EchoTarget) -> TargetLimits:
    return ECHO_LIMITS if not cfg.max_length else TargetLimits(min(cfg.max_length, 140), None, "chars")


def echo_draft(article: Article, composed: Composed, cfg: EchoTarget) -> PostDraft:
    card = LinkCard(composed.fields["link"], composed.fields["title"].upper() if cfg.shout else "", "")
    return composed.to_draft(card=card, notes=("echo: a card of its own",))


ECHO = Platform(kind="echo", config=EchoTarget, limits=ECHO_LIMITS, offline_limits=echo_limits,
                build=EchoAdapter, draft=echo_draft)


@pytest.fixture
def echo_registered(monkeypatch):
    monkeypatch.setitem(PLATFORMS, "echo", ECHO)  # the one line in the registry


def test_a_third_platform_composes_drafts_and_delivers_through_the_registry(echo_registered, tmp_path):
    cfg = EchoTarget(kind="echo", shout=True)
    assert platform_of(cfg) is ECHO and platform_limits(cfg) == ECHO_LIMITS

    draft = draft_post(ARTICLE, "notes", cfg)
    # fitted by its own measure: code points, the link counted as written
    assert draft.text == f"Stalinist Realism and Open…\n\nFirst published 13 October 2022\n{ARTICLE.link}"
    assert draft.length == len(draft.text) == 137
    assert "length: 137 of 140 characters" in draft.notes
    assert draft.card == LinkCard(ARTICLE.link, "STALINIST REALISM AND OPEN COMMUNISM", "")
    assert draft.notes[-1] == "echo: a card of its own"

    fetcher = Fetcher("test")
    adapter = build_target("notes", cfg, Secret("k", "test"), store=None, fetcher=fetcher,
                           delivery=DeliveryConfig())
    fetcher.close()
    assert isinstance(adapter, EchoAdapter) and adapter.verify() == "echo notebook notes"

    store = Store(tmp_path / "state.db")
    store.ingest("acr", new=[ARTICLE], updated=[], queue={ARTICLE.id: ["notes"]})
    deliverer = Deliverer(store, {"notes": adapter},
                          lambda article, target, intro, strict_limit=None: draft_post(article, target, cfg),
                          policy=RetryPolicy(jitter=0), owner="me")
    [result] = deliverer.deliver_due()
    store.close()
    assert (result.outcome, result.url) == ("sent", f"https://echo.example/{next(iter(adapter.notebook))}")
    assert [d.text for d in adapter.notebook.values()] == [draft.text]


def test_an_unregistered_kind_is_named():
    with pytest.raises(ValueError, match="no platform for kind 'echo' \\(known: mastodon, bluesky\\)"):
        platform_of(EchoTarget(kind="echo"))
