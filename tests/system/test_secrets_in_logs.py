"""No token or password ever appears in anything syndicate prints.

The real daemon runs (debug logging, the HTTP listener on with an API token) against both
targets, each configured twice: once with a good secret and once with a wrong one, secrets
given by environment variable, by ``NAME_FILE`` and by ``token_file:``.  The run includes
failures (401 from Mastodon, a refused Bluesky login, a 503), requests to the listener with a
right and a wrong token, then ``check-config``, ``check-config --dump``, ``status``,
``status --json``, ``preview``, ``health`` and ``run --once``.  Everything they printed is
grepped for every secret, including the Bluesky session tokens the daemon obtained.

The JSON log format is checked too: every line the daemon writes parses as a JSON object.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import signal
import sqlite3
import sys
from pathlib import Path

import httpx
import pytest

from syndicate import logs
from syndicate.logs import JsonFormatter, KeyValueFormatter, redact
from tests.fakes import bluesky, mastodon, write_feeds_yaml
from tests.helpers import run_cli, wait_until
from tests.servers.mastodon import Fault, MastodonServer

STATUSES = "/api/v1/statuses"


def outbox(state: Path) -> dict[tuple[str, str], int]:
    db = sqlite3.connect(state)
    try:
        return {(t, s): n for t, s, n in
                db.execute("SELECT target, state, COUNT(*) FROM outbox GROUP BY target, state")}
    except sqlite3.OperationalError:
        return {}
    finally:
        db.close()



def secret(prefix: str) -> str:
    return f"{prefix}-{secrets.token_urlsafe(18)}"


def leaks(texts: dict[str, str], needles: dict[str, str]) -> list[str]:
    found = []
    for what, text in texts.items():
        for name, needle in needles.items():
            if needle and needle in text:
                found.append(f"{name} in {what}")
    return found


@pytest.mark.pds
def test_no_secret_in_anything_printed(tmp_path, feed_server, pds, spawn_daemon, make_articles, rss_of):
    masto_good, masto_bad, masto_third = secret("masto-good"), secret("masto-wrong"), secret("masto-third")
    bsky_good, bsky_bad = secret("bsky-good"), secret("bsky-wrong")
    api_token = secret("api-token")
    good_did, good_handle = pds.create_account(f"sg{secrets.token_hex(4)}.test", bsky_good)
    _, other_handle = pds.create_account(f"sb{secrets.token_hex(4)}.test", secret("unused"))

    (tmp_path / "secrets").mkdir()
    masto_file = tmp_path / "secrets" / "masto_token"
    masto_file.write_text(masto_good + "\n")
    masto_third_file = tmp_path / "secrets" / "masto_third_token"
    masto_third_file.write_text(masto_third)
    bsky_file = tmp_path / "secrets" / "bsky_password"
    bsky_file.write_text(bsky_good + "\n")
    articles = make_articles(3)
    feed_server.set_feed("/feed", rss_of(articles))
    state = tmp_path / "state.db"
    config = tmp_path / "feeds.yaml"

    with MastodonServer(token=masto_good, budget=10_000) as masto:
        masto.add_token(masto_third)
        masto.queue_faults(Fault(status=503, method="POST", path=STATUSES))
        write_feeds_yaml(tmp_path, {"review": {"url": feed_server.url("/feed"), "backfill": 3}}, path=config,
                         state=state, poll_interval="1s", output=True, targets={
            "masto_good": mastodon(masto.url, token_env="TEST_MASTO_GOOD"),  # given as TEST_MASTO_GOOD_FILE
            "masto_bad": mastodon(masto.url, token_env="TEST_MASTO_BAD"),
            "masto_third": mastodon(masto.url, token_env="TEST_MASTO_UNSET",
                                    token_file=masto_third_file),  # the config's own file key
            "bsky_good": bluesky(pds.url, good_handle, password_env="TEST_BSKY_GOOD"),  # given as ..._FILE
            "bsky_bad": bluesky(pds.url, other_handle, password_env="TEST_BSKY_BAD"),
        }, listen={"enabled": True, "port": 0, "api_token_env": "TEST_API_TOKEN"},
                         delivery={"attempts": 2, "backoff": 0.05, "max_backoff": 0.2, "requeue": 0.2,
                                   "max_requeue": 1})
        env = {"TEST_MASTO_GOOD_FILE": str(masto_file), "TEST_MASTO_BAD": masto_bad,
               "TEST_BSKY_GOOD_FILE": str(bsky_file), "TEST_BSKY_BAD": bsky_bad,
               "TEST_API_TOKEN": api_token}

        daemon = spawn_daemon(config, env=env, verbose=True)
        listening = daemon.wait_for_line("listening", timeout=30)
        assert listening, daemon.output
        url = re.search(r"url=(\S+)", listening).group(1)
        # The refused credentials pause their targets (their rows wait), each logged once.
        done = {("masto_good", "sent"): 3, ("masto_third", "sent"): 3, ("bsky_good", "sent"): 3,
                ("masto_bad", "pending"): 3, ("bsky_bad", "pending"): 3}
        assert wait_until(lambda: outbox(state) == done and daemon.count_lines("target paused") == 2,
                          timeout=90), (outbox(state), daemon.output)

        with httpx.Client(base_url=url, timeout=10) as http:
            assert http.get("/healthz").status_code == 200
            assert http.get("/metrics").status_code == 200
            ok = http.get("/api/articles", headers={"Authorization": f"Bearer {api_token}"})
            assert ok.status_code == 200
            assert http.get("/api/articles", headers={"Authorization": f"Bearer {masto_bad}"}).status_code == 401
            assert http.post("/login", data={"token": bsky_bad}).status_code in (200, 303, 401, 403)
            first = ok.json()["articles"][0]["id"]
            retried = http.post(f"/api/articles/{first}/retry", json={},
                                headers={"Authorization": f"Bearer {api_token}"})
            assert retried.status_code == 200, retried.text
        assert retried.json()["requeued"] == 0  # nothing failed: the paused targets' rows wait
        assert outbox(state) == done
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0, daemon.output

        outputs = {"daemon": daemon.output}
        link = articles[0]["link"]
        for args in (("check-config",), ("check-config", "--dump"), ("status",), ("status", "--json"),
                     ("preview", link), ("preview", link, "--text", "Worth a read"), ("health",),
                     ("-v", "run", "--once"), ("--log-format", "json", "-v", "run", "--once")):
            result = run_cli(*args, config_path=config, env=env, cwd=config.parent)
            outputs[" ".join(args)] = f"{result.stdout}\n{result.stderr}"
            assert "Traceback" not in result.stderr, (args, result.stderr)
        assert len(masto.statuses) == 6

    # The failure paths were really taken, and the dump says where each secret comes from.
    log = outputs["daemon"]
    assert re.search(r"target paused.*target=masto_bad.*fix=TEST_MASTO_BAD.*401", log), log
    assert re.search(r"target paused.*target=bsky_bad.*fix=TEST_BSKY_BAD", log), log
    assert "delivery retrying" in log or "delivery postponed" in log
    assert "401" in outputs["status --json"]
    dump = outputs["check-config --dump"]
    assert f"<redacted, from file {masto_file}>" in dump
    assert f"<redacted, from file {masto_third_file}>" in dump
    assert f"<redacted, from file {bsky_file}>" in dump
    assert "<redacted, from env TEST_MASTO_BAD>" in dump and "<redacted, from env TEST_BSKY_BAD>" in dump

    for path in (tmp_path / "public").iterdir():
        outputs[f"file {path.name}"] = path.read_text(encoding="utf-8", errors="replace")
    needles = {"mastodon token (file)": masto_good, "mastodon token (env)": masto_bad,
               "mastodon token (token_file)": masto_third,
               "bluesky password (file)": bsky_good, "bluesky password (env)": bsky_bad,
               "API token": api_token}
    db = sqlite3.connect(state)
    try:
        sessions = [row[0] for row in db.execute("SELECT data FROM sessions")]
    finally:
        db.close()
    assert sessions, "the good Bluesky target should have stored its session"
    for n, jwt in enumerate(re.findall(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", " ".join(sessions))):
        needles[f"bluesky session token {n}"] = jwt
    assert leaks(outputs, needles) == []


def test_json_log_lines_all_parse(tmp_path, feed_server, spawn_daemon, make_articles, rss_of):
    good, bad = secret("json-good"), secret("json-bad")
    feed_server.set_feed("/feed", rss_of(make_articles(2)))
    feed_server.set_feed("/broken", b"<html><body>not a feed</body></html>", content_type="text/html")
    state = tmp_path / "state.db"
    config = tmp_path / "feeds.yaml"
    with MastodonServer(token=good, budget=10_000) as masto:
        masto.queue_faults(Fault(status=503, method="POST", path=STATUSES))
        write_feeds_yaml(tmp_path, {"review": {"url": feed_server.url("/feed"), "backfill": 2},
                                    "broken": feed_server.url("/broken")}, path=config,
                         state=state, poll_interval="1s", output=True,
                         targets={"good": mastodon(masto.url, token_env="TEST_GOOD"),
                                  "bad": mastodon(masto.url, token_env="TEST_BAD")},
                         delivery={"attempts": 2, "backoff": 0.05, "max_backoff": 0.2, "requeue": 0.2,
                                   "max_requeue": 1})
        env = {"TEST_GOOD": good, "TEST_BAD": bad}
        daemon = spawn_daemon(config, env=env, log_format="json", verbose=True)
        done = {("good", "sent"): 2, ("bad", "pending"): 2}
        assert wait_until(lambda: outbox(state) == done and daemon.count_lines("target paused"),
                          timeout=60), (outbox(state), daemon.output)
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0, daemon.output
        once = run_cli("--log-format", "json", "run", "--once", config_path=config, env=env, cwd=config.parent)

    lines = daemon.stderr_lines + once.stderr.splitlines()
    assert daemon.stdout_lines == [] and once.stdout == ""
    events = []
    for line in lines:
        record = json.loads(line)  # every line, not most
        assert isinstance(record, dict) and {"time", "level", "logger", "event"} <= set(record), line
        events.append(record)
    names = [e["event"] for e in events]
    assert "started" in names and "stopped" in names and "delivered" in names
    paused = [e for e in events if e["event"].startswith("target paused")]
    assert len(paused) == 1 and paused[0]["target"] == "bad" and "401" in paused[0]["error"]
    assert paused[0]["fix"] == "TEST_BAD"
    assert any(e["event"] == "feed failed" and e["feed"] == "broken" for e in events)
    assert leaks({"json logs": "\n".join(lines)}, {"good token": good, "bad token": bad}) == []


# --- the formatters' own safety net -------------------------------------------------------------


@pytest.fixture
def registered_secrets():
    """Leave the process-wide secret registry as it was."""
    before = set(logs._SECRETS)
    yield
    logs._SECRETS.intersection_update(before)


@pytest.mark.parametrize("formatter", [KeyValueFormatter(), JsonFormatter()], ids=["text", "json"])
@pytest.mark.parametrize("value", [pytest.param('pa"ss\\word-1234', id="quote-backslash"),
                                   pytest.param("ünïcode-sécret-1234", id="unicode"),
                                   pytest.param("plain-secret-1234", id="plain")])
def test_a_registered_secret_never_shows_even_escaped(formatter, value, registered_secrets):
    """A secret that reached a log call anyway (message, field, traceback) is scrubbed, whatever
    characters it holds; the JSON and key=value encodings escape quotes and backslashes, so the
    scrubbing must happen before the encoding."""
    redact(value)
    try:
        raise RuntimeError(f"login failed for password {value}")
    except RuntimeError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "asked with %s", (value,),
                                   sys.exc_info())
    record.error = f"bad token {value}"
    line = formatter.format(record)
    escaped = json.dumps(value)[1:-1]
    assert value not in line and escaped not in line, line
    assert "<redacted>" in line
