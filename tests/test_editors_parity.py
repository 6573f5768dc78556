"""Issue 13, item 1: the CLI and the API are two faces of one editors' service.

The same requests — repost (queued, needs force, forced, an old article only its own page
has), retry, release, status, show/detail, preview — through ``syndicate … --json`` (tests.cli_runner,
in process) and through the real listener (uvicorn on loopback, httpx) give the same
answers.  Mutations run on two copies of one seeded state (one per face); reads run on one
state through both faces.
"""

from __future__ import annotations

import json
import shutil

import httpx
import pytest

from syndicate.app import App
from syndicate.config import load_config
from syndicate.store import Store
from syndicate.web import create_app, serve
from tests.cli_runner import invoke
from tests.fakes import mastodon, write_feeds_yaml
from tests.servers.mastodon import Fault, MastodonServer
from tests.test_cli import PAGE

TOKEN = "parity-mastodon-token"
API_TOKEN = "parity-editors-token-0123456789"
LINK = "https://anticapitalistresistance.org/stalinist-realism-and-open-communism-2/"


@pytest.fixture
def states(tmp_path, feed_server, acr_rss):
    """Two copies of one state: article 1 sent to mastodon, article 2 failed there; the daemon
    (``run --once``) can post to mastodon, not to bluesky.  Yields {face: (cli runner, config path)}
    the URL of an old article's page, and the numbers of the posted and the failed article."""
    feed_server.set_feed("/feed/", acr_rss)
    feed_server.set_feed("/old-piece/", PAGE, content_type="text/html; charset=utf-8")
    server = MastodonServer(token=TOKEN).start()
    env = {"SYNDICATE_MASTODON_TOKEN": TOKEN}

    def config_for(name: str):
        return write_feeds_yaml(
            tmp_path, {"acr": feed_server.url("/feed/")}, path=tmp_path / f"{name}.yaml",
            state=tmp_path / f"{name}.db", output={"dir": tmp_path / f"public-{name}"},
            targets={"mastodon": mastodon(server.url),
                     "bluesky": {"kind": "bluesky", "handle": "acrbot.test", "password_env": "PARITY_NO_BSKY"}},
            security={"allow_private_addresses": True, "allowed_ports": "any"})

    def cli(path):
        def run(*args: str):
            return invoke(["--config", str(path), *args], env=env)
        return run

    seed = cli(config_for("cli"))
    assert seed("run", "--once").exit_code == 0
    store = Store(tmp_path / "cli.db")
    one = store.find_article_id(LINK)
    two = 1 if one != 1 else 2
    assert seed("repost", str(one), "--target", "mastodon", "--by", "seed").exit_code == 0
    assert seed("run", "--once").exit_code == 0
    assert seed("repost", str(two), "--target", "mastodon", "--by", "seed").exit_code == 0
    server.queue_faults(Fault(status=422, method="POST", path="/api/v1/statuses",
                              body={"error": "Validation failed: Text is rejected"}))
    assert seed("run", "--once").exit_code == 0
    assert [d.state for d in store.deliveries(one)] == ["sent"]
    assert [d.state for d in store.deliveries(two)] == ["failed"]
    store.close()
    for extra in ("", "-wal", "-shm"):
        if (tmp_path / f"cli.db{extra}").exists():
            shutil.copy(tmp_path / f"cli.db{extra}", tmp_path / f"api.db{extra}")
    yield {"cli": (cli(tmp_path / "cli.yaml"), tmp_path / "cli.yaml"),
           "api": (cli(config_for("api")), tmp_path / "api.yaml"),
           "page": feed_server.url("/old-piece/"), "posted": one, "failed": two}
    server.close()


@pytest.fixture
def listener():
    """``listener(config path)``: an httpx client of the real listener over that state."""
    opened = []

    def start(path):
        app = App(load_config(str(path)), targets={})
        handle = serve(create_app(app, api_token=API_TOKEN), "127.0.0.1", 0)
        client = httpx.Client(base_url=handle.url, timeout=30,
                              headers={"Authorization": f"Bearer {API_TOKEN}"})
        opened.append((client, handle, app))
        return client

    yield start
    for client, handle, app in opened:
        client.close()
        handle.stop()
        app.close()


def cli_json(result, status: int = 0):
    assert result.exit_code == status, result.output
    return json.loads(result.stdout)


def same_refusal(cli_answer: dict, api_answer: dict) -> None:
    """A needs-force answer: the same but for how each face says "force"."""
    assert cli_answer.pop("error").replace("use --force", "FORCE") == api_answer.pop("error").replace(
        'send "force": true', "FORCE")
    assert cli_answer == api_answer


def test_repost_retry_and_release_answer_the_same_through_the_cli_and_the_api(states, listener):
    cli, _ = states["cli"]
    api = listener(states["api"][1])
    one, two = str(states["posted"]), str(states["failed"])

    # already posted: refused by both, naming where
    [by_cli] = cli_json(cli("repost", one, "--by", "sam", "--json"), 1)
    by_api = api.post("/api/repost", json={"ref": one, "by": "sam"})
    assert by_api.status_code == 409
    assert by_cli.pop("ref") == one
    assert "already posted (mastodon http" in by_cli["error"]
    same_refusal(by_cli, by_api.json())
    assert api.post(f"/api/articles/{one}/repost", json={"by": "sam"}).json() == by_api.json()

    # forced: queued for mastodon only, bluesky said to lack what the daemon needs
    [by_cli] = cli_json(cli("repost", LINK, "--by", "sam", "--text", "From the archive:", "--force",
                            "--json"))
    by_api = api.post("/api/repost", json={"ref": LINK, "by": "sam", "text": "From the archive:",
                                           "force": True})
    assert by_api.status_code == 202
    assert by_cli.pop("ref") == LINK
    assert by_cli == by_api.json() == {
        "article": int(one), "queued": ["mastodon"], "requested_by": "sam", "intro": "From the archive:",
        "not_queued": [{"target": "bluesky", "reason": by_cli["not_queued"][0]["reason"]}]}
    assert "PARITY_NO_BSKY" in by_cli["not_queued"][0]["reason"]

    # queued already (pending): refused again, without force
    [by_cli] = cli_json(cli("repost", one, "--target", "mastodon", "--json"), 1)
    by_api = api.post(f"/api/articles/{one}/repost", json={"targets": ["mastodon"]})
    assert by_api.status_code == 409
    by_cli.pop("ref")
    same_refusal(by_cli, by_api.json())

    # an old article no feed carries: both read its page, record it as the same next number, queue it
    page = states["page"]
    [by_cli] = cli_json(cli("repost", page, "--target", "mastodon", "--by", "sam", "--json"))
    by_api = api.post("/api/repost", json={"ref": page, "targets": ["mastodon"], "by": "sam"})
    assert by_api.status_code == 202, by_api.text
    by_cli.pop("ref")
    assert by_cli == by_api.json() and by_cli["article"] == 6

    # retry and release
    assert cli_json(cli("retry", two, "--json")) == api.post("/api/retry", json={"ref": two}).json() == {
        "article": int(two), "requeued": 1}
    assert api.post(f"/api/articles/{two}/retry").json() == {"article": int(two), "requeued": 0}
    assert cli_json(cli("retry", "--json")) == api.post("/api/retry").json() == {"article": None, "requeued": 0}
    [by_cli] = cli_json(cli("release", "acr", "--json"))
    by_cli.pop("ref")
    assert by_cli == api.post("/api/release", json={"ref": "acr"}).json() == {
        "feed": "acr", "article": None, "released": 0}

    # unknown things are refused alike
    [missing] = cli_json(cli("repost", "no-such-guid", "--json"), 1)
    r = api.post("/api/repost", json={"ref": "no-such-guid"})
    assert r.status_code == 404 and r.json()["error"] == missing["error"]
    r = api.post("/api/release", json={"ref": "nope"})
    assert r.status_code == 404
    assert r.json()["error"].replace("api.yaml", "cli.yaml") == cli_json(cli("release", "nope", "--json"),
                                                                         1)[0]["error"]


def test_status_show_and_preview_read_the_same_through_the_cli_and_the_api(states, listener):
    cli, path = states["cli"]
    api = listener(path)
    assert cli("repost", "3", "--by", "sam").exit_code == 0  # something pending, with history
    by_api = api.get("/api/status", params={"limit": 50})
    assert by_api.status_code == 200
    assert cli_json(cli("status", "--json", "-n", "50")) == by_api.json()
    targets = {t["name"]: t for t in by_api.json()["targets"]}
    assert set(targets) == {"bluesky", "mastodon"} and not targets["mastodon"]["paused"]

    one = states["posted"]
    assert cli_json(cli("show", str(one), "--json")) == api.get(f"/api/articles/{one}").json()
    assert cli_json(cli("preview", LINK, "--json")) == api.get("/api/preview", params={"ref": LINK}).json()
    shown = api.get("/api/preview", params={"ref": LINK, "target": "mastodon", "text": "Again:"}).json()
    assert set(shown["preview"]) == {"mastodon"} and shown["preview"]["mastodon"]["text"].startswith("Again:")
    assert shown == cli_json(cli("preview", LINK, "-t", "mastodon", "--text", "Again:", "--json"))
