"""A server's limits read once for the whole fleet: kept in the state's shared values.

A Mastodon instance's limits and API version (``/api/v2/instance``, read by
``mastodon_instance.read_instance``) are the same for every worker; the first
to read them keeps them under ``mastodon_limits:INSTANCE``
(``SharedValues``, the state's ``meta``) and the others read them there
instead of asking the instance again.  An empty value means "ask afresh"
(``verify``).  Neither failing to read nor failing to keep them stops a
delivery: the adapter asks the instance instead.
"""

from __future__ import annotations

import json
import logging

from syndicate.targets.base import SharedValues
from syndicate.targets.mastodon_instance import Instance

__all__ = ["read_limits", "share_limits"]

log = logging.getLogger("syndicate.targets")


def _key(instance: str) -> str:
    return f"mastodon_limits:{instance.rstrip('/')}"


def read_limits(shared: SharedValues | None, instance: str, target: str) -> Instance | None:
    """The instance as a worker kept it (its limits and API version), or None."""
    if shared is None:
        return None
    try:
        raw = shared.get_meta(_key(instance))
        data = json.loads(raw) if raw else None
    except Exception as exc:  # the state is the daemon's to report; ask the instance instead
        log.info("target %s: shared instance limits unreadable (%s)", target, type(exc).__name__)
        return None
    if not isinstance(data, dict):
        return None
    max_chars, per_url = data.get("max_characters"), data.get("characters_reserved_per_url")
    version = data.get("api_version", 0)
    if isinstance(max_chars, int) and max_chars > 0 and isinstance(per_url, int) and per_url >= 0:
        return Instance(max_chars, per_url, True, version if isinstance(version, int) else 0)
    return None


def share_limits(shared: SharedValues | None, instance: str, limits: Instance | None,
                 target: str) -> None:
    """Keep what the instance said for every worker (None: forget it, so the next asks afresh)."""
    if shared is None:
        return
    value = "" if limits is None else json.dumps(
        {"max_characters": limits.max_characters, "characters_reserved_per_url": limits.per_url,
         "api_version": limits.api_version})
    try:
        shared.set_meta(_key(instance), value)
    except Exception as exc:  # only a saving: the limits were read
        log.info("target %s: instance limits not shared (%s)", target, type(exc).__name__)
