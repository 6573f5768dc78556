"""State databases for the tests: a SQLite file, or a PostgreSQL database of the test's own.

The PostgreSQL server is the one ``$SYNDICATE_TEST_POSTGRES`` names (a URL;
its database is where the test databases are created from), else the one
answering on 127.0.0.1:5432 with trust auth (``make test`` starts one when
nothing answers: ``tests/servers/postgres.sh``).  Each test gets a database
of its own, created and dropped around it, so tests run in parallel.  No
server: the tests that need one fail in CI (which has one), and are skipped
with the reason elsewhere.

``state_db`` is the fixture the store and outbox suites take: parametrised
over both backends, it is a SQLite file's path or a fresh database's URL,
whatever ``Store`` (or ``state:``) accepts.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

SERVER_ENV = "SYNDICATE_TEST_POSTGRES"
LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    return os.environ.get(SERVER_ENV) or LOCAL_SERVER


def database_url(server: str, name: str) -> str:
    """``server`` with its database replaced by ``name``."""
    parts = urlsplit(server)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def admin(server: str):  # -> psycopg.Connection
    import psycopg

    return psycopg.connect(server, autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The server's URL, checked once: it answers and lets us create databases."""
    import psycopg

    from syndicate.store.location import redacted

    url = server_url()
    try:
        admin(url).close()
    except psycopg.Error as exc:
        reason = (f"no PostgreSQL server at {redacted(url)} ({' '.join(str(exc).split())}): "
                  f"run `make test` (it starts one) or set {SERVER_ENV}")
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return url


class PostgresDatabases:
    """Makes fresh databases on the test server; drops them all at the end."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.names: list[str] = []

    def new(self) -> str:
        name = f"syndicate_test_{uuid.uuid4().hex[:16]}"
        with admin(self.server) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return database_url(self.server, name)

    def drop_all(self) -> None:
        with admin(self.server) as db:
            for name in self.names:
                db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_databases(postgres_server: str) -> Iterator[PostgresDatabases]:
    """``postgres_databases.new()``: the URL of a new, empty database (as many as a test wants)."""
    made = PostgresDatabases(postgres_server)
    yield made
    made.drop_all()


@pytest.fixture
def postgres_url(postgres_databases: PostgresDatabases) -> str:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    return postgres_databases.new()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_db(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """A state database on each backend: a SQLite file's path, or a new PostgreSQL database's URL."""
    if request.param == "sqlite":
        return tmp_path / "state.db"
    url: str = request.getfixturevalue("postgres_url")
    return url
