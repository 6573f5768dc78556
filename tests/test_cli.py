"""Each CLI command: exit codes, output, errors (in-process, with tests.cli_runner)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from syndicate.models import Article, Posted
from syndicate.store import Store
from tests.cli_runner import invoke
from tests.conftest import DATA
from tests.servers.mastodon import MastodonServer

TOKEN = "cli-test-token-abcdef"

PAGE = b"""<!doctype html><html lang="en-GB"><head>
<title>Old piece | ACR</title>
<meta property="og:title" content="An old piece worth reading again">
<meta property="og:description" content="Why the 1970s still matter.">
<meta property="article:published_time" content="2019-05-04T09:00:00+01:00">
<meta property="og:image" content="/img/old.jpg">
<meta name="author" content="Terry Ash">
<meta property="article:tag" content="History">
<link rel="canonical" href="https://anticapitalistresistance.org/old-piece/?utm_source=x">
</head><body><article><p><strong>Why the 1970s still matter.</strong></p><p>Body text.</p>
<script>alert(1)</script></article></body></html>"""


@pytest.fixture
def env(tmp_path, feed_server, acr_rss):
    feed_server.set_feed("/feed/", acr_rss)
    feed_server.set_feed("/old-piece/", PAGE, content_type="text/html; charset=utf-8")
    server = MastodonServer(token=TOKEN).start()
    path = tmp_path / "feeds.yaml"
    path.write_text(f"""
state: {tmp_path / 'state.db'}
feeds:
  - name: acr
    url: {feed_server.url('/feed/')}
targets:
  mastodon:
    kind: mastodon
    instance: {server.url}
  bluesky:
    kind: bluesky
    handle: acrbot.test
    password_env: CLI_TEST_NO_BSKY
output:
  dir: {tmp_path / 'public'}
security: {{allow_private_addresses: true, allowed_ports: any}}  # the article pages are on loopback
""")
    def run(*args: str, **kw):
        return invoke(["--config", str(path), *args],
                      env={"SYNDICATE_MASTODON_TOKEN": TOKEN, **kw.get("env", {})})

    yield run, tmp_path, feed_server, server
    server.close()


def seeded(run, tmp_path):
    assert run("run", "--once").exit_code == 0
    return Store(tmp_path / "state.db")


def test_check_config_ok_dump_and_errors(env, tmp_path):
    run, *_ = env
    result = run("check-config")
    assert result.exit_code == 0
    assert "target mastodon: credentials from env SYNDICATE_MASTODON_TOKEN (not checked: use --online)" in result.output
    assert "target bluesky: no credentials: set CLI_TEST_NO_BSKY" in result.output
    dump = run("check-config", "--dump")
    assert dump.exit_code == 0 and TOKEN not in dump.output and "<redacted, from env" in dump.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds: []\n")
    result = invoke(["--config", str(bad), "check-config"])
    assert result.exit_code == 2
    assert result.output.strip() == f"syndicate: {bad}:1: feeds: list should have at least 1 item after validation, not 0"


def test_status_empty_then_table_and_json(env):
    run, tmp_path, *_ = env
    result = run("status")
    assert result.exit_code == 0 and "no articles recorded yet" in result.output
    store = seeded(run, tmp_path)
    store.close()
    table = run("status", "-n", "2")
    assert table.exit_code == 0 and "(seen only, not queued)" in table.output
    data = json.loads(run("status", "--json").output)
    assert len(data["articles"]) == 5 and data["feeds"][0]["name"] == "acr"


def test_preview_prints_each_target_and_why(env):
    run, tmp_path, *_ = env
    seeded(run, tmp_path).close()
    url = "https://anticapitalistresistance.org/stalinist-realism-and-open-communism-2/?utm_source=mastodon"
    result = run("preview", url)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "--- mastodon (mastodon):" in out and "--- bluesky (bluesky):" in out
    assert "/500 graphemes" in out and "/300 graphemes" in out
    assert "First published 13 October 2022" in out
    assert "facet link bytes" in out and "card: Stalinist Realism and Open Communism" in out
    assert "why:" in out
    missing = run("preview", "https://anticapitalistresistance.org/no-such-article/")
    assert missing.exit_code == 1 and "not in the store nor in any configured feed" in missing.output
    bad_target = run("preview", "1", "--target", "myspace")
    assert bad_target.exit_code == 1 and "target myspace: not in" in bad_target.output


def test_repost_needs_force_once_posted_and_records_who(env):
    run, tmp_path, _, server = env
    store = seeded(run, tmp_path)
    aid = store.find_article_id("https://anticapitalistresistance.org/stalinist-realism-and-open-communism-2/")
    result = run("repost", str(aid), "--by", "sam", "--text", "From the archive:")
    assert result.exit_code == 0, result.output
    assert f"queued article #{aid} for mastodon" in result.output
    assert run("run", "--once").exit_code == 0
    [status] = server.statuses
    assert status["text"].startswith("From the archive:")
    again = run("repost", str(aid))
    assert again.exit_code == 1
    assert f"already posted (mastodon {status['url']}); use --force" in again.output
    forced = run("repost", str(aid), "--force")
    assert forced.exit_code == 0
    rows = [r for r in store.deliveries(aid) if r.target == "mastodon"]
    assert [(r.seq, r.requested_by, r.state) for r in rows] == [(0, "sam", "sent"), (1, rows[1].requested_by, "pending")]
    store.close()


def test_repost_of_an_article_gone_from_the_feed_reads_its_page(env):
    run, tmp_path, feed_server, server = env
    seeded(run, tmp_path).close()
    url = feed_server.url("/old-piece/")
    result = run("repost", url, "--target", "mastodon")
    assert result.exit_code == 0, result.output
    assert run("run", "--once").exit_code == 0
    [status] = server.statuses
    assert "An old piece worth reading again" in status["text"]
    assert "4 May 2019" in status["text"]
    assert "https://anticapitalistresistance.org/old-piece/" in status["text"]
    assert "utm_source" not in status["text"] and "alert" not in status["text"]


def test_repost_many_with_progress_and_unknown_refs(env):
    run, tmp_path, *_ = env
    seeded(run, tmp_path).close()
    result = run("repost", "1", "2", "no-such-guid", "--target", "mastodon")
    assert result.exit_code == 1
    assert "queued article #1" in result.output and "queued article #2" in result.output
    assert "article no-such-guid: not in the store" in result.output


def test_retry_requeues_failed(env):
    run, tmp_path, *_ = env
    store = seeded(run, tmp_path)
    assert run("retry").output.strip() == "re-queued 0 failed deliveries"
    store.queue_repost(1, ["mastodon"], requested_by="t")
    [item] = store.claim_due("w", now=datetime.now(UTC).timestamp() + 1, lease_seconds=60)
    store.mark_failed(item.id, "w", "HTTP 422")
    assert run("retry", "1").output.strip() == "re-queued 1 failed delivery"
    assert run("retry", "nope").exit_code == 1
    store.close()


def test_feed_writes_the_output_and_health(env):
    run, tmp_path, *_ = env
    assert run("health").exit_code == 1  # no cycle yet
    seeded(run, tmp_path).close()
    result = run("feed")
    assert result.exit_code == 0
    assert (tmp_path / "public" / "feed.xml").exists()
    health = run("health")
    assert health.exit_code == 0 and health.output.startswith("healthy")
    assert run("health", "--max-age", "0").exit_code == 1


def test_sent_row_has_url_in_status(env):
    run, tmp_path, *_ = env
    store = seeded(run, tmp_path)
    store.ingest("acr", new=[Article(feed="acr", id="x", link="https://e.org/x", title="X",
                                     published=datetime(2025, 1, 1, tzinfo=UTC))], updated=[],
                 queue={"x": ["mastodon"]})
    [item] = store.claim_due("w", now=datetime.now(UTC).timestamp() + 1, lease_seconds=60)
    store.begin_attempt(item.id, "w", now=datetime.now(UTC).timestamp(), lease_seconds=60, text="X")
    store.mark_sent(item.id, "w", Posted("9", "https://m.example/@acr/9"))
    out = run("status").output
    assert "https://m.example/@acr/9" in out
    assert re.search(r"history: \d\d:\d\d attempt · \d\d:\d\d sent", out), out
    [row] = [d for a in json.loads(run("status", "--json").output)["articles"] for d in a["deliveries"]]
    assert [(e["kind"], e["detail"]) for e in row["history"]] == [("attempt", "try 1"),
                                                                  ("sent", "https://m.example/@acr/9")]
    store.close()


def test_a_repost_already_queued_is_not_queued_again_without_force(env):
    run, tmp_path, *_ = env
    store = seeded(run, tmp_path)  # first sight: every article seen, none queued
    aid = store.find_article_id("https://anticapitalistresistance.org/stalinist-realism-and-open-communism-2/")
    assert run("repost", str(aid), "--target", "mastodon").exit_code == 0
    again = run("repost", str(aid), "--target", "mastodon")
    assert again.exit_code == 1
    assert "already queued (mastodon pending); use --force" in again.output
    assert len(store.deliveries(aid)) == 1
    [item] = store.claim_due("w", now=datetime.now(UTC).timestamp() + 1, lease_seconds=60)
    sending = run("repost", str(aid), "--target", "mastodon")  # being sent right now counts too
    assert sending.exit_code == 1 and "already queued (mastodon sending)" in sending.output
    assert run("repost", str(aid), "--target", "mastodon", "--force").exit_code == 0
    assert [d.state for d in store.deliveries(aid)] == ["sending", "pending"]
    store.close()


def test_a_repost_is_not_queued_for_a_target_without_credentials_and_says_so(env):
    run, tmp_path, *_ = env
    store = seeded(run, tmp_path)
    aid = store.find_article_id("https://anticapitalistresistance.org/stalinist-realism-and-open-communism-2/")
    result = run("repost", str(aid))  # the feed posts to both; bluesky has no app password here
    assert result.exit_code == 0, result.output
    assert f"queued article #{aid} for mastodon;" in result.output
    assert "target bluesky: not queued, no app password: set CLI_TEST_NO_BSKY" in result.output
    assert [d.target for d in store.deliveries(aid)] == ["mastodon"]
    store.close()


# --- the daemon's targets decide, not the CLI's environment -----------------------------------


def test_a_repost_beside_the_daemon_queues_for_what_the_daemon_can_post(env):
    """The daemon has the Bluesky app password, this shell does not: the repost still goes there."""
    run, tmp_path, *_ = env
    assert run("run", "--once", env={"CLI_TEST_NO_BSKY": "daemon-app-password"}).exit_code == 0
    store = Store(tmp_path / "state.db")
    aid = store.find_article_id("https://anticapitalistresistance.org/stalinist-realism-and-open-communism-2/")
    result = run("repost", str(aid))  # no CLI_TEST_NO_BSKY here
    assert result.exit_code == 0, result.output
    assert f"queued article #{aid} for mastodon, bluesky;" in result.output
    assert "not queued" not in result.output
    assert sorted(d.target for d in store.deliveries(aid)) == ["bluesky", "mastodon"]
    store.close()


def test_a_repost_is_not_queued_where_the_daemon_cannot_post_even_if_this_shell_could(env):
    run, tmp_path, *_ = env
    assert run("run", "--once", env={"SYNDICATE_MASTODON_TOKEN": None}).exit_code == 0  # daemon: no token
    store = Store(tmp_path / "state.db")
    aid = store.find_article_id("https://anticapitalistresistance.org/stalinist-realism-and-open-communism-2/")
    result = run("repost", str(aid), "--target", "mastodon")  # this shell has the token
    assert result.exit_code == 1
    assert "target mastodon: not queued, no access token: set SYNDICATE_MASTODON_TOKEN" in result.output
    assert f"article {aid}: not queued: no target it goes to can post here" in result.output
    assert store.deliveries(aid) == []
    store.close()


def test_the_cli_applies_the_editors_input_limits(env):
    run, tmp_path, *_ = env
    store = seeded(run, tmp_path)
    long_intro = run("repost", "1", "--target", "mastodon", "--text", "x" * 1001)
    assert long_intro.exit_code == 1
    assert "text: expected a string of at most 1000 characters" in long_intro.output
    long_name = run("repost", "1", "--target", "mastodon", "--by", "n" * 101)
    assert long_name.exit_code == 1 and "by: expected a name of at most 100 characters" in long_name.output
    assert store.deliveries(1) == []
    assert run("repost", "1", "--target", "mastodon", "--text", "x" * 1000, "--by", "n" * 100).exit_code == 0
    [row] = store.deliveries(1)
    assert row.requested_by == "n" * 100
    store.close()


def test_show_has_every_delivery_with_its_history_and_the_previews(env):
    run, tmp_path, _, server = env
    store = seeded(run, tmp_path)
    aid = store.find_article_id("https://anticapitalistresistance.org/stalinist-realism-and-open-communism-2/")
    assert run("repost", str(aid), "--target", "mastodon", "--by", "sam").exit_code == 0
    assert run("run", "--once").exit_code == 0
    [status] = server.statuses
    text = run("show", "https://anticapitalistresistance.org/stalinist-realism-and-open-communism-2/")
    assert text.exit_code == 0, text.output
    assert f"#{aid} Stalinist Realism and Open Communism" in text.output
    assert status["url"] in text.output
    assert re.search(r"\d\d:\d\d attempt: try 1", text.output) and f"sent: {status['url']}" in text.output
    assert "--- mastodon (mastodon):" in text.output and "--- bluesky (bluesky):" in text.output
    data = json.loads(run("show", str(aid), "--json").output)
    assert data["id"] == aid and set(data["preview"]) == {"mastodon", "bluesky"}
    [row] = data["deliveries"]
    assert (row["state"], row["url"], row["requested_by"]) == ("sent", status["url"], "sam")
    assert [e["kind"] for e in row["history"]][-1] == "sent"
    assert run("show", "no-such-guid").exit_code == 1
    store.close()


def test_repost_and_retry_and_release_answer_in_json(env):
    run, tmp_path, *_ = env
    store = seeded(run, tmp_path)
    first = json.loads(run("repost", "1", "no-such-guid", "--target", "mastodon", "--by", "sam", "--json").stdout)
    assert first[0] == {"ref": "1", "article": 1, "queued": ["mastodon"], "requested_by": "sam", "intro": None}
    assert first[1]["ref"] == "no-such-guid" and "not in the store" in first[1]["error"]
    [again] = json.loads(run("repost", "1", "--target", "mastodon", "--json").output)
    assert again["queued"] == [{"target": "mastodon", "state": "pending"}]
    assert again["error"] == "article 1: already queued (mastodon pending); use --force to post it again"
    assert json.loads(run("retry", "1", "--json").output) == {"article": 1, "requeued": 0}
    released = json.loads(run("release", "acr", "--json").output)
    assert released == [{"ref": "acr", "feed": "acr", "article": None, "released": 0}]
    store.close()


def test_show_and_preview_date_an_article_by_its_day_where_the_source_is(env):
    """00:30 +02:00 is the 24th where it was published (the 23rd in UTC); 21:15 −05:00 the 23rd
    (the 24th in UTC): ``show`` and ``preview`` say the day the source gave, as the posts do."""
    run, tmp_path, feed_server, _ = env
    feed_server.set_feed("/feed/", (DATA / "cases" / "date-past-midnight-offset.rss").read_bytes())
    seeded(run, tmp_path).close()
    athens = "https://inprecor.example/athens-the-night-the-dockers-came-out"
    chicago = "https://inprecor.example/chicago-teachers-vote-to-strike"
    for command in ("show", "preview"):
        assert "date:    24 November 2026 (original" in run(command, athens).output
        assert "date:    23 November 2026 (original" in run(command, chicago).output


# --- the command line itself (argparse): usage errors, --version, the group options -------------------


@pytest.mark.parametrize(("args", "said"), [
    (["status", "-n", "x"], "syndicate: status: argument -n/--limit: invalid int value: 'x'; "
                            "try 'syndicate status -h'"),
    (["status", "--bogus"], "syndicate: status: unrecognized arguments: --bogus; try 'syndicate status -h'"),
    (["repost"], "syndicate: repost: the following arguments are required: REF; try 'syndicate repost -h'"),
    (["--log-format", "xml", "status"], "syndicate: argument --log-format: invalid choice: 'xml' "
                                        "(choose from 'text', 'json'); try 'syndicate -h'"),
    (["stat"], "syndicate: argument COMMAND: invalid choice: 'stat' (choose from 'check-config', "),
    (["-v"], "syndicate: missing COMMAND; try 'syndicate -h'"),
    (["status", "--config", "x.yaml"], "syndicate: status: unrecognized arguments: --config x.yaml"),
])
def test_a_usage_error_is_one_line_on_stderr_and_exit_2(args, said):
    result = invoke(args)
    assert result.exit_code == 2
    assert result.stdout == "" and result.stderr.count("\n") == 1
    assert result.stderr.startswith(said)


def test_a_bare_syndicate_prints_its_help_on_stderr_and_exits_2():
    result = invoke([])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("usage: syndicate [-h]") and "\n  status " in result.stderr


def test_version_and_help():
    from importlib.metadata import version

    result = invoke(["--version"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"syndicate, version {version('syndicate')}\n", "")
    top = invoke(["-h"])
    assert top.exit_code == 0 and top.stderr == "" and top.stdout.startswith("usage: syndicate [-h] [-c PATH]")
    assert "$SYNDICATE_CONFIG" in top.stdout and "{text,json}" in top.stdout
    for name in ("run", "check-config", "status", "repost", "copy-state"):
        assert f"\n  {name} " in top.stdout  # every command listed, with its first sentence
    assert "  retry         Re-queue failed deliveries (of REF, or all).\n" in top.stdout
    sub = invoke(["status", "-h"])
    assert sub.exit_code == 0 and sub.stdout.startswith("usage: syndicate status [-h] [--json] [-n INTEGER]")
    assert "Recent articles and where each was posted" in sub.stdout and "[default: 20]" in sub.stdout
    assert invoke(["repost", "--help"]).stdout.startswith(
        "usage: syndicate repost [-h] [-t TEXT] [--text TEXT] [--by TEXT] [--force]")


def test_syndicate_config_is_the_default_of_config(env):
    run, tmp_path, *_ = env
    path = str(tmp_path / "feeds.yaml")
    by_env = invoke(["status"], env={"SYNDICATE_CONFIG": path})
    assert by_env.exit_code == 0 and "no articles recorded yet" in by_env.output
    other = tmp_path / "other.yaml"
    other.write_text("feeds: []\n")
    by_flag = invoke(["-c", str(other), "status"], env={"SYNDICATE_CONFIG": path})  # --config wins
    assert by_flag.exit_code == 2 and by_flag.stderr.startswith(f"syndicate: {other}:1: feeds:")
    nowhere = invoke(["status"], env={"SYNDICATE_CONFIG": str(tmp_path / "missing.yaml")})
    assert nowhere.exit_code == 2 and "missing.yaml" in nowhere.stderr


def test_options_and_refs_intermixed_as_click_took_them(env):
    run, tmp_path, *_ = env
    seeded(run, tmp_path).close()
    result = run("repost", "1", "--target", "mastodon", "2", "--by", "sam", "--json")
    assert result.exit_code == 0, result.output
    assert [a["ref"] for a in json.loads(result.stdout)] == ["1", "2"]
    assert result.stderr == "queueing\n"  # click's progress bar off a terminal: its label, once
    assert run("repost", "3", "--target", "mastodon").stderr == ""  # one REF: no bar


def test_delete_asks_again_on_a_wrong_answer_and_aborts_at_the_end_of_input(env):
    run, tmp_path, *_ = env
    seeded(run, tmp_path).close()
    asked = invoke(["--config", str(tmp_path / "feeds.yaml"), "delete", "1"], input="maybe\nno\n")
    assert asked.exit_code == 0
    assert asked.stdout.count("Delete these posts? [y/N]: ") == 2 and "Error: invalid input" in asked.stdout
    assert asked.stdout.endswith("nothing deleted\n")
    ended = invoke(["--config", str(tmp_path / "feeds.yaml"), "delete", "1"], input="")
    assert ended.exit_code == 1 and ended.stderr.endswith("Aborted!\n")


def test_a_closed_stdout_exits_1_quietly(env):
    """``syndicate status | head -1`` where head has gone: exit status 1, no traceback (as click did)."""
    run, tmp_path, *_ = env
    read, write = os.pipe()
    os.close(read)  # nobody reads: the first write fails (EPIPE)
    try:
        done = subprocess.run([sys.executable, "-m", "syndicate", "--config", str(tmp_path / "feeds.yaml"),
                               "status", "--json"], stdout=write, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (1, "")
