"""Content warnings by category and image alt text (issue 16, item 8), as each platform drafts them.

Mastodon: the article's warning is the ``spoiler_text``, counted with the text (the budget is
its, in place of the target's ``content_warning``).  Bluesky: a self-label where the warning
is one (``graphic-media``, …), else a warning line opening the text, its room taken from the
standfirst, every facet moved with it.  Delivered through real Mastodon.py to the loopback
server and to the real PDS in ``test_target_mastodon`` and ``test_target_bluesky``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from syndicate.config import BlueskyTarget, MastodonTarget
from syndicate.content_warnings import alt_text, warning_for
from syndicate.models import Article
from syndicate.targets import draft_post
from syndicate.targets.bluesky_post import short_url
from syndicate.textlen import count_graphemes

LINK = "https://anticapitalistresistance.org/2026/11/the-long-read-on-the-strike-wave-and-what-comes-next/"


def article(**kw) -> Article:
    base = dict(feed="acr", id="g1", link=LINK, title="The strike wave", published=datetime(2026, 11, 1, tzinfo=UTC),
                categories=("Labour", "Violence"), standfirst="Pickets, police and the courts. " * 30)
    return Article(**(base | kw))


MASTODON = MastodonTarget(kind="mastodon", instance="https://m.example", content_warning="Politics",
                          content_warnings={"violence": "Police violence"})
BLUESKY_LINE = BlueskyTarget(kind="bluesky", handle="a.test", content_warnings={"Violence": "Police violence"})
BLUESKY_LABEL = BlueskyTarget(kind="bluesky", handle="a.test", content_warnings={"Violence": "graphic-media"})


def test_the_first_category_the_map_names_gives_the_warning():
    assert warning_for(article(), {"labour": "Strikes", "violence": "Violence"}) == ("Strikes", "Labour")
    assert warning_for(article(categories=("Books",)), {"labour": "Strikes"}) is None


def test_mastodon_spoiler_text_is_counted_with_the_text():
    draft = draft_post(article(), "m", MASTODON)
    assert draft.content_warning == "Police violence"
    assert draft.length + count_graphemes("Police violence") <= 500  # what StatusLengthValidator counts
    assert "content warning 'Police violence' (category 'Violence')" in draft.notes
    plain = draft_post(article(categories=()), "m", MASTODON)
    assert plain.content_warning == "Politics" and plain.length + len("Politics") <= 500


def test_bluesky_self_labels_where_a_label_fits():
    draft = draft_post(article(), "b", BLUESKY_LABEL)
    assert draft.labels == ("graphic-media",) and not draft.text.startswith("CW")
    assert "self-label graphic-media (category 'Violence')" in draft.notes


def test_bluesky_opens_with_a_warning_line_where_none_fits():
    draft = draft_post(article(), "b", BLUESKY_LINE)
    assert draft.text.startswith("CW: Police violence\n\n") and draft.labels == ()
    assert count_graphemes(draft.text) == draft.length <= 300
    link = next(f for f in draft.facets if f.kind == "link")
    assert link.value == LINK  # shown as the app shows it, the facet carrying the whole link
    assert draft.text.encode()[link.byte_start:link.byte_end].decode() == short_url(LINK)


@settings(max_examples=60, deadline=None)
@given(standfirst=st.text(min_size=0, max_size=600), warning=st.text(min_size=1, max_size=40).filter(str.strip))
def test_a_warning_line_never_breaks_the_limits_nor_a_facet(standfirst, warning):
    cfg = BlueskyTarget(kind="bluesky", handle="a.test", content_warnings={"Violence": warning})
    draft = draft_post(article(standfirst=standfirst), "b", cfg)
    data = draft.text.encode()
    assert count_graphemes(draft.text) <= 300 and len(data) <= 3000
    for facet in draft.facets:
        span = data[facet.byte_start:facet.byte_end].decode()
        assert span in ((facet.value, short_url(facet.value)) if facet.kind == "link" else (f"#{facet.value}",))


def test_alt_text_is_the_feeds_description_else_the_card_title():
    assert alt_text(article(image_alt="Pickets at dawn"), "The strike wave") == (
        "Pickets at dawn", "the feed's image description")
    assert alt_text(article(), "The strike wave") == ("The strike wave", "the card title")
    thumb = MastodonTarget(kind="mastodon", instance="https://m.example", thumbnail=True)
    draft = draft_post(article(image="https://e.org/i.jpg", image_alt="Pickets at dawn"), "m", thumb)
    assert draft.image_alt == "Pickets at dawn"
    assert draft.notes[-1] == ("thumbnail https://e.org/i.jpg with alt text from the feed's image "
                               "description: 'Pickets at dawn'")


def test_previews_say_who_may_reply_and_quote():
    gated = BlueskyTarget(kind="bluesky", handle="a.test", replies=["mentioned", "followers"], quotes=False)
    notes = draft_post(article(), "b", gated).notes
    assert "replies: mentioned, followers (a threadgate, written with the post)" in notes
    assert "quotes: off (a postgate, written with the post)" in notes
    quoting = MastodonTarget(kind="mastodon", instance="https://m.example", quote_policy="followers")
    assert ("quotes: followers (quote_approval_policy, sent if the instance knows it)"
            in draft_post(article(), "m", quoting).notes)
