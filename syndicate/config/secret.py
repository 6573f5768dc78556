"""Secrets: where a target's secret comes from, and a value that never shows itself.

Secrets never live in feeds.yaml: a target names the environment variable
that holds its secret (``token_env``), and ``NAME_FILE`` or ``token_file``
may point at a file instead (Docker/Kubernetes secrets).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from syndicate.config.check import Section
from syndicate.errors import ConfigError


class Secret:
    """A secret value that never shows itself in repr, str or logs."""

    __slots__ = ("_value", "origin")

    def __init__(self, value: str, origin: str) -> None:
        self._value = value
        self.origin = origin  # "env SYNDICATE_MASTODON_TOKEN" or "file /run/secrets/x"

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(<redacted from {self.origin}>)"

    __str__ = __repr__


class SecretRef(Section):
    """Where a target's secret comes from: an env var, its ``_FILE`` twin, or a file."""

    env: str
    file: Path | None = None

    def resolve(self, environ: Mapping[str, str] | None = None) -> Secret | None:
        environ = os.environ if environ is None else environ
        if environ.get(self.env):
            return Secret(environ[self.env].strip(), f"env {self.env}")
        file = environ.get(f"{self.env}_FILE") or (str(self.file) if self.file else None)
        if file:
            try:
                value = Path(file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(file, "", f"cannot read secret file: {exc.strerror}") from None
            if value:
                return Secret(value, f"file {file}")
        return None

    def hint(self) -> str:
        where = f"set {self.env} (or {self.env}_FILE"
        if self.file:
            where += f", or create {self.file}"
        return where + ")"
