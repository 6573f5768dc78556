"""Refused credentials pause the target, not the posts (issue 11, item 4).

A wrong or expired Mastodon token or Bluesky app password used to fail *every* queued row,
with a message that did not name the variable, while ``check-config`` said "ready" and
``run --once`` exited 0; fixing the secret resumed nothing until someone ran ``retry``.  Now a
401/403 on authentication pauses the target: its rows stay pending, in order, no attempt
counted; one log line names the target and the variable to fix; ``status``, ``/healthz`` and
``/metrics`` show it; ``run --once`` exits 1; and the target resumes by itself once the
secret works — checked again every ``delivery.auth_recheck`` (the ``*_FILE`` read afresh)
and at once on SIGHUP.  ``check-config --online`` asks each server.

Against the loopback Mastodon server through the real Mastodon.py (its ``revoke_token`` /
``add_token``), and the real PDS with a wrong password.  Time is a shared manual clock; the
daemon tests wait on log lines, never on the clock.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import signal
import sqlite3
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from syndicate.app import App
from syndicate.models import Article
from syndicate.retry import RetryPolicy
from tests.fakes import FakeClock, bluesky, make_config, mastodon, write_feeds_yaml
from tests.helpers import rss, run_cli, wait_until
from tests.servers.mastodon import MastodonServer

OLD, NEW = "revoked-token-0a1b2c3d", "fresh-token-4e5f6a7b"
STATUSES = "/api/v1/statuses"
RECHECK = 300


def article(n: int) -> Article:
    return Article(feed="acr", id=f"https://acr.example/?p={n}", link=f"https://acr.example/a{n}/",
                   title=f"Article {n}", published=datetime(2025, 10, 1, tzinfo=UTC) + timedelta(days=n),
                   fingerprint=f"h{n}", language="en")


def rows(state) -> list[tuple[str, int]]:
    db = sqlite3.connect(state)
    try:
        return db.execute("SELECT state, attempts FROM outbox ORDER BY published").fetchall()
    finally:
        db.close()


def posts_to(server) -> int:
    return sum(1 for r in server.requests if r.method == "POST" and r.path.startswith(STATUSES))


def test_a_revoked_mastodon_token_pauses_the_target_until_the_file_holds_a_working_one(tmp_path, caplog,
                                                                                       feed_server):
    feed_server.set_feed("/feed/", rss([1]))  # read once, then 304s: the feed says nothing here
    clock = FakeClock(1_760_000_000.0)
    token_file = tmp_path / "mastodon-token"
    token_file.write_text(OLD + "\n")
    with MastodonServer(token=OLD, clock=clock) as server:
        server.revoke_token(OLD)  # expired, or revoked by the instance's admin
        app = App(make_config(tmp_path, {"acr": feed_server.url("/feed/")}, targets={"mastodon": mastodon(server.url)},
                              delivery={"auth_recheck": RECHECK}),
                  environ={"SYNDICATE_MASTODON_TOKEN_FILE": str(token_file)},
                  clock=clock, sleep=clock.sleep, policy=RetryPolicy(jitter=0))
        app.store.ingest("acr", new=[article(n) for n in (1, 2, 3)], updated=[],
                         queue={article(n).id: ["mastodon"] for n in (1, 2, 3)})
        with caplog.at_level(logging.INFO):
            result = app.run_cycle()
        assert [d.outcome for d in result.deliveries] == ["paused"]  # the first row, then no more
        assert result.paused == ("mastodon",)
        assert rows(app.store.path) == [("pending", 0)] * 3  # in order, no attempt counted
        assert posts_to(server) == 1
        paused = [r for r in caplog.records if r.getMessage().startswith("target paused")]
        assert len(paused) == 1
        assert paused[0].target == "mastodon" and "SYNDICATE_MASTODON_TOKEN_FILE" in paused[0].fix
        assert "401" in paused[0].error and OLD not in paused[0].error
        [pause] = app.store.paused_targets().values()
        assert "401" in pause.reason and "SYNDICATE_MASTODON_TOKEN_FILE" in pause.fix

        caplog.clear()
        requests = len(server.requests)
        clock.advance(RECHECK - 1)
        with caplog.at_level(logging.INFO):
            assert app.run_cycle().deliveries == ()  # paused: not tried, not logged again
        assert len(server.requests) == requests and not caplog.records

        clock.advance(2)  # the recheck is due; the file still holds the revoked token
        with caplog.at_level(logging.INFO):
            assert app.run_cycle().deliveries == ()
        assert [r.path for r in server.requests[requests:]] == ["/api/v1/accounts/verify_credentials"]
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert rows(app.store.path) == [("pending", 0)] * 3

        server.add_token(NEW)
        token_file.write_text(NEW + "\n")  # the operator fixed the secret file
        assert app.run_cycle().deliveries == ()  # not yet: the next check is RECHECK away
        clock.advance(RECHECK)
        with caplog.at_level(logging.INFO):
            result = app.run_cycle()
        assert [d.outcome for d in result.deliveries] == ["sent"] * 3 and result.paused == ()
        assert any(r.getMessage().startswith("target resumed") for r in caplog.records)
        assert [re.search(r"Article (\d)", s["text"]).group(1) for s in server.statuses] == ["1", "2", "3"]
        assert rows(app.store.path) == [("sent", 1)] * 3
        assert app.store.paused_targets() == {}
        app.close()


def write_cli_config(tmp_path, feed_url, masto_url, *, listen=False):
    return write_feeds_yaml(tmp_path, {"acr": {"url": feed_url, "backfill": 2}}, poll_interval="1h",
                            targets={"masto": mastodon(masto_url, token_env="TEST_MASTO_TOKEN")}, output=True,
                            **({"listen": {"enabled": True, "port": 0}} if listen else {}))


def test_run_once_exits_non_zero_while_a_target_is_paused_and_status_says_what_to_fix(tmp_path, feed_server):
    feed_server.set_feed("/feed/", rss(range(1, 4)))
    with MastodonServer(token=NEW) as server:
        config = write_cli_config(tmp_path, feed_server.url("/feed/"), server.url)
        bad = {"TEST_MASTO_TOKEN": OLD}

        check = run_cli("check-config", config_path=config, env=bad)
        assert check.returncode == 0 and "ready" not in check.stdout
        assert "target masto: credentials from env TEST_MASTO_TOKEN (not checked: use --online)" in check.stdout

        first = run_cli("run", "--once", config_path=config, env=bad)
        assert first.returncode == 1, first.stderr
        paused = [line for line in first.stderr.splitlines() if "target paused" in line]
        assert len(paused) == 1 and "target=masto" in paused[0] and "fix=TEST_MASTO_TOKEN" in paused[0]
        assert OLD not in first.stderr
        assert rows(tmp_path / "state.db") == [("pending", 0)] * 2

        table = run_cli("status", config_path=config, env=bad).stdout
        assert re.search(r"target masto: PAUSED since .*401.*fix TEST_MASTO_TOKEN", table), table
        data = json.loads(run_cli("status", "--json", config_path=config, env=bad).stdout)
        [target] = data["targets"]
        assert target["name"] == "masto" and target["paused"] and "401" in target["reason"]

        health = run_cli("health", config_path=config, env=bad)
        assert health.returncode == 0 and "degraded: target masto paused" in health.stdout

        again = run_cli("run", "--once", config_path=config, env=bad)  # still refused: still 1
        assert again.returncode == 1 and server.statuses == []
        assert "target paused" not in again.stderr  # logged once per pause, not per run ...
        assert "target still paused: its credentials are still refused" in again.stderr  # ... said so

        fixed = run_cli("run", "--once", config_path=config, env={"TEST_MASTO_TOKEN": NEW})
        assert fixed.returncode == 0, fixed.stderr
        assert "target resumed" in fixed.stderr and len(server.statuses) == 2
        assert rows(tmp_path / "state.db") == [("sent", 1)] * 2
        assert "PAUSED" not in run_cli("status", config_path=config, env=bad).stdout


def test_the_daemon_shows_the_pause_and_resumes_on_sighup(tmp_path, feed_server, spawn_daemon):
    feed_server.set_feed("/feed/", rss(range(1, 4)))
    token_file = tmp_path / "token"
    token_file.write_text(OLD)
    with MastodonServer(token=NEW, budget=10_000) as server:
        config = write_cli_config(tmp_path, feed_server.url("/feed/"), server.url, listen=True)
        daemon = spawn_daemon(config, env={"TEST_MASTO_TOKEN_FILE": str(token_file)}, verbose=True)
        listening = daemon.wait_for_line("listening", timeout=30)
        assert listening, daemon.output
        url = re.search(r"url=(\S+)", listening).group(1)
        assert daemon.wait_for_line("target paused", timeout=30), daemon.output

        with httpx.Client(base_url=url, timeout=10) as http:
            health = http.get("/healthz").json()
            assert health["status"] == "degraded", health
            assert "masto" in health["reason"] and "TEST_MASTO_TOKEN_FILE" in health["reason"]
            assert re.search(r'syndicate_target_paused\{target="masto"\} 1\.0', http.get("/metrics").text)

            token_file.write_text(NEW)
            start = len(daemon.lines)
            daemon.signal(signal.SIGHUP)
            assert daemon.wait_for_line("target resumed", timeout=30, start=start), daemon.output
            assert wait_until(lambda: len(server.statuses) == 2, timeout=30), daemon.output
            assert http.get("/healthz").json()["status"] == "ok"
            assert re.search(r'syndicate_target_paused\{target="masto"\} 0\.0', http.get("/metrics").text)
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(20) == 0, daemon.output
    assert daemon.count_lines("target paused") == 1


# -- Bluesky -----------------------------------------------------------------------------------


@pytest.mark.pds
def test_a_wrong_bluesky_password_pauses_the_target_until_a_working_one(tmp_path, pds, caplog):
    password = secrets.token_urlsafe(12)
    did, handle = pds.create_account(f"c{secrets.token_hex(5)}.test", password)
    password_file = tmp_path / "bsky-password"
    password_file.write_text("not-the-password")
    clock = FakeClock(1_760_000_000.0)
    cfg = make_config(tmp_path, {"acr": "http://127.0.0.1:9/feed/"}, targets={"bsky": bluesky(pds.url, handle)},
                      delivery={"auth_recheck": RECHECK})
    app = App(cfg, environ={"SYNDICATE_BLUESKY_APP_PASSWORD_FILE": str(password_file)},
              clock=clock, sleep=clock.sleep, policy=RetryPolicy(jitter=0))
    app.store.ingest("acr", new=[article(1), article(2)], updated=[],
                     queue={article(n).id: ["bsky"] for n in (1, 2)})
    with caplog.at_level(logging.INFO):
        result = app.run_cycle()
    assert [d.outcome for d in result.deliveries] == ["paused"] and result.paused == ("bsky",)
    [line] = [r for r in caplog.records if r.getMessage().startswith("target paused")]
    assert "SYNDICATE_BLUESKY_APP_PASSWORD_FILE" in line.fix and "not-the-password" not in line.error
    assert rows(app.store.path) == [("pending", 0)] * 2

    password_file.write_text(password)  # fixed: the refused password is not remembered against it
    clock.advance(RECHECK)
    result = app.run_cycle()
    assert [d.outcome for d in result.deliveries] == ["sent", "sent"]
    assert len(pds.list_records(did)) == 2
    app.close()


@pytest.mark.pds
def test_check_config_online_asks_each_server(tmp_path, pds):
    password = secrets.token_urlsafe(12)
    _did, handle = pds.create_account(f"k{secrets.token_hex(5)}.test", password)
    with MastodonServer(token=NEW, max_characters=640) as server:
        path = write_feeds_yaml(tmp_path, {"acr": "http://127.0.0.1:9/feed/"}, output=None, targets={
            "masto_good": mastodon(server.url, token_env="T_GOOD"),
            "masto_bad": mastodon(server.url, token_env="T_BAD"),
            "bsky_good": bluesky(pds.url, handle, password_env="B_GOOD"),
            "bsky_bad": bluesky(pds.url, handle, password_env="B_BAD"),
            "unset": mastodon(server.url, token_env="T_UNSET"),
        })
        env = {"T_GOOD": NEW, "T_BAD": OLD, "B_GOOD": password, "B_BAD": "wrong-password-1"}
        result = run_cli("check-config", "--online", config_path=path, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if line.startswith("target "))
    assert lines["target masto_good"] == f"ok: @syndicate on {server.url}, 640 characters (23 per URL)"
    assert lines["target masto_bad"].startswith("credentials refused: HTTP 401")
    assert lines["target masto_bad"].endswith("fix T_BAD")
    assert lines["target bsky_good"].startswith(f"ok: {handle} (did:plc:")
    assert lines["target bsky_bad"].startswith("credentials refused:") and lines["target bsky_bad"].endswith("fix B_BAD")
    assert lines["target unset"].startswith("no credentials: set T_UNSET")
    for secret in env.values():
        assert secret not in result.stdout + result.stderr
