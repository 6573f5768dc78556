"""What the light commands import: start-up stays cheap because each command imports what it uses.

``syndicate --help``, ``status``, ``health``, ``preview`` and ``run --once`` on
an unchanged feed (a 304) each run in a fresh interpreter, against a config
with a Mastodon and a Bluesky target that have credentials (so their adapters
are built), and say which modules they loaded.  None of them loads an SDK
(Mastodon.py, atproto: imported when a target first sends or checks its
credentials), pydantic (the config is checked by its own annotations), the
listener (Starlette, Jinja2, the editors' page) or the parser (feedparser:
a 304 has no body).  The editors' commands do not load
the fetcher (httpx, httpcore) either, and ``run --once`` on a 304 neither
composes nor parses (compose, the summary's lxml, tenacity for the retries).
None reads the (plain, block-YAML) config with PyYAML: it is not imported.
``status``, ``health`` and ``--help`` load no ``dataclasses`` nor ``inspect`` (which it brings:
``dis``, ``ast``): the value classes are made without; ``preview`` loads no ``dataclasses``.
``status`` and ``health`` hash nothing and make no TLS connection (no hashlib,
no ssl); ``preview`` of a stored article fetches nothing, so it loads neither
the fetcher nor the App; and ``run --once`` on a plain-http feed loads no CA
bundle (the SSL context is made at the first TLS connection).

How long they take is bench figure 5 (``python -m bench --only startup``);
this pins the reason they are fast, not the time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.servers.feeds import FeedServer

NEVER = ("mastodon", "atproto", "pydantic", "starlette", "jinja2", "uvicorn", "feedparser", "syndicate.web",
         "syndicate.parse", "yaml")  # yaml: a plain config is read by config.yaml_subset
# The value classes are made without dataclasses (syndicate.value), which would bring inspect (and
# with it dis, ast, tokenize): the commands that only read the state load neither.
NO_DATACLASSES = ("dataclasses", "inspect")
NO_HASH_NO_TLS = ("hashlib", "_hashlib", "hmac", "secrets", "ssl", "_ssl")
EDITORS_NEVER = (*NEVER, "httpx", "httpcore", "lxml", "syndicate.fetch", "syndicate.app", "syndicate.compose")
UNCHANGED_RUN_NEVER = (*NEVER, "lxml", "tenacity", "syndicate.compose", "syndicate.summary",
                       "syndicate.editors", "syndicate.feed_out",
                       "httpx", "httpcore", "h11", "certifi",  # the fetcher's own wire; no TLS on http
                       *NO_HASH_NO_TLS, *NO_DATACLASSES,  # the output's first look compares bytes, hashing nothing
                       # the daemon's signals, a pool for several URLs or targets with work, a read's edits
                       "signal", "concurrent.futures", "queue", "html", "email", "unicodedata",
                       "syndicate.copies", "syndicate.changes", "syndicate.store.wakeups",
                       # a Bluesky session, its records and cards: made when the adapter first sends
                       "syndicate.targets.bluesky.session", "syndicate.targets.bluesky.records",
                       "syndicate.targets.bluesky.cards", "syndicate.targets.reuse")


# Nor what status and health do not use (issue 18 item 4): logging (their modules log through
# syndicate.lazylog), random (only the daemon's page checks draw), syndicate.changes and its html
# (a read's edits), socket (health's host is os.uname's), zoneinfo (a pacing's time zone, read
# when a target's pacing is made).  (preview loads logging: it sets logging up.)
EDITORS_UNUSED = ("logging", "random", "syndicate.changes", "html", "socket", "zoneinfo")
# What composing a stored article's posts does not use (issue 18 item 4): the adapters, the
# summary's parser; preview loads logging (it sets logging up) and regex (textlen's URL pattern).
PREVIEW_UNUSED = ("syndicate.targets.mastodon", "syndicate.targets.bluesky", "syndicate.targets.mastodon_instance",
                  "syndicate.targets.instance_limits", "lxml", "syndicate.summary.blocks",
                  "syndicate.summary.sanitise", "syndicate.summary.credits", "email", "random", "socket", "html",
                  "syndicate.changes")

# The command, in-process in a fresh interpreter; then every module it loaded, and how many CA
# bundles it loaded (a profile hook sees each call of SSLContext.load_verify_locations), as JSON.
COUNT_BUNDLES = """
import json, sys, threading
out = sys.argv.pop(1)
bundles = []
def seen(frame, event, arg):
    if event == "c_call" and getattr(arg, "__name__", "") == "load_verify_locations":
        bundles.append(1)
sys.setprofile(seen)
threading.setprofile(seen)
"""
PROBE = COUNT_BUNDLES + """
from syndicate.cli import main
try:
    main(prog_name="syndicate")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.setprofile(None)
with open(out, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules), "bundles": len(bundles)}, f)
"""


@pytest.fixture
def unchanged(tmp_path, acr_rss):
    """A config whose one feed answers 304 (read once before), and a runner of the probe."""
    with FeedServer() as server:
        server.set_feed("/feed/", acr_rss)
        config = tmp_path / "feeds.yaml"
        config.write_text(f"""
state: {tmp_path / 'state.db'}
feeds:
  - name: acr
    url: {server.url('/feed/')}
targets:
  mastodon:
    kind: mastodon
    instance: https://mastodon.invalid
  bluesky:
    kind: bluesky
    handle: acrbot.test
    password_env: STARTUP_TEST_BSKY
output:
  dir: {tmp_path / 'public'}
""")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
        env.update(SYNDICATE_MASTODON_TOKEN="startup-test-token", STARTUP_TEST_BSKY="app-password")

        bundles: list[int] = []  # of each command run, the CA bundles it loaded

        def loaded(*args: str) -> tuple[int, set[str]]:
            out = tmp_path / "modules.json"
            done = subprocess.run([sys.executable, "-c", PROBE, str(out), "--config", str(config), *args],
                                  capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
            assert out.is_file(), done.stderr
            answer = json.loads(out.read_text())
            out.unlink()
            bundles.append(answer["bundles"])
            return answer["code"], set(answer["modules"])

        code, first = loaded("run", "--once")  # the first read: the body parsed, its validators kept
        assert code == 0 and "syndicate.parse" in first  # (so the probe does see a lazy import)
        server.clear_requests()
        loaded.bundles = bundles  # type: ignore[attr-defined]
        yield loaded, server


def _among(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """The ``names`` loaded, as packages: "lxml" counts when any lxml.* module is."""
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


def test_run_once_on_an_unchanged_feed_loads_no_sdk_parser_or_composer(unchanged):
    loaded, server = unchanged
    code, modules = loaded("run", "--once")
    assert code == 0
    [seen] = server.requests_for("/feed/")
    assert seen.headers.get("if-none-match")  # a conditional GET, answered 304
    assert "syndicate.targets.mastodon" in modules and "syndicate.targets.bluesky" in modules  # adapters built
    assert _among(modules, UNCHANGED_RUN_NEVER) == []
    assert loaded.bundles[-1] == 0  # a plain-http feed: no SSL context made, no CA bundle read


def test_the_probe_counts_the_ca_bundles_loaded(tmp_path):
    """(So the 0 above is no blind spot: an SSL context made, as the fetcher makes it, counts.)"""
    out = tmp_path / "count.json"
    script = COUNT_BUNDLES + """
import httpx
httpx.create_ssl_context()
sys.setprofile(None)
open(out, "w").write(json.dumps(len(bundles)))
"""
    done = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True, timeout=60)
    assert json.loads(out.read_text()) == 1, done.stderr


@pytest.mark.parametrize("args", [("status",), ("health",)])
def test_the_editors_light_commands_load_neither_the_fetcher_nor_an_sdk(unchanged, args):
    loaded, _server = unchanged
    code, modules = loaded(*args)
    assert code in (0, 1)  # health: 1 when no daemon ran recently
    assert "syndicate.editors" in modules
    assert _among(modules, (*EDITORS_NEVER, "click")) == []
    assert _among(modules, NO_HASH_NO_TLS) == []  # nothing hashed, no TLS
    assert _among(modules, EDITORS_UNUSED) == []
    assert _among(modules, NO_DATACLASSES) == []


def test_preview_drafts_without_an_sdk_or_the_parser(unchanged):
    loaded, _server = unchanged
    code, modules = loaded("preview", "1")
    assert code == 0
    assert "syndicate.compose" in modules  # it composed each target's post
    assert _among(modules, (*NEVER, "dataclasses")) == []  # (lxml loads inspect)
    # a stored article: nothing to fetch, so neither the fetcher (httpx, httpcore) nor the App
    assert _among(modules, ("httpx", "httpcore", "syndicate.fetch", "syndicate.app", *NO_HASH_NO_TLS)) == []
    # composing needs the platforms' rules and drafts (targets.*_post), not their adapters (nor
    # email, socket, random and html with them), nor the summary's parser (lxml): a link's test
    # is summary.urls
    assert "syndicate.targets.mastodon_post" in modules and "syndicate.targets.bluesky_post" in modules
    assert _among(modules, PREVIEW_UNUSED) == []


def test_help_loads_the_cli_only(unchanged):
    loaded, _server = unchanged
    code, modules = loaded("--help")
    assert code == 0
    assert _among(modules, ("click",)) == []  # the command line is argparse's (issue 18: click took ~20 ms)
    assert sorted(m for m in modules if m.startswith("syndicate.") and not m.startswith("syndicate.cli")) == []
    assert _among(modules, (*NEVER, *NO_DATACLASSES, "httpx", "sqlite3")) == []
