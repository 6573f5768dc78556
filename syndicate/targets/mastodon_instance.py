"""What a Mastodon instance says of itself: its status limits and its API version.

``read_instance`` asks ``/api/v2/instance`` (``configuration.statuses``
``max_characters`` and ``characters_reserved_per_url``; ``api_versions.mastodon``),
then ``/api/v1/instance`` (the same fields since 3.4.2, or Pleroma's
``max_toot_chars``), then takes 500/23; ``known`` is False when the instance
could not be asked (down, rate-limited), so that fallback is only for now.
``QUOTES_API_VERSION`` is the API version (Mastodon 4.5) from which a status
takes ``quote_approval_policy``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from syndicate.errors import DeliveryError, TransientError
from syndicate.targets.mastodon_post import LIMITS
from syndicate.value import valueclass

__all__ = ["LIMITS_RETRY", "QUOTES_API_VERSION", "Instance", "rate_reset", "read_instance"]

log = logging.getLogger("syndicate.targets.mastodon")

LIMITS_RETRY = 60.0  # seconds before limits that could not be read are asked for again
QUOTES_API_VERSION = 7  # api_versions.mastodon of 4.5, which added quote_approval_policy


@valueclass
class Instance:
    max_characters: int
    per_url: int
    known: bool  # False: it could not be asked; the numbers are the fallback's
    api_version: int = 0  # api_versions.mastodon; 0: not said (before 4.3, or not asked)


def read_instance(name: str, call: Callable[[str, Callable[[Any], Any]], Any]) -> Instance:
    """The instance's limits and API version, asked through ``call(action, fn)`` (the adapter's,
    which translates errors); never raises a ``DeliveryError``."""
    unreachable = False
    api_version = 0
    for action, ask in (
        ("reading /api/v2/instance", lambda c: c.instance_v2()),
        ("reading /api/v1/instance", lambda c: c.instance_v1()),
    ):
        try:
            instance = call(action, ask)
        except DeliveryError as exc:
            log.info("target %s: %s", name, exc)
            unreachable = unreachable or isinstance(exc, TransientError)
            continue
        if action.endswith("v2/instance"):
            version = (instance.get("api_versions") or {}).get("mastodon")
            api_version = version if isinstance(version, int) else 0
        statuses = (instance.get("configuration") or {}).get("statuses") or {}
        max_chars = statuses.get("max_characters") or instance.get("max_toot_chars")
        per_url = statuses.get("characters_reserved_per_url")
        if isinstance(max_chars, int) and max_chars > 0:
            per_url = per_url if isinstance(per_url, int) else LIMITS.url_length or 23
            return Instance(max_chars, per_url, True, api_version)
    log.warning("target %s: instance limits unknown, assuming %d characters and %d per URL%s",
                name, LIMITS.max_length, LIMITS.url_length,
                f"; asking again in {LIMITS_RETRY:g}s" if unreachable else "")
    return Instance(LIMITS.max_length, LIMITS.url_length or 23, not unreachable, api_version)


def rate_reset(headers: Any) -> datetime | None:
    """X-RateLimit-Reset: ISO 8601 (Mastodon) or Unix seconds (GoToSocial and friends)."""
    reset = (headers.get("X-RateLimit-Reset") or "").strip()
    try:
        if reset.isdigit():
            return datetime.fromtimestamp(int(reset), UTC)
        if reset:
            when = datetime.fromisoformat(reset)
            return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        pass
    return None
