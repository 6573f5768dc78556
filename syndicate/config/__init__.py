"""feeds.yaml → typed, validated configuration.

By job: ``check`` (``Section``, the frozen value class every section is, and the
checker that reads one from YAML's mappings: key paths, limits, coercions),
``fields`` (the kinds of value keys hold: durations, names, URLs,
templates, ports), ``secret`` (``Secret`` and where it comes from),
``models`` (the sections, the targets and ``Config``) and ``loading``
(``load_config``, ``parse_config``: one line per problem, naming the file,
the line, the key path and what was expected).  Every name other modules
use is importable from here.
"""

from __future__ import annotations

from syndicate.config.check import Invalid, Issue, Section
from syndicate.config.fields import Duration, HttpUrl, Name, Ports, Template, parse_duration
from syndicate.config.loading import load_config, parse_config
from syndicate.config.models import (
    DEFAULT_CONFIG,
    DEFAULT_STATE,
    FEED_FILE_NAMES,
    USER_AGENT,
    BlueskyTarget,
    Config,
    DeliveryConfig,
    FeedConfig,
    HashtagConfig,
    ListenConfig,
    LogConfig,
    MastodonTarget,
    OutputConfig,
    SecurityConfig,
    TargetBase,
    TargetConfig,
    feed_base_url,
)
from syndicate.config.secret import Secret, SecretRef

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_STATE",
    "FEED_FILE_NAMES",
    "USER_AGENT",
    "BlueskyTarget",
    "Config",
    "DeliveryConfig",
    "Duration",
    "FeedConfig",
    "HashtagConfig",
    "HttpUrl",
    "Invalid",
    "Issue",
    "ListenConfig",
    "LogConfig",
    "MastodonTarget",
    "Name",
    "OutputConfig",
    "Ports",
    "Secret",
    "SecretRef",
    "Section",
    "SecurityConfig",
    "TargetBase",
    "TargetConfig",
    "Template",
    "feed_base_url",
    "load_config",
    "parse_config",
    "parse_duration",
]
