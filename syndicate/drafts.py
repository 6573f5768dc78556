"""Drafts from the configuration: the post an article makes on a target, and the limits it is
measured against.

``App`` drafts through one, with its adapters' limits (what each server said); a preview or a
``show`` of an article uses one alone, with the platforms' default limits, as an App without
targets did, so those commands build no App, fetcher or adapter for their drafts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from syndicate.value import replace

if TYPE_CHECKING:
    from syndicate.config import Config, TargetConfig
    from syndicate.models import Article, PostDraft, TargetLimits

__all__ = ["Drafts", "platform_limits"]


def platform_limits(cfg: TargetConfig) -> TargetLimits:
    """The platform's default limits, with the config's override."""
    from syndicate.targets import platform_of

    return platform_of(cfg).offline_limits(cfg)


class Drafts:
    """``draft_for`` and ``limits`` (the editors' ``Composer``) over one configuration.

    ``adapter_limits(target)``: the limits a target's adapter knows, or None without an adapter
    (then the platform's defaults, cached until ``forget``)."""

    def __init__(self, config: Config,
                 adapter_limits: Callable[[str], TargetLimits | None] | None = None) -> None:
        self.config = config
        self._adapter_limits = adapter_limits
        self._limits: dict[str, TargetLimits] = {}

    def forget(self, target: str) -> None:
        """Drop ``target``'s cached default limits (they were a guess while it had no adapter)."""
        self._limits.pop(target, None)

    def limits(self, target: str) -> TargetLimits:
        """The target's limits: its adapter's (which caches what the server said and asks again
        what it could not read), else the platform's defaults."""
        if self._adapter_limits is not None:
            known = self._adapter_limits(target)
            if known is not None:
                return known
        if target not in self._limits:
            self._limits[target] = platform_limits(self.config.targets[target])
        return self._limits[target]

    def draft_for(self, article: Article, target: str, intro: str | None = None, *,
                  strict_limit: int | None = None) -> PostDraft:
        """The post ``article`` makes on ``target`` (pure but for the cached limits).

        ``strict_limit``: the server refused it as too long, so measure as the strictest
        servers do — at most this many code points, every URL counted literally.
        """
        from syndicate.config import HashtagConfig
        from syndicate.targets import draft_post

        tcfg = self.config.targets[target]
        try:
            feed = self.config.feed(article.feed)
            template = self.config.template_for(feed, target)
            hashtags = feed.hashtags
        except KeyError:  # the feed was removed from the config since
            template, hashtags = tcfg.template, HashtagConfig()
        limits = self.limits(target)
        if strict_limit is not None:
            limits = replace(limits, max_length=min(strict_limit, limits.max_length), url_length=None,
                             unit="chars")
        return draft_post(article, target, tcfg, limits=limits, template=template,
                          hashtags=hashtags.rules(), intro=intro)
