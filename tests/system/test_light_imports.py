"""The light commands never import what they do not use: the SDKs, the web stack, the parsers.

Each command runs in a fresh interpreter (``python -c``), and what is in ``sys.modules``
when it is done is what it imported.  Start-up time itself is bench figure 5.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.fakes import write_feeds_yaml

HEAVY = ("mastodon", "atproto", "atproto_client", "requests", "starlette", "uvicorn", "jinja2", "PIL",
         "psycopg", "feedparser")
PROBE = """
import json, sys
from syndicate.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def _imported(*args: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("command", [["--help"], ["status"], ["health"], ["status", "--help"]])
def test_light_commands_import_no_sdk_no_web_stack_no_feed_parser(tmp_path, command):
    config = write_feeds_yaml(tmp_path, {"acr": "https://acr.example.org/feed/"}, state=tmp_path / "state.db",
                              targets={"masto": {"kind": "mastodon", "instance": "https://m.example"},
                                       "bsky": {"kind": "bluesky", "handle": "a.example"}})
    args = command if command == ["--help"] else ["--config", str(config), *command]
    assert _imported(*args) == []
