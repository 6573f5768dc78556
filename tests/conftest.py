"""Shared fixtures: loopback servers and a config builder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.feeds import FeedServer

DATA = Path(__file__).parent / "data"


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@pytest.fixture
def acr_rss() -> bytes:
    return (DATA / "feeds" / "acr.rss").read_bytes()
