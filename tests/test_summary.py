"""summary: sanitising, plain text, standfirst rules and repost credits."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndicate.models import Source
from syndicate.summary import (
    find_original,
    html_to_text,
    parse_date,
    sanitise_html,
    summarise,
)

TAG = re.compile(r"<\s*/?\s*[A-Za-z!?][^<>]*>")


def day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


# --- html_to_text ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("Labour&#8217;s &#8216;growth&#8217; agenda &amp; the climate",
         "Labour’s ‘growth’ agenda & the climate"),
        ("<p>One</p><p>two</p>", "One two"),
        ("a<br>b", "a b"),
        ("<b>bold</b>text", "boldtext"),
        ("  lots \n of\t\xa0 space  ", "lots of space"),
        ("<script>alert(1)</script><style>p{}</style>kept", "kept"),
        ("5 &lt; 6 and 7 > 3", "5 < 6 and 7 > 3"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;", "alert(1)"),  # decoded tags never survive
        ("", ""),
        ("<!-- only a comment -->", ""),
        ("</body>after the body", "after the body"),
        ("plain", "plain"),
    ],
)
def test_html_to_text(html, text):
    assert html_to_text(html) == text


# --- sanitise_html ---------------------------------------------------------------


def test_sanitiser_drops_active_content():
    html = sanitise_html(
        '<p onclick="steal()" style="color:red" class="x">Hi <a href="javascript:alert(1)">there</a>'
        ' <a href="JaVa&#x09;Script:alert(2)">again</a></p>'
        "<script>alert(3)</script><style>p{}</style><iframe src='https://evil.example/'></iframe>"
        "<form action='/x'><input name=a></form><object data='x.swf'></object><embed src='x.swf'>"
        '<img src="data:image/png;base64,AAAA" alt="inline">'
    )
    assert html == "<p>Hi <a>there</a> <a>again</a></p>"


def test_sanitiser_drops_tracking_images_and_share_blocks():
    html = sanitise_html(
        "<p>Text</p>"
        '<img src="https://pixel.wp.com/b.gif?host=x&amp;blog=1" width="1" height="1" alt="">'
        '<img src="https://cdn.example/one.gif" width="1" height="1">'
        '<img src="https://cdn.example/hidden.png" style="display:none">'
        '<a href="https://feeds.feedburner.com/~ff/acr?a=1"><img src="https://feeds.feedburner.com/~ff/acr?d=2"></a>'
        '<img src="https://stats.wordpress.com/g.gif?v=1">'
        '<div class="sharedaddy sd-sharing-enabled"><h3>Share this:</h3><a href="?share=twitter">Twitter</a></div>'
        '<div id="jp-relatedposts"><h3>Related</h3></div>'
        '<p>The post <a href="https://a.example/p">P</a> appeared first on <a href="https://a.example">A</a>.</p>'
        '<img src="https://cdn.example/photo.jpg" width="800" height="600" alt="A photo">'
    )
    assert html == '<p>Text</p><img src="https://cdn.example/photo.jpg" width="800" height="600" alt="A photo">'


def test_sanitiser_unwraps_tracking_redirect_links_but_keeps_their_words():
    html = sanitise_html('<p><a href="http://feedproxy.google.com/~r/acr/~3/abc/">Read the article</a></p>')
    assert html == "<p>Read the article</p>"


def test_sanitiser_makes_links_absolute_and_keeps_safe_ones():
    html = sanitise_html(
        '<p><a href="/about/">About</a> <a href="other.html#x">Other</a> '
        '<a href="mailto:editorial@example.org">Mail</a> <img src="//cdn.example/i.png" alt="i"></p>',
        base_url="https://acr.example/2023/03/post/",
    )
    assert 'href="https://acr.example/about/"' in html
    assert 'href="https://acr.example/2023/03/post/other.html#x"' in html
    assert 'href="mailto:editorial@example.org"' in html
    assert 'src="https://cdn.example/i.png"' in html


def test_lazy_loaded_images_keep_their_real_source():
    html = sanitise_html('<img src="data:image/gif;base64,R0lGOD" data-src="/a.jpg" alt="A">'
                         '<img srcset="/b-300.jpg 300w, /b-1024.jpg 1024w" alt="B">',
                         base_url="https://acr.example/")
    assert html == ('<img src="https://acr.example/a.jpg" alt="A"><img srcset="https://acr.example/b-300.jpg 300w, '
                    'https://acr.example/b-1024.jpg 1024w" alt="B" src="https://acr.example/b-300.jpg">')


def test_srcset_is_kept_absolute_and_safe():
    html = sanitise_html('<img src="a.jpg" srcset="a-300.jpg 300w, /i.php?s=300,200 1024w, '
                         'javascript:alert(1) 2x, https://pixel.wp.com/g.gif 3x" sizes="100vw" alt="A">',
                         base_url="https://acr.example/2022/post/")
    assert html == ('<img src="https://acr.example/2022/post/a.jpg" srcset="https://acr.example/2022/post/a-300.jpg '
                    '300w, https://acr.example/i.php?s=300,200 1024w" sizes="100vw" alt="A">')


def test_summary_keeps_each_images_alt_text():
    s = summarise('<p><img src="/a.jpg" alt=" The  march "><img src="/b.jpg"></p><p>Text.</p>',
                  base_url="https://acr.example/")
    assert s.image == "https://acr.example/a.jpg"
    assert s.image_alts == {"https://acr.example/a.jpg": "The march"}


def test_sanitiser_unwraps_unknown_elements_and_drops_empty_ones():
    html = sanitise_html("<p><font color=red>red</font> <custom-el>text</custom-el></p><p>&nbsp;</p><p></p>")
    assert html == "<p>red text</p>"


# --- dates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["13 October 2022", "13 Oct 2022", "13th October 2022", "13 Oct. 2022", "October 13, 2022",
     "Oct 13 2022", "2022-10-13", "Thursday 13 October 2022", "the 13th of October 2022"],
)
def test_parse_date_forms(text):
    assert parse_date(f"Published {text}.") == day(2022, 10, 13)


@pytest.mark.parametrize("text", ["31 February 2022", "October 2022", "2022", "13/10/2022", "no date"])
def test_parse_date_rejects(text):
    assert parse_date(text) is None


# --- repost credits ----------------------------------------------------------------

CREDITS = [
    ('<p><em>This article was first published in <a href="https://www.redpepper.org.uk/x/">Red Pepper</a>'
     " on 3 March 2023.</em></p><p>Body.</p>",
     Source("Red Pepper", "https://www.redpepper.org.uk/x/", day(2023, 3, 3))),
    ("<p>First published by Jacobin on March 3, 2023.</p>", Source("Jacobin", None, day(2023, 3, 3))),
    ('<p>Body text. <i>Originally published at <a href="https://www.opendemocracy.net/en/x/">'
     "openDemocracy</a>.</i></p>",
     Source("openDemocracy", "https://www.opendemocracy.net/en/x/", None)),
    ("<p>Originally published in International Viewpoint on 2022-10-13.</p>",
     Source("International Viewpoint", None, day(2022, 10, 13))),
    ("<p>Originally published on 13 Oct 2022 at https://iv.example/article/1.</p>",
     Source(None, "https://iv.example/article/1", day(2022, 10, 13))),
    ("<p>This article was first published by New Politics.</p>", Source("New Politics", None, None)),
    ('<p>This article was first published <a href="https://ex.org/a">here</a>.</p>',
     Source(None, "https://ex.org/a", None)),
    ("<p>This article first appeared in the Morning Star on 13th October 2022 and is reproduced with "
     "permission.</p>", Source("the Morning Star", None, day(2022, 10, 13))),
    ("<p>An earlier version of this article was first published in Socialist Resistance, 13 Oct 2022.</p>",
     Source("Socialist Resistance", None, day(2022, 10, 13))),
    ('<p><i>Republished from <a href="https://theconversation.com/x">The Conversation</a> under a '
     "Creative Commons licence.</i></p>", Source("The Conversation", "https://theconversation.com/x", None)),
    ("<p>Wednesday 19 October 2022, by PARKER Ian (Date first published: 13 October 2022).</p>",
     Source(None, None, day(2022, 10, 13))),
    ('<ul><li>Anti*Capitalist Resistance. 13 Oct 2022:<br><a href="https://acr.example/p/">'
     "https://acr.example/p/</a></li></ul>",
     Source("Anti*Capitalist Resistance", "https://acr.example/p/", day(2022, 10, 13))),
]


@pytest.mark.parametrize(("html", "expected"), CREDITS)
def test_repost_credit_forms(html, expected):
    assert find_original(html) == expected


NOT_CREDITS = [
    "The Communist Manifesto was first published in London in February 1848.",
    "This report, first published by the ONS on 3 March 2023, shows that wages have fallen.",
    "Marx first published Capital in 1867.",
    "It was first published in 1867 by Otto Meissner.",
    "First published in 1867 by Otto Meissner.",
    "First published in 1867, Capital remains the key text.",
    "Our first published pamphlet sold out.",
    "Originally published at the time, it was ignored.",
    "This book was first published in 1999 by Verso.",
    "Marx. 13 Oct 2022: a date after a sentence.",
    "We met on 13 October 2022. The book was published on 1 November 2022 by Resistance Books.",
    "The union said the figures first appeared in the press.",
]


@pytest.mark.parametrize("text", NOT_CREDITS)
def test_no_false_positive_on_ordinary_text(text):
    assert find_original(f"<p>{text}</p>") is None
    assert summarise(f"<p>{text}</p>").source is None


def test_dc_source_and_atom_source_fill_in():
    assert find_original("<p>Text.</p>", dc_source="https://orig.example/a") == Source(
        None, "https://orig.example/a", None)
    assert find_original("<p>Text.</p>", dc_source="Red Pepper") == Source("Red Pepper", None, None)
    assert find_original("<p>Text.</p>", dc_source="https://orig.example/a",
                         source_title="Orig") == Source("Orig", "https://orig.example/a", None)
    # a text credit wins; metadata fills in what it did not say
    assert find_original("<p>First published by Jacobin on 3 March 2023.</p>",
                         dc_source="https://jacobin.example/x") == Source(
        "Jacobin", "https://jacobin.example/x", day(2023, 3, 3))


def test_mirror_credit_and_ps_line_merge():
    html = (
        '<p>Wednesday 19 October 2022, by <a href="spip.php?auteur1">PARKER Ian</a> '
        "(Date first published: 13 October 2022).</p>"
        "<p><strong>Ian Parker describes the stakes of the difference between two approaches.</strong></p>"
        "<p>Body of the article, long enough to be a paragraph of its own.</p>"
        "<p><strong>P.S.</strong></p>"
        '<ul><li>Anti*Capitalist Resistance. 13 Oct 2022:<br><a href="https://acr.example/p/">'
        "https://acr.example/p/</a></li><li>We at the Anti*Capitalist Resistance wish to hear your views.</li></ul>"
    )
    s = summarise(html, base_url="https://mirror.example/")
    assert s.source == Source("Anti*Capitalist Resistance", "https://acr.example/p/", day(2022, 10, 13))
    assert s.standfirst == "Ian Parker describes the stakes of the difference between two approaches."


# --- standfirst rules ------------------------------------------------------------

WP_FOOTER = ('<p>The post <a href="https://acr.example/p/">A title</a> appeared first on '
             '<a href="https://acr.example">Anti*Capitalist Resistance</a>.</p>')


def test_standfirst_is_the_bold_lead():
    s = summarise(
        "<p><strong>Ian Parker describes the stakes of the difference between two approaches.</strong></p>"
        "<p>This little book is about a false alternative to capitalism.</p>",
        "<p>An excerpt [&#8230;]</p>" + WP_FOOTER,
    )
    assert s.standfirst == "Ian Parker describes the stakes of the difference between two approaches."


def test_a_short_bold_line_is_not_a_lead():
    s = summarise("<p><b>Editorial</b></p><p>The first real paragraph of the article.</p>")
    assert s.standfirst == "The first real paragraph of the article."


def test_bold_text_after_the_body_started_is_not_a_lead():
    body = "<p>" + "A long opening paragraph that is not bold at all. " * 6 + "</p>"
    s = summarise(body + "<p><strong>A bold paragraph in the middle of the article text.</strong></p>")
    assert s.standfirst.startswith("A long opening paragraph")


def test_standfirst_from_description_without_wordpress_footer():
    s = summarise(
        "<p>The article itself starts here, with no bold lead.</p>",
        "<p>Anti*Capitalist Resistance sends its solidarity to the uprising.</p>" + WP_FOOTER,
    )
    assert s.standfirst == "Anti*Capitalist Resistance sends its solidarity to the uprising."


@pytest.mark.parametrize(
    ("description", "standfirst"),
    [
        ("<p>One whole sentence here. And a cut-off second one that goes [&#8230;]</p>",
         "One whole sentence here."),
        ("<p>Nothing but a fragment that was cut [&#8230;]</p>", "Nothing but a fragment that was cut…"),
        ('<p>Starmer promises growth. Continue reading <span class="meta-nav">&#8594;</span></p>',
         "Starmer promises growth."),
        ("<p>This article was first published in Red Pepper on 3 March 2023. Rents are rising. "
         "Across Britain, rents rose by [&#8230;]</p>", "Rents are rising."),
    ],
)
def test_description_trimmed(description, standfirst):
    assert summarise("<p>Body.</p>", description + WP_FOOTER).standfirst == standfirst


def test_standfirst_falls_back_to_first_paragraph():
    s = summarise(
        '<figure><img src="https://x.example/a.jpg"></figure><h2>A heading</h2>'
        "<p>The first paragraph.</p><p>The second.</p>"
    )
    assert s.standfirst == "The first paragraph."
    assert s.image == "https://x.example/a.jpg"


def test_standfirst_skips_credit_paragraph():
    s = summarise("<p><em>This article was first published by New Politics.</em></p><p>The lead.</p>")
    assert s.standfirst == "The lead."
    assert s.source == Source("New Politics", None, None)


def test_summary_content_is_sanitised_and_image_is_first_real_image():
    s = summarise(
        '<p>Text <script>x()</script></p><img src="https://pixel.wp.com/b.gif" width="1" height="1">'
        '<img src="/wp-content/uploads/a.jpg" alt="A">',
        base_url="https://acr.example/post/",
    )
    assert "script" not in s.content_html and "pixel" not in s.content_html
    assert s.image == "https://acr.example/wp-content/uploads/a.jpg"


# --- properties --------------------------------------------------------------------

html_ish = st.lists(
    st.one_of(
        st.text(max_size=30),
        st.sampled_from([
            "<p>", "</p>", "<b>", "</b>", "<strong>", "<a href='javascript:x'>", "<a href=/x>", "</a>",
            "<br>", "<script>", "</script>", "<style>", "&lt;b&gt;", "&amp;", "&#8217;", "&#0;", "<!--",
            "-->", "<![CDATA[", "]]>", "<img src=x onerror=alert(1)>", "<?xml version='1.0'?>", "</body>",
            "<html>", "<", ">", "&", "First published in X on 3 March 2023.", "(Date first published: ",
            "13 October 2022)", "\x00", "\ud800", "<p><strong>", "</strong></p>", "The post ",
            " appeared first on ", "[&#8230;]", "<li>", "A. 13 Oct 2022: https://e.x/",
        ]),
    ),
    max_size=25,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(html_ish, html_ish)
def test_summarise_never_raises_and_never_leaks_tags(content, description):
    s = summarise(content, description, base_url="https://example.org/a/")
    assert not TAG.search(s.standfirst)
    assert "<" not in s.standfirst or not TAG.search(s.standfirst)
    assert "javascript:" not in s.content_html.lower()
    assert "<script" not in s.content_html.lower()
    assert s.source is None or isinstance(s.source, Source)


@settings(max_examples=300, deadline=None)
@given(html_ish)
def test_html_to_text_never_raises_and_never_leaks_tags(html):
    text = html_to_text(html)
    assert not TAG.search(text)
    assert text == text.strip() and "  " not in text and "\n" not in text
