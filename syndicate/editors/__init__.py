"""The editors' service: find, preview, repost, retry, release, status and health, each rule once.

The CLI and the listener are parsing and rendering over it::

    editors = Editors(config, store)          # or Editors(..., composer=app) for previews
    outcome = editors.repost("https://…/old-piece/", requester="sam", intro="From the archive:")
    outcome.outcome                           # "queued" | "needs_force" | "not_queued"

``service`` holds the rules, ``values`` what they answer (frozen values and
the ``EditorError`` family), ``finding`` the articles found outside the
store (a configured feed, an article's own page), ``as_json`` the JSON every
face writes.
"""

from syndicate.editors.service import Composer, Editors, state_health
from syndicate.editors.values import (
    MAX_BY,
    MAX_INTRO,
    ArticleDetail,
    DeleteOutcome,
    EditorError,
    FeedStatus,
    Found,
    Health,
    InvalidInput,
    NoTarget,
    NotFound,
    PostNowOutcome,
    Preview,
    ReleaseOutcome,
    RepostOutcome,
    RetryOutcome,
    Status,
    TargetPreview,
    TargetStatus,
    UnknownTarget,
    pause_line,
)

__all__ = [
    "MAX_BY", "MAX_INTRO", "ArticleDetail", "Composer", "DeleteOutcome", "EditorError", "Editors",
    "FeedStatus", "Found", "Health", "InvalidInput", "NoTarget", "NotFound", "PostNowOutcome", "Preview",
    "ReleaseOutcome", "RepostOutcome",
    "RetryOutcome", "Status", "TargetPreview", "TargetStatus", "UnknownTarget", "pause_line", "state_health",
]
