"""The models of feeds.yaml: its sections, its targets, and ``Config``, the whole file.

Each model holds one section's keys with their defaults and limits; the
checks that span sections (a lease longer than every wait it covers, a feed
naming only known targets) are ``Config``'s.  ``dump()`` shows the
effective configuration with every secret redacted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

from syndicate.config.check import After, Bounds, MinLen, Plain, Section, Tag, dump_section
from syndicate.config.control import FilterConfig, PacingConfig, Replies
from syndicate.config.fields import Duration, HttpUrl, Name, Ports, Template, Wait
from syndicate.config.secret import SecretRef
from syndicate.value import field

if TYPE_CHECKING:  # the plain values the sections become; hashtags (and its graphemes) only when asked
    from syndicate.filters import Filter
    from syndicate.hashtags import HashtagRules
    from syndicate.pacing import Pacing

DEFAULT_CONFIG = "feeds.yaml"
DEFAULT_STATE = "state/syndicate.db"
USER_AGENT = "syndicate/0.1 (+https://github.com/syndicate-bot/syndicate; feed cross-poster)"


class HashtagConfig(Section):
    """Hashtags made from the article's categories."""

    enabled: bool = True
    limit: Annotated[int, Bounds(ge=0, le=30)] = 3
    map: dict[str, str] = field(default_factory=dict)  # category → tag ("" drops it)
    extra: list[str] = field(default_factory=list)  # always added, e.g. ["ACR"]

    def rules(self) -> HashtagRules:
        """These settings as the plain value ``compose`` takes."""
        from syndicate.hashtags import HashtagRules

        return HashtagRules(enabled=self.enabled, limit=self.limit, map=dict(self.map),
                            extra=tuple(self.extra))


class TargetBase(Section):
    """What every target has, whatever its platform (``kind``).

    A platform's model adds its own keys, ``kind: Literal["name"]``, the
    ``secret_ref`` property and the three class variables below, and joins
    ``TargetConfig``; its module under ``syndicate/targets`` does the rest.
    """

    secret_what: ClassVar[str] = "secret"  # what the secret is, in messages: "access token"
    secret_key: ClassVar[str] = "secret"  # the key ``dump`` shows it under: "token"
    secret_file_key: ClassVar[str] = "secret_file"  # the key naming a file that holds it: "token_file"

    kind: str
    enabled: bool = True
    template: Template | None = None  # overrides the default template for this target
    timeout: Duration = 30.0
    max_length: Annotated[int, Bounds(ge=50)] | None = None  # override the platform limit
    filters: FilterConfig = field(default_factory=FilterConfig)  # what this target posts, of every feed
    pacing: PacingConfig = field(default_factory=PacingConfig)  # how fast it posts
    content_warnings: dict[str, str] = field(default_factory=dict)  # category → its warning (first match)
    # an article gone at source (``syndicate.unpublish``): its post kept (editors told) or deleted
    unpublished: Literal["keep", "delete"] = "keep"

    @property
    def secret_ref(self) -> SecretRef:
        """Where the target's secret comes from."""
        raise NotImplementedError


class MastodonTarget(TargetBase):
    secret_what: ClassVar[str] = "access token"
    secret_key: ClassVar[str] = "token"
    secret_file_key: ClassVar[str] = "token_file"

    kind: Literal["mastodon"]
    instance: HttpUrl
    token_env: str = "SYNDICATE_MASTODON_TOKEN"
    token_file: Path | None = None
    visibility: Literal["public", "unlisted", "private", "direct"] = "public"
    content_warning: str | None = None  # on every status (``content_warnings`` by category replace it)
    thumbnail: bool = False  # upload the article image with alt text
    # who may quote (``quote_approval_policy``; None: the account's default), sent only to an
    # instance whose api_versions says it knows it (Mastodon 4.5+)
    quote_policy: Literal["public", "followers", "nobody"] | None = None
    edits: Literal["edit", "ignore"] = "edit"  # a posted article edited at source: edit the status

    @property
    def secret_ref(self) -> SecretRef:
        return SecretRef(env=self.token_env, file=self.token_file)


class BlueskyTarget(TargetBase):
    secret_what: ClassVar[str] = "app password"
    secret_key: ClassVar[str] = "password"
    secret_file_key: ClassVar[str] = "password_file"

    kind: Literal["bluesky"]
    service: HttpUrl = "https://bsky.social"
    handle: Annotated[str, MinLen(3)]
    password_env: str = "SYNDICATE_BLUESKY_APP_PASSWORD"
    password_file: Path | None = None
    link_card: bool = True
    short_link: bool = True  # show the link as the app does (host/start-of-path…, a facet carrying the URL)
    replies: Replies = "everybody"  # who may reply (a threadgate): everybody, nobody, or a list of rules
    quotes: bool = True  # False: a postgate disables quote posts
    # a posted article edited at source: keep the record, replace it (within ``replace_within``,
    # when nobody replied, reposted or liked it), reply "Updated: …", or ignore it
    edits: Literal["keep", "replace", "reply", "ignore"] = "keep"
    replace_within: Duration = 3600.0

    @property
    def secret_ref(self) -> SecretRef:
        return SecretRef(env=self.password_env, file=self.password_file)


#: Every kind of target feeds.yaml may name; its platform is in ``syndicate.targets.PLATFORMS``.
TargetConfig = Annotated[MastodonTarget | BlueskyTarget, Tag("kind")]


class FeedConfig(Section):
    name: Name
    url: HttpUrl
    poll_interval: Duration | None = None  # None: the top-level poll_interval
    backfill: Annotated[int, Bounds(ge=0)] = 0  # on first sight, queue only the N newest
    # a poll with more new entries than this, none newer than the newest known: held, not queued
    hold_suspected_migration: Annotated[int, Bounds(ge=0)] = 10  # 0: never hold
    targets: list[str] | None = None  # None: every configured target
    language: str | None = None  # None: the feed's own language; an item's own language still wins
    force_language: bool = False  # True: ``language`` for every item, whatever the item says
    hashtags: HashtagConfig = field(default_factory=HashtagConfig)
    templates: dict[str, Template] = field(default_factory=dict)  # target name → template
    filters: FilterConfig = field(default_factory=FilterConfig)  # what of this feed is posted
    timeout: Duration = 20.0
    max_bytes: Annotated[int, Bounds(ge=1024)] = 10_000_000
    # a new article's posts wait this long from first sight (an edit meanwhile changes what is
    # posted), and a post's edits are carried over at most once per this window; 0: at once
    settle: Wait = 600.0
    merge_copies: bool = True  # an entry whose credited source we hold: one item, posted once (``copies``)


FEED_FILE_NAMES = ("feed.xml", "feed.atom", "feed.json")


def feed_base_url(url: str) -> str:
    """The directory URL the three output files are published under, ending in ``/``.

    ``https://x/feeds``, ``https://x/feeds/`` and ``https://x/feeds/feed.xml``
    (or ``feed.atom``, ``feed.json``) all give ``https://x/feeds/``.  Raises
    ``ValueError`` for a URL naming another file, or with a query or fragment.
    """
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError("expected a base URL such as https://example.org/feeds/, without ? or #")
    path = parts.path or "/"
    last = path.rsplit("/", 1)[-1]
    if last in FEED_FILE_NAMES:
        path = path[: -len(last)]
    elif "." in last:
        raise ValueError(
            f"expected a base URL such as https://example.org/feeds/ or the URL of "
            f"{', '.join(FEED_FILE_NAMES)}, not of another file ({last!r})"
        )
    if not path.endswith("/"):
        path += "/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _base_url(url: str | None) -> str | None:
    return feed_base_url(url) if url else None


class OutputConfig(Section):
    """The re-generated feed for mirror sites."""

    enabled: bool = True
    dir: Path = Path("public")
    write_dir: bool = True  # also write the files to ``dir`` (they are always kept in the state)
    title: str = "Syndicated articles"
    link: HttpUrl = "https://example.org/"  # the site's home page (JSON Feed home_page_url)
    description: str = "Articles with their original publication dates and sources."
    # Where the files are published: a base URL (with or without a trailing
    # slash) or the URL of one of them; held as the base URL, ending in "/".
    self_url: Annotated[HttpUrl | None, After(_base_url)] = None
    language: str | None = "en"
    max_items: Annotated[int, Bounds(ge=1, le=10_000)] = 50  # the most recently added
    websub_hub: HttpUrl | None = None
    rights: str | None = None  # licence of the feed, e.g. "CC BY-NC-ND 4.0 …"


class ListenConfig(Section):
    """The optional HTTP listener (health, metrics, feeds, editors' API)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, Bounds(ge=0, le=65535)] = 8080
    api_token_env: str = "SYNDICATE_API_TOKEN"
    session_ttl: Duration = 12 * 3600.0  # how long a sign-in to the editors' page lasts


class DeliveryConfig(Section):
    """How hard and how fast to retry a delivery (see syndicate.retry)."""

    attempts: Annotated[int, Bounds(ge=1, le=20)] = 4  # tries within one pass
    backoff: Duration = 2.0  # first wait after a transient error, doubling
    max_backoff: Duration = 60.0
    max_rate_wait: Duration = 900.0  # wait in-process for a rate-limit reset up to this
    requeue: Duration = 60.0  # after a pass gives up: next pass in this, doubling
    max_requeue: Duration = 6 * 3600.0
    lease: Duration = 1200.0  # a delivery holds its outbox row this long between renewals
    auth_recheck: Duration = 300.0  # a target paused on refused credentials is checked this often



class SecurityConfig(Section):
    """Where fetches that feed content asks for (pages, images) may connect (see syndicate.netguard)."""

    allow_private_addresses: bool = False  # loopback, private, link-local, …: for intranets and tests
    allowed_ports: Ports = field(default_factory=lambda: [80, 443])  # or "any"


class LogConfig(Section):
    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


def _state(value: object) -> Path | str:
    """A SQLite file's path (a ``Path``), or a PostgreSQL URL (kept as the ``str`` it is)."""
    if isinstance(value, Path):
        return value
    if isinstance(value, str) and value.strip():
        if "://" in value:  # only a URL can be a database's: a path never imports the store
            from syndicate.store.location import is_database_url

            if is_database_url(value.strip()):
                return value.strip()
        return Path(value)
    raise ValueError("expected a SQLite file's path or a postgresql:// URL")


State = Annotated[Path | str, Plain(_state)]


def _unique_feed_names(feeds: list[FeedConfig]) -> list[FeedConfig]:
    seen: set[str] = set()
    for feed in feeds:
        if feed.name in seen:
            raise ValueError(f"feed name {feed.name!r} is used twice")
        seen.add(feed.name)
    return feeds


class Config(Section):
    state: State = Path(DEFAULT_STATE)  # a path: SQLite; postgresql://…: PostgreSQL, shared by workers
    poll_interval: Duration = 900.0
    user_agent: str = USER_AGENT
    # feeds fetched at once in a cycle: measured (bench figure 2a), one at a time costs the least
    # CPU on a 304 cycle; more threads only pay when the feeds' servers are slow to answer
    fetch_concurrency: Annotated[int, Bounds(ge=1, le=64)] = 1
    feeds: Annotated[list[FeedConfig], MinLen(1), After(_unique_feed_names)]
    targets: dict[Name, TargetConfig] = field(default_factory=dict)
    output: OutputConfig = field(default_factory=OutputConfig)
    listen: ListenConfig = field(default_factory=ListenConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    log: LogConfig = field(default_factory=LogConfig)
    source: str = field(default=DEFAULT_CONFIG, metadata={"dump": False})  # the file it came from

    def _validate(self) -> None:
        self._lease_covers_every_wait()
        self._known_targets()

    def _lease_covers_every_wait(self) -> None:
        """A lease shorter than a wait or a request it covers would let a second worker take a
        row in flight (the lease is renewed between them, not during one)."""
        d = self.delivery
        waits = [("delivery.max_rate_wait", d.max_rate_wait), ("delivery.max_backoff", d.max_backoff)]
        waits += [(f"targets.{n}.timeout", t.timeout) for n, t in self.targets.items() if t.enabled]
        for name, seconds in waits:
            if d.lease <= seconds:
                raise ValueError(f"delivery.lease ({d.lease:g}s) must be longer than {name} ({seconds:g}s), "
                                 f"the longest wait it covers, or a second worker could post the same row")

    def _known_targets(self) -> None:
        for i, feed in enumerate(self.feeds):
            for name in list(feed.targets or []) + list(feed.templates):
                if name not in self.targets:
                    known = ", ".join(sorted(self.targets)) or "none"
                    raise ValueError(
                        f"feeds[{i}] names target {name!r}, which is not under targets: "
                        f"(known: {known})"
                    )

    def feed(self, name: str) -> FeedConfig:
        for feed in self.feeds:
            if feed.name == name:
                return feed
        raise KeyError(name)

    def feed_targets(self, feed: FeedConfig) -> list[str]:
        """The enabled targets this feed posts to."""
        names = feed.targets if feed.targets is not None else list(self.targets)
        return [n for n in names if self.targets[n].enabled]

    def targets_for_feed(self, name: str) -> list[str]:
        """The enabled targets of the feed called ``name``; every enabled target if it is gone."""
        try:
            return self.feed_targets(self.feed(name))
        except KeyError:
            return [n for n, t in self.targets.items() if t.enabled]

    def missing_credentials(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """Enabled targets that cannot post for lack of a secret: name → what to set."""
        out = {}
        for name, target in self.targets.items():
            if target.enabled and target.secret_ref.resolve(environ) is None:
                out[name] = f"no {target.secret_what}: {target.secret_ref.hint()}"
        return out

    def filters_for(self, feed: FeedConfig, target: str) -> tuple[Filter, ...]:
        """The filters an article of ``feed`` passes to be posted to ``target``: the feed's, then
        the target's (those with any criteria)."""
        rules = (feed.filters.rules(f"feeds[{feed.name}].filters"),
                 self.targets[target].filters.rules(f"targets.{target}.filters"))
        return tuple(r for r in rules if not r.empty)

    def pacing(self) -> dict[str, Pacing]:
        """Target → its pacing, for the targets that have one."""
        return {name: rules for name, t in self.targets.items() if (rules := t.pacing.rules()).active}

    def template_for(self, feed: FeedConfig, target: str) -> str | None:
        return feed.templates.get(target) or self.targets[target].template

    def poll_interval_for(self, feed: FeedConfig) -> float:
        return feed.poll_interval or self.poll_interval

    def dump(self) -> str:
        """The effective configuration as YAML, secrets shown only by where they come from."""
        import yaml

        data = dump_section(self)
        data = {"# source": self.source, **data}
        if isinstance(self.state, str):
            from syndicate.store.location import redacted

            data["state"] = redacted(self.state)
        for name, target in self.targets.items():
            secret = target.secret_ref.resolve()
            data["targets"][name][target.secret_key] = (
                f"<redacted, from {secret.origin}>" if secret else f"<missing: {target.secret_ref.hint()}>"
            )
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
