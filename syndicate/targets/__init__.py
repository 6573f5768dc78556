"""The platforms syndicate posts to: one module (or package) each, and the registry of them.

A platform's post module declares ``PLATFORM = Platform(...)`` (see ``base``): its
config model, its limits as data, how to build its adapter and how to turn a
composed text into its ``PostDraft``.  ``PLATFORMS`` maps a target's
``kind:`` to it; everything else (``app``, ``preview``, the editors' page)
goes through it, never through a chain of ``isinstance``.

An adapter turns a ``PostDraft`` into a remote post and translates its SDK's
errors into ``syndicate.errors`` through the one status table there.  It never
retries or sleeps by itself: the outbox and ``syndicate.retry`` decide when to
try again.  SDKs are imported inside the adapters only, when they first talk
to a server, so ``syndicate --help`` stays fast.

A new platform is one module here (``PLATFORM`` at its end; a post module and an
adapter's package, as ``bluesky`` is, once it holds more than one job), its config model in
``syndicate.config`` (a ``TargetBase`` with ``kind: Literal["name"]``, added
to ``TargetConfig``), and one line in ``PLATFORMS`` below.

``PLATFORMS`` names the module that declares each platform's ``PLATFORM`` and
imports it when that kind is first asked for: a config with only Mastodon targets
never loads Bluesky's, and importing this registry loads neither.  That module is
the platform's post module (``mastodon_post``, ``bluesky_post``: its rules and its
draft step), whose ``build`` imports the adapter when it first makes one; so
drafting (``preview``, the editors' page) loads no adapter.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from importlib import import_module
from typing import TYPE_CHECKING, Any

from syndicate.targets.base import Platform, Services, SessionStore, Target
from syndicate.value import replace

if TYPE_CHECKING:
    from syndicate.config import TargetBase
    from syndicate.hashtags import HashtagRules
    from syndicate.models import Article, PostDraft, TargetLimits

__all__ = ["PLATFORMS", "Platform", "Services", "SessionStore", "Target", "draft_post", "platform_of"]


class _Registry(MutableMapping[str, "Platform[Any]"]):
    """kind → platform: each a module's ``PLATFORM``, that module imported when the kind is
    first looked up (iterating lists the kinds and imports nothing)."""

    def __init__(self, modules: dict[str, str]) -> None:
        self._modules = dict(modules)  # kind → the module that declares its PLATFORM
        self._loaded: dict[str, Platform[Any]] = {}

    def __getitem__(self, kind: str) -> Platform[Any]:
        found = self._loaded.get(kind)
        if found is None:
            platform: Platform[Any] = import_module(self._modules[kind]).PLATFORM  # KeyError: unknown
            if platform.kind != kind:
                raise RuntimeError(f"{self._modules[kind]} declares kind {platform.kind!r}, not {kind!r}")
            found = self._loaded[kind] = platform
        return found

    def __setitem__(self, kind: str, platform: Platform[Any]) -> None:
        self._modules.setdefault(kind, "")
        self._loaded[kind] = platform

    def __delitem__(self, kind: str) -> None:
        del self._modules[kind]
        self._loaded.pop(kind, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)


#: kind → platform.  A new platform: one line here (its kind, and the module with its PLATFORM).
PLATFORMS: MutableMapping[str, Platform[Any]] = _Registry({
    "mastodon": "syndicate.targets.mastodon_post",
    "bluesky": "syndicate.targets.bluesky_post",
})


def platform_of(cfg: TargetBase) -> Platform[Any]:
    """The platform of a target's config (``kind:``)."""
    try:
        return PLATFORMS[cfg.kind]
    except KeyError:
        raise ValueError(f"no platform for kind {cfg.kind!r} (known: {', '.join(PLATFORMS)})") from None


def draft_post(article: Article, target: str, cfg: TargetBase, *, limits: TargetLimits | None = None,
               template: str | None = None, hashtags: HashtagRules | None = None,
               intro: str | None = None) -> PostDraft:
    """What ``article`` would be posted as on target ``target`` (``cfg``): the text composed
    within ``limits`` (default: the platform's, with the config's overrides), then drafted as
    its platform does.  Pure; raises ``ValueError`` as ``compose`` does."""
    from syndicate.compose import compose  # (and the summary's lxml): when a first post is drafted

    platform = platform_of(cfg)
    limits = limits or platform.offline_limits(cfg)
    if platform.reserve is not None:  # what the draft adds itself (a content warning) is budgeted too
        graphemes, size = platform.reserve(article, cfg)
        if graphemes or size:
            limits = replace(limits, max_length=limits.max_length - graphemes,
                             max_bytes=limits.max_bytes - size if limits.max_bytes else None)
    link_text = platform.link_text(article.link.strip(), cfg) if platform.link_text is not None else None
    composed = compose(article, target=target, limits=limits,
                       template=template, hashtags=hashtags, intro=intro, link_text=link_text)
    return platform.draft(article, composed, cfg)
