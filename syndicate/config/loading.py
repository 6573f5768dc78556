"""Reading feeds.yaml: YAML → ``Config``, every problem one line.

Every problem is reported as one line naming the file, the line (where the
YAML parser gives it), the key path and what was expected::

    feeds.yaml:7: feeds[0].poll_interval: expected a duration such as 90, "15m" or "1h"
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from syndicate.config.models import DEFAULT_CONFIG, TARGET_KINDS, Config
from syndicate.errors import ConfigError


def _loc_to_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of its nearest parent)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                child = node.value[part]
                line = child.start_mark.line + 1
        if child is None:
            continue  # a discriminator tag or a missing key: stay on the parent
        node = child
    return line


def _reason(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see feeds.yaml in the README)"
    if kind == "string_pattern_mismatch":
        pattern = err.get("ctx", {}).get("pattern", "")
        if "https?" in pattern:
            return "expected an http(s) URL"
        return "expected a name of letters, digits, '.', '_' or '-'"
    if kind == "union_tag_invalid":
        return "expected " + " or ".join(f"kind: {k}" for k in TARGET_KINDS)
    if kind == "union_tag_not_found":
        return f"missing kind: ({' or '.join(TARGET_KINDS)})"
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ")
    return msg[0].lower() + msg[1:] if msg else kind


def load_config(path: str | os.PathLike[str] | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate a configuration file.

    ``path`` defaults to ``$SYNDICATE_CONFIG`` then ``./feeds.yaml``;
    ``$SYNDICATE_STATE`` (or the file ``$SYNDICATE_STATE_FILE`` names) overrides the state
    database: a path (SQLite) or a ``postgresql://`` URL.
    Raises ``ConfigError`` with one line per problem.
    """
    environ = os.environ if environ is None else environ
    file = str(path or environ.get("SYNDICATE_CONFIG") or DEFAULT_CONFIG)
    try:
        text = Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(file, "", "no such file (use --config PATH or SYNDICATE_CONFIG)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, "", f"cannot read: {exc}") from None
    return parse_config(text, file, environ)


def parse_config(text: str, file: str = DEFAULT_CONFIG,
                 environ: Mapping[str, str] | None = None) -> Config:
    """Validate configuration text; ``file`` is used in error messages."""
    environ = os.environ if environ is None else environ
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(file, "", f"invalid YAML: {exc.problem}", line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(file, "", f"invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(file, "", "expected a mapping with at least a feeds: list", 1)
    if environ.get("SYNDICATE_STATE"):
        data["state"] = environ["SYNDICATE_STATE"]
    elif environ.get("SYNDICATE_STATE_FILE"):  # a URL with its password, as a Docker secret
        state_file = environ["SYNDICATE_STATE_FILE"]
        try:
            data["state"] = Path(state_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(file, "state",
                              f"cannot read SYNDICATE_STATE_FILE {state_file}: {reason}") from None
    try:
        cfg = Config.model_validate({**data, "source": file})
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = tuple(e["loc"])
            if loc[:1] == ("targets",) and len(loc) > 2 and loc[2] in TARGET_KINDS:
                loc = loc[:2] + loc[3:]  # drop pydantic's discriminator tag
            where = loc + ("kind",) if e["type"] == "union_tag_invalid" else loc
            problems.append(ConfigError(file, _loc_to_path(loc), _reason(e), _line_of(node, where)))
        first = problems[0]
        first.problems = problems
        raise first from None
    return cfg
