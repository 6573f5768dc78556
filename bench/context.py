"""What every figure shares: sizes, the temp dir, the feed server, cached inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.feedserver import FeedServerProcess
from bench.gen import wordpress_feed


@dataclass
class Sizes:
    ingest_items: int = 1000
    ingest_reps: int = 5
    steady_feeds: int = 100
    steady_cycles: int = 50
    memory_articles: int = 50_000
    memory_cycles: int = 1000
    memory_early: int = 100  # RSS compared at this cycle and at the last
    scaling_big: int = 1_000_000
    scaling_small: int = 1000
    scaling_new: int = 1000
    scaling_reps: int = 7
    startup_reps: int = 5
    delivery_posts: int = 500
    delivery_deep: int = 10_000  # queued rows for the backlog line (6c)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(ingest_reps=3, steady_cycles=10, memory_cycles=200, memory_early=20,
                   scaling_big=100_000, scaling_reps=3, startup_reps=3, delivery_posts=100,
                   delivery_deep=4000)


@dataclass
class Context:
    tmp: Path
    sizes: Sizes
    quick: bool
    server: FeedServerProcess
    cache: dict[str, Any] = field(default_factory=dict)

    def small_feeds(self) -> list[tuple[str, str]]:
        """The steady-state feeds (name, url), served once per run: 20 entries each."""
        if "small_feeds" not in self.cache:
            folder = self.tmp / "small-feeds"
            folder.mkdir(exist_ok=True)
            feeds = []
            for i in range(self.sizes.steady_feeds):
                name = f"f{i:03d}"
                file = folder / f"{name}.rss"
                file.write_bytes(wordpress_feed(20, seed=2, site=f"Site {i}", host=f"{name}.example.org"))
                self.server.set_feed(f"/{name}/feed/", file)
                feeds.append((name, self.server.url(f"/{name}/feed/")))
            self.cache["small_feeds"] = feeds
        return self.cache["small_feeds"]
