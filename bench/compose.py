"""Figure 7: composing a post (``draft_post``: template, fitting, hashtags, facets), CPU per post.

The articles are the ACR one of ``tests/test_compose.py`` and an emoji-heavy twin of it (a
ZWJ-family title, a standfirst three times over with a skin-toned ZWJ emoji for every
"the"), each title numbered so no cache is ever hit; each is drafted for Mastodon and for
Bluesky (facets, card).  This was ``test_composing_is_fast`` (< 1 ms per post).
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import UTC, datetime

from bench.common import Line, best, timed
from bench.context import Context

TARGET = 0.001
RUNS = 200
STANDFIRST = (
    "Ian Parker describes the stakes of the difference between an approach that is just a "
    "malignant mirror of capitalism and an approach that is for free association as the core "
    "of communist politics."
)


def run(ctx: Context) -> list[Line]:
    from syndicate.config import BlueskyTarget, MastodonTarget
    from syndicate.hashtags import HashtagRules
    from syndicate.models import Article
    from syndicate.targets import draft_post
    from syndicate.targets.bluesky_post import LIMITS as BLUESKY_LIMITS
    from syndicate.targets.mastodon_post import LIMITS as MASTODON_LIMITS

    acr = Article(feed="acr", id="acr-1",
                  link="https://anticapitalistresistance.org/stalinist-realism-and-open-communism-2/",
                  title="Stalinist Realism and Open Communism", published=datetime(2022, 10, 13, 9, tzinfo=UTC),
                  feed_published=datetime(2022, 10, 19, 8, tzinfo=UTC), author="Ian Parker",
                  categories=("Communism", "Stalinism"), standfirst=STANDFIRST, language="en",
                  image="https://anticapitalistresistance.org/wp-content/uploads/2022/10/book.jpg")
    emoji = dataclasses.replace(acr, title="👨‍👩‍👧‍👦 " + acr.title,
                                standfirst=STANDFIRST.replace("the", "thé 👩🏿‍🔬") * 3)
    targets = [("masto", MastodonTarget(kind="mastodon", instance="https://masto.example"), MASTODON_LIMITS),
               ("bsky", BlueskyTarget(kind="bluesky", handle="acr.test"), BLUESKY_LIMITS)]
    rules = HashtagRules()
    reps = ctx.sizes.startup_reps
    posts = RUNS * 2 * len(targets)

    def compose_all(rep: int) -> int:
        made = 0
        for i in range(RUNS):
            for article in (acr, emoji):
                a = dataclasses.replace(article, title=f"{article.title} {rep}-{i}")  # no cache hits
                for name, cfg, limits in targets:
                    draft_post(a, name, cfg, limits=limits, hashtags=rules)
                    made += 1
        return made

    timings = []
    for rep in range(reps):
        timing, made = timed(functools.partial(compose_all, rep))
        if made != posts:
            raise RuntimeError(f"composed {made} posts, not {posts}")
        timings.append(timing)
    fastest = best(timings)
    per_post = fastest.cpu / posts
    notes = [f"{posts} posts per repetition ({RUNS} x ACR article and its emoji-heavy twin x Mastodon and "
             f"Bluesky), every title new; CPU, best of {reps}; wall {fastest.wall / posts * 1e6:.0f} µs per post"]
    return [Line("7", "compose a post, CPU per post", f"{per_post * 1e6:.0f} µs",
                 f"target < {TARGET * 1e6:.0f} µs", per_post / TARGET, per_post < TARGET, notes=notes)]
