"""Where the state is: a SQLite file's path, or a PostgreSQL server's URL.

``state:`` in ``feeds.yaml`` (or ``$SYNDICATE_STATE``) is either: a
``postgresql://`` (or ``postgres://``) URL selects the PostgreSQL store, any
other value is a SQLite file's path (or ``:memory:``).  Nothing here imports
a driver, so a SQLite command never pays for psycopg.

A URL's password is a secret: it comes from the URL itself, from
``$PGPASSWORD`` (which libpq reads on its own), or from the file
``$PGPASSWORD_FILE`` names (a Docker or Kubernetes secret); ~/.pgpass works
too.  A URL is shown (in messages, logs, ``where``) only without its
password (``redacted``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from syndicate.errors import StoreError

__all__ = ["SCHEMES", "is_database_url", "password_from_environment", "redacted"]

SCHEMES = ("postgresql://", "postgres://")


def is_database_url(state: str | os.PathLike[str]) -> bool:
    """Does ``state`` name a PostgreSQL database (rather than a SQLite file)?"""
    return isinstance(state, str) and state.lower().startswith(SCHEMES)


def redacted(url: str) -> str:
    """``url`` without its password: ``postgresql://syndicate@db.example:5432/syndicate``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    netloc = f"{parts.username or ''}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def password_from_environment(url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The password to pass beside ``url``: None when the URL or ``$PGPASSWORD`` has one (libpq
    reads those itself) or none is set; else the contents of ``$PGPASSWORD_FILE``."""
    environ = os.environ if environ is None else environ
    if urlsplit(url).password is not None or environ.get("PGPASSWORD"):
        return None
    file = environ.get("PGPASSWORD_FILE")
    if not file:
        return None
    try:
        return Path(file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"state database {redacted(url)}: cannot read PGPASSWORD_FILE {file}: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
