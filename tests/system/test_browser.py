"""The editors' page in a real headless Chromium (Debian's), driven by Playwright.

Sign in with the token, see the articles, preview a post, press Repost and
see the post land on the loopback Mastodon server; press Retry on a failed
delivery.  ``make browser`` (a dependency of ``make test``) installs
``/usr/bin/chromium``; without it these tests fail rather than skip, since a
skipped browser test proves nothing.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

import pytest

from syndicate.app import App
from syndicate.config import Secret, parse_config
from syndicate.models import Article
from syndicate.targets.mastodon import MastodonAdapter
from syndicate.web import create_app, serve
from tests.servers.mastodon import Fault, MastodonServer

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
TOKEN = "editors-token-for-the-browser-test"
MASTODON_TOKEN = "mastodon-token-for-the-browser-test"

CONFIG = """
state: {tmp}/state.db
feeds:
  - name: acr
    url: https://example.org/feed.xml
targets:
  mastodon:
    kind: mastodon
    instance: {instance}
output:
  dir: {tmp}/public
"""


def art(n: int, title: str) -> Article:
    return Article(feed="acr", id=f"guid-{n}", link=f"https://example.org/articles/{n}/", title=title,
                   published=datetime(2024, 3, n, 8, tzinfo=UTC), fingerprint=f"h{n}",
                   standfirst=f"What article {n} is about.", content_html=f"<p>Body {n}.</p>")


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def mastodon():
    with MastodonServer(token=MASTODON_TOKEN) as server:
        yield server
        assert server.errors == []


@pytest.fixture
def site(tmp_path, mastodon):
    config = parse_config(CONFIG.format(tmp=tmp_path, instance=mastodon.url), environ={})
    adapter = MastodonAdapter("mastodon", config.targets["mastodon"], Secret(MASTODON_TOKEN, "test"))
    app = App(config, targets={"mastodon": adapter})
    handle = serve(create_app(app, api_token=TOKEN), "127.0.0.1", 0)
    yield app, handle
    handle.stop()
    app.close()


@pytest.fixture
def page(browser, site):
    _app, handle = site
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "409 (Conflict)" not in msg.text else None)  # 409: expected
    page.goto(handle.url + "/")
    yield page
    context.close()
    assert errors == [], errors  # no script error, no CSP violation


def sign_in(page) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_role("table")).to_have_count(0)  # nothing before the token
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("table")).to_be_visible()


def test_repost_from_the_page_lands_on_mastodon(site, page, mastodon):
    from playwright.sync_api import expect

    app, _handle = site
    app.store.ingest("acr", new=[art(1, "Open communism"), art(2, "Another piece")], updated=[],
                     queue={})
    article_id = app.store.find_article_id("guid-1")
    page.reload()
    sign_in(page)
    row = page.locator(f"tr[data-article='{article_id}']")
    expect(row.get_by_role("link", name="Open communism")).to_have_attribute(
        "href", "https://example.org/articles/1/")
    expect(row.locator("td.date")).to_contain_text("2024-03-01")
    expect(row).to_contain_text("seen only, not queued")
    # The page's own stylesheet and script, files under /static/, are let in by the strict CSP.
    assert page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor") == \
        "rgb(36, 41, 47)"

    # The preview shows what would be posted.
    preview = row.locator("details.preview")
    expect(preview.locator("pre")).to_be_hidden()
    preview.locator("summary").click()
    expect(preview.locator("pre")).to_contain_text("https://example.org/articles/1/")
    expect(preview).to_contain_text("mastodon")

    row.get_by_label(f"Intro line for article {article_id}").fill("Worth reading again")
    page.get_by_label("Your name").fill("Editor Ed")
    row.get_by_role("button", name="Repost").click()
    expect(row.locator("output")).to_have_text("Queued for mastodon.")
    [queued] = app.store.deliveries(article_id)
    assert (queued.state, queued.requested_by) == ("pending", "Editor Ed")

    # One delivery pass: the daemon's work.
    [result] = app.deliverer.deliver_due()
    assert result.outcome == "sent", result
    [status] = mastodon.statuses
    assert "https://example.org/articles/1/" in status["text"]
    assert status["text"].startswith("Worth reading again")

    page.reload()
    row = page.locator(f"tr[data-article='{article_id}']")
    expect(row.locator("a.post")).to_have_attribute("href", status["url"])
    expect(row.locator("li.delivery")).to_contain_text("sent")
    expect(row.locator("li.delivery")).to_contain_text("requested by Editor Ed")
    history = row.locator("details.history")
    history.locator("summary").click()
    expect(history.locator("li").last).to_contain_text(f"sent: {status['url']}")

    # A second repost asks first, showing where it was posted; dismissing it queues nothing.
    messages: list[str] = []

    def answer(accept: bool):
        def on_dialog(dialog):
            messages.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()
        return on_dialog

    page.once("dialog", answer(False))
    row.get_by_role("button", name="Repost").click()
    expect(row.locator("output")).to_have_text("Not reposted.")
    assert status["url"] in messages[0]
    assert len(app.store.deliveries(article_id)) == 1

    page.once("dialog", answer(True))
    row.get_by_role("button", name="Repost").click()
    expect(row.locator("output")).to_have_text("Queued for mastodon.")
    assert [r.outcome for r in app.deliverer.deliver_due()] == ["sent"]
    assert len(mastodon.statuses) == 2
    page.reload()
    expect(page.locator(f"tr[data-article='{article_id}'] a.post")).to_have_count(2)


def test_retry_from_the_page_after_a_failure(site, page, mastodon):
    from playwright.sync_api import expect

    app, _handle = site
    app.store.ingest("acr", new=[art(3, "Failed once")], updated=[], queue={"guid-3": ["mastodon"]})
    article_id = app.store.find_article_id("guid-3")
    mastodon.queue_faults(Fault(status=422, method="POST", path="/api/v1/statuses",
                                body={"error": "Validation failed: Text is rejected"}))
    assert [r.outcome for r in app.deliverer.deliver_due()] == ["failed"]

    sign_in(page)
    row = page.locator(f"tr[data-article='{article_id}']")
    expect(row.locator("li.delivery")).to_contain_text("failed")
    expect(row.locator(".error")).to_contain_text(re.compile("Text is rejected"))
    row.get_by_role("button", name="Retry").click()
    expect(row.locator("output")).to_have_text("Re-queued 1 failed delivery.")

    assert [r.outcome for r in app.deliverer.deliver_due()] == ["sent"]
    [status] = mastodon.statuses
    page.reload()
    row = page.locator(f"tr[data-article='{article_id}']")
    expect(row.locator("a.post")).to_have_attribute("href", status["url"])
    expect(row.get_by_role("button", name="Retry")).to_be_disabled()
