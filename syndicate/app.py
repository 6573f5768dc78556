"""Assembly: a validated ``Config`` → store, fetcher, targets, ingester, deliverer.

``App`` owns the long-lived objects and runs one cycle: poll the due feeds,
check the targets paused on refused credentials (``credentials``), work the
outbox, re-generate the output feed.  The CLI and the daemon are
thin layers over it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from syndicate.credentials import CredentialWatch
from syndicate.delivery import Deliverer, DeliveryResult, default_owner
from syndicate.drafts import Drafts
from syndicate.fetch import Fetcher
from syndicate.logs import redact
from syndicate.netguard import AddressPolicy
from syndicate.pipeline import FeedResult, Ingester
from syndicate.retry import RetryPolicy
from syndicate.store import Store
from syndicate.unpublish import Unpublisher
from syndicate.value import valueclass

if TYPE_CHECKING:  # the platforms (``syndicate.targets``) are imported when a target is built or drafted for
    from syndicate.config import Config, DeliveryConfig, Secret, TargetConfig
    from syndicate.models import Article, PostDraft, TargetLimits
    from syndicate.targets import Target

log = logging.getLogger("syndicate")

IMAGE_MAX_BYTES = 5_000_000
IMAGE_TIMEOUT = 10.0
PAGE_MAX_BYTES = 2_000_000


@valueclass
class CycleResult:
    feeds: tuple[FeedResult, ...] = ()
    deliveries: tuple[DeliveryResult, ...] = ()
    written: tuple[Path, ...] = ()
    paused: tuple[str, ...] = ()  # targets paused (credentials refused) at the end of the cycle


def _page_fetchers(fetcher: Fetcher) -> tuple[Callable[[str], tuple[bytes, str]],
                                               Callable[[str], str | None]]:
    """(fetch an image, read an article page's og:image), both through ``fetcher``."""

    def fetch_image(url: str) -> tuple[bytes, str]:
        return fetcher.get_bytes(url, max_bytes=IMAGE_MAX_BYTES, timeout=IMAGE_TIMEOUT,
                                 accept="image/*", label=f"image {url}")

    def page_image(url: str) -> str | None:
        from syndicate.errors import FetchError
        from syndicate.page import page_image as og_image

        try:
            html, _type = fetcher.get_bytes(url, max_bytes=PAGE_MAX_BYTES, timeout=IMAGE_TIMEOUT,
                                            accept="text/html", label=f"page {url}")
        except FetchError as exc:
            log.info("no page image", extra={"article": url, "error": str(exc)})
            return None
        return og_image(html, url)

    return fetch_image, page_image


def build_target(name: str, cfg: TargetConfig, secret: Secret, *, store: Store | None,
                 fetcher: Fetcher, delivery: DeliveryConfig,
                 clock: Callable[[], float] = time.time) -> Target:
    """The adapter for one target, with its secret (already resolved)."""
    from syndicate.targets import Services, platform_of

    redact(secret.reveal())
    fetch_image, page_image = _page_fetchers(fetcher)
    services = Services(fetch_image=fetch_image, page_image=page_image, session_store=store, shared=store,
                        clock=clock, max_reset_wait=delivery.max_requeue)
    return platform_of(cfg).build(name, cfg, secret, services)


def build_targets(config: Config, store: Store, fetcher: Fetcher,
                  environ: Mapping[str, str] | None = None,
                  clock: Callable[[], float] = time.time) -> tuple[dict[str, Target], list[str]]:
    """Adapters for every enabled target that has credentials, and a line for each skipped."""
    targets: dict[str, Target] = {}
    skipped: list[str] = []
    for name, cfg in config.targets.items():
        if not cfg.enabled:
            continue
        secret = cfg.secret_ref.resolve(environ)
        if secret is None:
            skipped.append(f"target {name}: skipped, no {cfg.secret_what}: {cfg.secret_ref.hint()}")
            continue
        targets[name] = build_target(name, cfg, secret, store=store, fetcher=fetcher,
                                     delivery=config.delivery, clock=clock)
    return targets, skipped


def check_online(config: Config, name: str, secret: Secret) -> tuple[str, bool]:
    """(one line, accepted?) for target ``name``, asked of its server (``check-config --online``)."""
    from syndicate.credentials import secret_hint
    from syndicate.errors import AuthError, DeliveryError

    cfg = config.targets[name]
    fetcher = Fetcher(config.user_agent, content_policy=AddressPolicy.from_config(config.security))
    adapter = build_target(name, cfg, secret, store=None, fetcher=fetcher, delivery=config.delivery)
    try:
        return f"ok: {adapter.verify()}", True
    except AuthError as exc:
        return f"credentials refused: {exc.reason}; fix {secret_hint(cfg)}", False
    except DeliveryError as exc:
        return f"could not check: {exc.reason}", False
    finally:
        adapter.close()
        fetcher.close()


def _holds(path: Path, data: bytes) -> bool:
    """Does the file at ``path`` hold ``data``?  (Compared, not hashed: a 304 cycle's first look at
    ``output.dir`` imports no hashlib.)"""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


class App:
    """Everything a running syndicate needs, built from one config."""

    def __init__(self, config: Config, *, store: Store | None = None, fetcher: Fetcher | None = None,
                 targets: Mapping[str, Target] | None = None, policy: RetryPolicy | None = None,
                 environ: Mapping[str, str] | None = None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] | None = None,
                 stop: threading.Event | None = None, owner: str | None = None) -> None:
        self.config = config
        self.clock = clock
        self.environ = environ
        self.owner = owner = owner or default_owner()  # who leases outbox rows and claims polls
        self.stop = stop or threading.Event()
        self.store = store or Store(config.state, clock=clock)
        self.fetcher = fetcher or Fetcher(config.user_agent,
                                          content_policy=AddressPolicy.from_config(config.security))
        if targets is None:
            built, self.skipped = build_targets(config, self.store, self.fetcher, environ, clock)
            self.targets: dict[str, Target] = built
            self.no_credentials = config.missing_credentials(environ)  # name → what to set
        else:
            self.targets, self.skipped, self.no_credentials = dict(targets), [], {}
        self.ingester = Ingester(config, self.store, self.fetcher, active_targets=list(self.targets),
                                 clock=clock, recorded_dates=self.recorded_dates, owner=owner)
        self.deliverer = Deliverer(self.store, self.targets, self.draft_for,
                                   policy=policy or RetryPolicy.from_config(config.delivery),
                                   lease_seconds=config.delivery.lease, clock=clock, sleep=sleep,
                                   stop=self.stop, owner=owner, pacing=config.pacing())
        self.drafts = Drafts(config, self._adapter_limits)
        self._synced: dict[str, tuple[str, float]] | None = None  # the published feeds output.dir holds
        self.credentials = CredentialWatch(
            self.store, config.targets, self.targets, self.deliverer.paused,
            rebuild=self._rebuild_target if targets is None else None,
            recheck=config.delivery.auth_recheck, environ=environ, clock=clock, on_resume=self._resumed)
        self.deliverer.on_auth_error = self.credentials.pause
        self.unpublisher = Unpublisher(config, self.store, self.fetcher, clock=clock)
        self.credentials.load()

    def _rebuild_target(self, name: str) -> Target | None:
        """``name``'s adapter with its secret read afresh (a ``*_FILE`` may have been rewritten)."""
        cfg = self.config.targets[name]
        secret = cfg.secret_ref.resolve(self.environ)
        if secret is None:
            return None
        return build_target(name, cfg, secret, store=self.store, fetcher=self.fetcher,
                            delivery=self.config.delivery, clock=self.clock)

    def _resumed(self, name: str, adapter: Target) -> None:
        self.deliverer.targets[name] = adapter
        self.drafts.forget(name)  # limits read while the credentials were refused are a guess

    def close(self) -> None:
        for target in self.targets.values():
            target.close()
        self.fetcher.close()
        self.store.close()

    # -- composing --

    def _adapter_limits(self, target: str) -> TargetLimits | None:
        adapter = self.targets.get(target)
        return adapter.limits() if adapter is not None else None

    def limits(self, target: str) -> TargetLimits:
        """The target's limits: its adapter's, else the platform's defaults (``Drafts.limits``)."""
        return self.drafts.limits(target)

    def draft_for(self, article: Article, target: str, intro: str | None = None, *,
                  strict_limit: int | None = None) -> PostDraft:
        """The post ``article`` makes on ``target`` (``Drafts.draft_for``)."""
        return self.drafts.draft_for(article, target, intro, strict_limit=strict_limit)

    # -- output feed --

    def recorded_dates(self) -> Mapping[str, datetime]:
        """The dates the published output feed gives its items (kept across a lost state): the
        state's copy, else the one on disk."""
        from syndicate.feed_out import JSON_FILE, recorded_dates

        if not self.config.output.enabled:
            return {}
        published = self.store.mirror_file(JSON_FILE)
        return recorded_dates(published.data if published else self.config.output.dir)

    def write_output(self) -> list[Path]:
        """Rebuild the output feeds from the most recently added articles, if that changes them;
        ping the hub.  The paths (in ``output.dir``) of the files that changed.

        The feeds are kept in the state (``Store.rebuilding_mirror``: one worker at a time, the
        files as published and the articles read under its lock), so every worker's listener
        serves the same bytes and ETag; ``output.write_dir`` also writes them to ``output.dir``.
        A state that has none yet takes the files on disk as published (an upgrade keeps their
        dates).
        """
        from syndicate.feed_out import FEED_FILES, changed_feeds, life_of, tombstone_since

        out = self.config.output
        if not out.enabled:
            return []
        with self.store.rebuilding_mirror() as mirror:
            old = dict(mirror.old)
            for name in FEED_FILES:
                if name not in old and out.write_dir and (out.dir / name).is_file():
                    old[name] = (out.dir / name).read_bytes()
            now = datetime.fromtimestamp(self.clock(), UTC)
            entries = self.store.mirror_entries(out.max_items)  # none gone at source, none a copy
            life = life_of(entries, self.store.gone_since(tombstone_since(now).timestamp()))
            names = {f.name: self.store.get_meta(f"feed_title:{f.name}") or f.name for f in self.config.feeds}
            changed = changed_feeds([e.article for e in entries], out, now=now, site_names=names,
                                    old=old.get, life=life)
            for name in FEED_FILES:
                if name in changed or name not in mirror.old:  # (the files on disk, new to the state)
                    mirror.save(name, changed[name] if name in changed else old[name])
        self.sync_output_dir()
        if changed and out.websub_hub and out.self_url:
            from syndicate.feed_out import self_urls
            from syndicate.websub import ping

            urls = self_urls(out.self_url)  # the URLs the feeds declare as their own
            topics = [urls[name] for name in changed if name in urls]
            ping(out.websub_hub, topics, user_agent=self.config.user_agent)
        return [out.dir / name for name in changed]

    def sync_output_dir(self) -> list[Path]:
        """Write the published feeds into ``output.dir`` where they differ from what is there (another
        worker rebuilt them, or the files were removed); the paths written.  One cheap query when
        nothing changed."""
        out = self.config.output
        if not (out.enabled and out.write_dir):
            return []
        stamps = self.store.mirror_stamps()
        if stamps == self._synced and all((out.dir / name).is_file() for name in stamps):
            return []
        files = {}
        for name in stamps:
            published = self.store.mirror_file(name)
            if published is not None:
                files[name] = published.data
        if stamps and all(_holds(out.dir / name, data) for name, data in files.items()):
            self._synced = stamps  # (a process's first look: the files there are the published ones)
            return []
        from syndicate.feed_out import write_files  # (the renderers too: only when a file is to be written)

        written = write_files(out.dir, files)
        self._synced = stamps
        return written

    # -- one cycle --

    def run_cycle(self, *, all_feeds: bool = False) -> CycleResult:
        """Poll the due feeds (or all), deliver what is due, write the output feed."""
        now = self.clock()
        feeds = self.config.feeds if all_feeds else self.ingester.due(now)
        results = self.ingester.poll_many(feeds, due_only=not all_feeds) if feeds else []
        self.credentials.check_due()
        deliveries = self.deliverer.deliver_due() if self.targets else []
        checks = self.unpublisher.check_due()  # pages of articles that left their feed (``unpublish``)
        changed = (any(r.new or r.updated or r.back for r in results) or any(c.changed for c in checks)
                   or any(d.outcome in ("sent", "found") for d in deliveries))  # a post to link to
        written: list[Path] = []
        if changed or (self.config.output.enabled and not self.store.mirror_stamps()):
            written = self.write_output()
        else:
            self.sync_output_dir()  # another worker may have rebuilt them
        self.store.cycle_done(self.owner, self.clock())  # the state's last cycle, and this worker's
        return CycleResult(tuple(results), tuple(deliveries), tuple(written),
                           paused=tuple(sorted(self.deliverer.paused)))

    def next_due_at(self) -> float | None:
        """When there is next something to do: a feed to poll, a row to send, a pause to check, a page
        to check (``unpublish``)."""
        times = [self.ingester.next_due_at(), self.deliverer.next_due_at(),
                 self.credentials.next_check_at(), self.store.next_check_at()]
        due = [t for t in times if t is not None]
        return min(due) if due else None
