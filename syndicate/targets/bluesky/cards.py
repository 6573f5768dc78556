"""A post's link card (``app.bsky.embed.external``) and its thumbnail.

The thumbnail is the feed's image, else the article page's ``og:image``;
fetched, re-encoded to fit the 1,000,000-byte blob limit and uploaded; any
failure: one log line, no thumbnail.  A retry reuses the blob uploaded and
the page read (``BLOB_REUSE``, see ``syndicate.targets.reuse``); a reused
blob the PDS no longer has is forgotten (``forget_blobs``) and uploaded
afresh.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from syndicate.models import LinkCard
from syndicate.targets.bluesky.errors import auth_rejected, one_line
from syndicate.targets.bluesky_post import prepare_thumb
from syndicate.targets.reuse import ReuseCache

if TYPE_CHECKING:
    from atproto import Client

log = logging.getLogger(__package__)  # the platform's one logger: syndicate.targets.bluesky

BLOB_REUSE = 30 * 60.0  # seconds a retry reuses an uploaded thumbnail blob (unreferenced ones expire)
REUSE_ENTRIES = 64  # thumbnails (by image URL) and page images (by article URL) remembered


class LinkCards:
    """The cards of target ``name``: ``fetch_image`` gets an image's bytes and type,
    ``page_image`` an article page's ``og:image`` (either may be missing)."""

    def __init__(self, name: str, *, fetch_image: Callable[[str], tuple[bytes, str]] | None = None,
                 page_image: Callable[[str], str | None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._fetch_image = fetch_image
        self._page_image = page_image  # article URL → its page's og:image, when the feed had none
        # What a retry reuses: image URL → uploaded blob; article URL → its page's og:image.
        self._blobs: ReuseCache[Any] = ReuseCache(REUSE_ENTRIES, BLOB_REUSE, clock)
        self._page_images: ReuseCache[str] = ReuseCache(REUSE_ENTRIES, None, clock)

    def embed(self, client: Client, card: LinkCard) -> Any:
        """The ``app.bsky.embed.external`` of ``card``, its thumbnail uploaded if it can be had."""
        from atproto import models

        thumb = None
        thumb_url = card.thumb_url or self._og_image(card.uri)
        if thumb_url:
            thumb = self._thumb(client, thumb_url)
        return models.AppBskyEmbedExternal.Main(
            external=models.AppBskyEmbedExternal.External(
                uri=card.uri, title=card.title, description=card.description, thumb=thumb
            )
        )

    def forget_blobs(self) -> None:
        """The PDS no longer holds a blob we reused: upload every thumbnail again."""
        self._blobs.clear()

    def _og_image(self, article_url: str) -> str | None:
        """The article page's og:image, read once per article (a retry reuses it)."""
        if self._page_image is None:
            return None
        found = self._page_images.get(article_url)
        if found is None:
            found = self._page_image(article_url)
            if found:  # a page that failed to load is read again next time
                self._page_images.put(article_url, found)
        return found

    def _thumb(self, client: Client, url: str) -> Any:
        """The uploaded thumbnail's blob, or None (with one log line) when it cannot be had.

        A blob uploaded for ``url`` within ``BLOB_REUSE`` is reused: a retry
        neither fetches the image nor uploads it again.
        """
        if self._fetch_image is None:
            log.info("target %s: no thumbnail for %s: no image fetcher", self.name, url)
            return None
        reused = self._blobs.get(url)
        if reused is not None:
            return reused
        try:
            data, content_type = self._fetch_image(url)
            data, mime = prepare_thumb(data, content_type)
            with warnings.catch_warnings():  # the SDK hands httpx bytes as data=, which it deprecates
                warnings.filterwarnings("ignore", "Use 'content=", DeprecationWarning)
                resp = client.com.atproto.repo.upload_blob(data, headers={"Content-Type": mime})
            self._blobs.put(url, resp.blob)
            return resp.blob
        except Exception as exc:
            if auth_rejected(exc):
                raise  # the session was rejected: log in again, not a missing thumbnail
            log.warning("target %s: no thumbnail for %s: %s", self.name, url, one_line(exc))
            return None
