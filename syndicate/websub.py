"""Tell a WebSub hub that the re-generated feed changed (optional).

``hub.mode=publish`` with each feed URL as ``hub.url``, as most public hubs
(e.g. Google's, Superfeedr, WebSubHub) accept.  A failure is one log line;
it never stops a cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx

log = logging.getLogger("syndicate.websub")


def ping(hub: str, topics: Sequence[str], *, user_agent: str, timeout: float = 10.0,
         transport: httpx.BaseTransport | None = None) -> bool:
    """POST a publish notification for ``topics``; True if the hub accepted it (2xx)."""
    if not topics:
        return False
    data = {"hub.mode": "publish", "hub.url": list(topics)}
    try:
        with httpx.Client(timeout=timeout, headers={"User-Agent": user_agent}, transport=transport) as client:
            response = client.post(hub, data=data)
    except httpx.HTTPError as exc:
        log.warning("websub ping failed", extra={"hub": hub, "error": f"{type(exc).__name__}: {exc}"})
        return False
    if response.is_success:
        log.info("websub hub notified", extra={"hub": hub, "topics": len(topics)})
        return True
    log.warning("websub ping refused", extra={"hub": hub, "status": response.status_code})
    return False
