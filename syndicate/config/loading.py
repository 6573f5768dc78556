"""Reading feeds.yaml: YAML → ``Config``, every problem one line.

Every problem is reported as one line naming the file, the line (where the
YAML parser gives it), the key path and what was expected::

    feeds.yaml:7: feeds[0].poll_interval: expected a duration such as 90, "15m" or "1h"
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syndicate.config import yaml_subset
from syndicate.config.check import Invalid, Loc
from syndicate.config.models import DEFAULT_CONFIG, Config
from syndicate.errors import ConfigError

if TYPE_CHECKING:
    import yaml


def _line_of(node: yaml.Node | None, loc: Loc) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of its nearest parent)."""
    import yaml

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


def _read_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's root node (for the lines) and its data, composed once.

    libyaml (ten times quicker) reads it when PyYAML has it; a document libyaml refuses is
    read again by the pure-Python parser, whose messages and lines the errors have always had.
    """
    import yaml

    loaders: list[type[yaml.SafeLoader]] = [yaml.SafeLoader]
    if getattr(yaml, "__with_libyaml__", False):
        loaders.insert(0, yaml.CSafeLoader)  # type: ignore[arg-type]
    for loader_class in loaders:
        loader = loader_class(text)
        try:
            node = loader.get_single_node()
            return node, loader.construct_document(node) if node is not None else None
        except yaml.YAMLError:
            if loader_class is loaders[-1]:
                raise
        finally:
            loader.dispose()
    raise AssertionError("unreachable")


def _read_text(text: str, file: str) -> tuple[yaml.Node | None, Any]:
    """``_read_yaml``, its errors a ``ConfigError`` naming the line PyYAML's mark gives."""
    import yaml

    try:
        return _read_yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(file, "", f"invalid YAML: {exc.problem}", line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(file, "", f"invalid YAML: {exc}") from None


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
    node: yaml.Node | None = None
    data = yaml_subset.read(text)  # the block YAML configs are written in, without importing PyYAML
    if data is yaml_subset.REFUSED:
        node, data = _read_text(text, file)
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
        cfg = Config.validate({**data, "source": file})
    except Invalid as exc:
        if node is None:  # read by yaml_subset: the lines are PyYAML's nodes'
            node, _ = _read_text(text, file)
        problems = [ConfigError(file, issue.path, issue.reason, _line_of(node, issue.at or issue.loc))
                    for issue in exc.issues]
        first = problems[0]
        first.problems = problems
        raise first from None
    return cfg
