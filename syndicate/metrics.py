"""Prometheus metrics for the daemon, served by the listener at ``/metrics``.

Counters are fed by the daemon after each cycle (``observe_cycle``); the
outbox depth, the last cycle time and each feed's last success are read
from the store at scrape time, so they are right even after a restart::

    syndicate_feed_polls_total{feed,status}         status: fetched|not-modified|unchanged|error
    syndicate_fetch_errors_total{feed}
    syndicate_articles_found_total{feed}            new articles
    syndicate_articles_updated_total{feed}          edited articles
    syndicate_posts_sent_total{target}              posts sent (or found already posted)
    syndicate_posts_failed_total{target}            posts failed permanently
    syndicate_deliveries_total{target,op,outcome}   every delivery pass's outcome, op: post|edit|delete
    syndicate_outbox_depth{target,state}            pending|sending|sent|failed rows (gauge)
    syndicate_last_cycle_timestamp_seconds          end of the last cycle (gauge)
    syndicate_feed_last_success_timestamp_seconds{feed}
    syndicate_feed_consecutive_errors{feed}
    syndicate_target_paused{target}                 1 while its credentials are refused, else 0
    syndicate_held_deliveries{feed}                 deliveries held as a suspected feed migration
    syndicate_store_readable                        1, or 0 when the store cannot be read
    syndicate_workers{state}                        workers on the state: running|not_seen|stopped
    syndicate_worker_last_seen_timestamp_seconds{worker}   each worker not stopped: its last heartbeat
    syndicate_worker_leases{worker,lease}           rows each worker holds: lease running|expired
    syndicate_target_budget_remaining{target}       requests left in the target's shared budget
    syndicate_target_budget_reset_timestamp_seconds{target}  when that budget's window resets

The fleet's gauges are ``editors.fleet``'s view (a dead worker: ``not_seen``,
then its leases ``expired``).

Each ``Metrics`` has its own ``CollectorRegistry`` (never the global one),
so several apps can live in one process.  ``prometheus_client`` is imported
only when a ``Metrics`` is made, so importing this module costs nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syndicate.app import CycleResult
    from syndicate.editors.values import Fleet
    from syndicate.store import Store

log = logging.getLogger("syndicate.metrics")

OUTBOX_STATES = ("pending", "sending", "sent", "failed")

StoreSource = Callable[[], "Store | None"]


class _StoreCollector:
    """Reads the store at scrape time: outbox depth, last cycle, feed states."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Any]:
        return []  # unchecked collector: families are built at collect time

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        depth = GaugeMetricFamily("syndicate_outbox_depth", "Outbox rows by target and state.",
                                  labels=["target", "state"])
        last = GaugeMetricFamily("syndicate_last_cycle_timestamp_seconds",
                                 "Unix time the last daemon cycle finished.")
        success = GaugeMetricFamily("syndicate_feed_last_success_timestamp_seconds",
                                    "Unix time of each feed's last successful fetch.", labels=["feed"])
        errors = GaugeMetricFamily("syndicate_feed_consecutive_errors",
                                   "Failed fetches of each feed since its last success.", labels=["feed"])
        paused = GaugeMetricFamily("syndicate_target_paused",
                                   "1 while a target is paused because its credentials were refused.",
                                   labels=["target"])
        held = GaugeMetricFamily("syndicate_held_deliveries",
                                 "Deliveries held as a suspected feed migration, per feed.", labels=["feed"])
        readable = GaugeMetricFamily("syndicate_store_readable",
                                     "1 if the state database could be read at scrape time.")
        fleet = _FleetFamilies()
        ok = 1.0
        store = self._metrics.store()
        try:
            if store is None:
                raise LookupError("no store bound")
            for queue in fleet.read(store).queues:  # the fleet's view holds the outbox's depth: read once
                states = dict(queue.states)
                for state in OUTBOX_STATES:
                    depth.add_metric([queue.target, state], float(states.get(state, 0)))
            value = store.get_meta("last_cycle_at")
            if value is not None:
                last.add_metric([], float(value))
            for feed in store.feed_states():
                if feed.last_success_at is not None:
                    success.add_metric([feed.name], feed.last_success_at)
                errors.add_metric([feed.name], float(feed.error_count))
            pauses = store.paused_targets()
            for name in store.target_names():
                paused.add_metric([name], 1.0 if name in pauses else 0.0)
            for feed_name, count in sorted(store.held_feeds().items()):
                held.add_metric([feed_name], float(count))
        except Exception as exc:  # a scrape must never fail: report the store as unreadable
            if store is not None:
                log.warning("metrics: cannot read the store", extra={"error": str(exc)})
            ok = 0.0
        readable.add_metric([], ok)
        yield from (depth, last, success, errors, paused, held, readable, *fleet.families)


class _FleetFamilies:
    """The fleet's gauges (``editors.fleet``): workers, their leases, the targets' shared budgets."""

    def __init__(self) -> None:
        from prometheus_client.core import GaugeMetricFamily

        self.workers = GaugeMetricFamily("syndicate_workers", "Workers recorded on the state, by state.",
                                         labels=["state"])
        self.seen = GaugeMetricFamily("syndicate_worker_last_seen_timestamp_seconds",
                                      "Unix time of each worker's last heartbeat (workers not stopped).",
                                      labels=["worker"])
        self.leases = GaugeMetricFamily("syndicate_worker_leases",
                                        "Outbox rows each worker holds, by lease: running or expired.",
                                        labels=["worker", "lease"])
        self.remaining = GaugeMetricFamily("syndicate_target_budget_remaining",
                                           "Requests left in each target's shared rate budget.",
                                           labels=["target"])
        self.reset = GaugeMetricFamily("syndicate_target_budget_reset_timestamp_seconds",
                                       "Unix time each target's shared rate budget resets.",
                                       labels=["target"])

    @property
    def families(self) -> tuple[Any, ...]:
        return self.workers, self.seen, self.leases, self.remaining, self.reset

    def read(self, store: Store) -> Fleet:
        """Fill the families from ``store``'s fleet view, and answer the view (its queues too)."""
        import time

        from syndicate.editors.fleet import fleet_view

        fleet = fleet_view(store, time.time())
        for state in ("running", "not seen", "stopped"):
            self.workers.add_metric([state.replace(" ", "_")], float(fleet.count(state)))
        for w in fleet.workers:
            if w.state == "stopped":
                continue  # listed for days after: the count says enough
            self.seen.add_metric([w.owner], w.last_seen_at)
            self.leases.add_metric([w.owner, "running"], float(w.leased))
            self.leases.add_metric([w.owner, "expired"], float(w.expired))
        for b in fleet.budgets:
            self.remaining.add_metric([b.target], float(b.remaining))
            if b.reset_at is not None:
                self.reset.add_metric([b.target], b.reset_at)
        return fleet


class Metrics:
    """The daemon's metrics in a registry of their own.

    ``store`` is the store to read gauges from, or a callable returning the
    current one (the daemon replaces its ``App`` on SIGHUP); ``bind()`` sets
    it later.
    """

    def __init__(self, store: Store | StoreSource | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter

        self._store: StoreSource | None = None
        if store is not None:
            self.bind(store)
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.feed_polls = Counter("syndicate_feed_polls", "Feed polls by outcome.",
                                  ["feed", "status"], registry=r)
        self.fetch_errors = Counter("syndicate_fetch_errors", "Feed fetches that failed.",
                                    ["feed"], registry=r)
        self.articles_found = Counter("syndicate_articles_found", "New articles found in feeds.",
                                      ["feed"], registry=r)
        self.articles_updated = Counter("syndicate_articles_updated", "Edited articles seen in feeds.",
                                        ["feed"], registry=r)
        self.posts_sent = Counter("syndicate_posts_sent", "Posts delivered (or found already posted).",
                                  ["target"], registry=r)
        self.posts_failed = Counter("syndicate_posts_failed", "Posts that failed permanently.",
                                    ["target"], registry=r)
        self.deliveries = Counter("syndicate_deliveries", "Delivery attempts by outcome, of posts "
                                  "(op: post) and of edits and deletes of posts made (op: edit, delete).",
                                  ["target", "op", "outcome"], registry=r)
        r.register(_StoreCollector(self))

    @property
    def bound(self) -> bool:
        return self._store is not None

    def bind(self, store: Store | StoreSource) -> None:
        """Read the scrape-time gauges from ``store`` (or from what the callable returns)."""
        self._store = store if callable(store) else (lambda: store)

    def store(self) -> Store | None:
        return self._store() if self._store else None

    def observe_cycle(self, result: CycleResult) -> None:
        """Count one cycle's feed polls and deliveries: an edit or a delete of a post made is no
        post sent or failed (``deliveries`` counts it, by its ``op``)."""
        for feed in result.feeds:
            self.feed_polls.labels(feed.feed, feed.status).inc()
            if feed.status == "error":
                self.fetch_errors.labels(feed.feed).inc()
            if feed.new:
                self.articles_found.labels(feed.feed).inc(feed.new)
            if feed.updated:
                self.articles_updated.labels(feed.feed).inc(feed.updated)
        for delivery in result.deliveries:
            self.deliveries.labels(delivery.target, delivery.op, delivery.outcome).inc()
            if delivery.op != "post":
                continue
            if delivery.outcome in ("sent", "found"):
                self.posts_sent.labels(delivery.target).inc()
            elif delivery.outcome == "failed":
                self.posts_failed.labels(delivery.target).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition format (version 0.0.4)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """(body, Content-Type) in the format the scraper's ``Accept`` header asks for."""
        from prometheus_client.exposition import choose_encoder

        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type
