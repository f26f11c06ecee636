"""Alert, list-entry and digest HTML: escaping, bold spans, and Telegram's length limit."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from bot.i18n import load_i18n, speaking
from bot.render import (
    MESSAGE_LIMIT,
    merge_spans,
    render_alert,
    render_digest,
    render_post_line,
    split_messages,
    utf16_len,
    visible_length,
)
from storage.models import StoredPost, TopicHit

WHEN = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """Rendering outside an update: the language is chosen explicitly, as fan-out does."""
    with speaking(load_i18n(), "en"):
        yield


def post(
    text: str,
    hits: tuple[TopicHit, ...] = (),
    *,
    pid: int = 7,
    handle: str = "news_ch",
    title: str | None = "News & Views",
    date: datetime = WHEN,
) -> StoredPost:
    return StoredPost(
        id=pid,
        channel_handle=handle,
        channel_title=title,
        post_id=pid * 10,
        date=date,
        text=text,
        edit_date=None,
        hits=hits,
    )


def hit(topic: str, text: str, *words: str) -> TopicHit:
    spans = tuple((text.index(word), text.index(word) + len(word)) for word in words)
    return TopicHit(topic=topic, terms=words, spans=spans)


class TagChecker(HTMLParser):
    """Fails on anything Telegram's HTML parser would reject: unknown or unbalanced tags."""

    ALLOWED = frozenset({"b", "i", "a"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in self.ALLOWED, tag
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, tag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_html(message: str) -> str:
    """The visible text, after checking the message is well formed and within the limit."""
    checker = TagChecker()
    checker.feed(message)
    checker.close()
    assert not checker.stack
    # Only the entities Telegram knows may appear.
    for entity in re.findall(r"&[^;\s]*;?", message):
        assert entity in ("&amp;", "&lt;", "&gt;", "&quot;"), entity
    assert utf16_len(message) <= MESSAGE_LIMIT
    assert visible_length(message) <= MESSAGE_LIMIT
    return "".join(checker.text)


def test_alert_has_channel_topics_bold_words_and_link() -> None:
    text = "Central bank raises the key rate; inflation slows."
    message = render_alert(post(text, (hit("Rates", text, "key rate"),)))
    visible = check_html(message)
    assert "News &amp; Views" in message
    assert "Rates" in visible
    assert "<b>key rate</b>" in message
    assert '<a href="https://t.me/news_ch/70">https://t.me/news_ch/70</a>' in message
    assert text in visible


def test_overlapping_spans_from_two_topics_are_merged_into_one_bold_run() -> None:
    text = "the key rate decision"
    hits = (
        TopicHit("Rates", ("key rate",), ((4, 12),)),
        TopicHit("Banks", ("rate decision",), ((8, 21),)),
    )
    message = render_alert(post(text, hits))
    assert "<b>key rate decision</b>" in message
    assert message.count("<b>") == 2  # the channel title and one merged run
    assert "Rates, Banks" in message


def test_merge_spans_clamps_sorts_and_drops_empty() -> None:
    assert merge_spans([(5, 9), (0, 2), (2, 3), (8, 12), (20, 30), (7, 7)], 25) == [
        (0, 3),
        (5, 12),
        (20, 25),
    ]
    assert merge_spans([(30, 40)], 10) == []


def test_html_and_script_in_post_are_shown_as_text() -> None:
    text = '<script>alert("x")</script> & <b>fake</b> <a href="javascript:1">bank</a>'
    message = render_alert(post(text, (hit("Banks", text, "bank"),), title="<i>Evil</i>"))
    visible = check_html(message)
    assert "<script>" not in message
    assert '<script>alert("x")</script> &' in visible
    assert "<i>Evil</i>" in visible
    assert "<b>bank</b>" in message


def test_href_is_escaped_for_an_attribute() -> None:
    message = render_alert(post("x", handle='a"b<c>&d'))
    assert 'href="https://t.me/a&quot;b&lt;c&gt;&amp;d/70"' in message
    check_html(message)


def test_empty_post_says_no_text() -> None:
    for text in ("", "  \n "):
        visible = check_html(render_alert(post(text)))
        assert "(no text)" in visible


def test_emoji_only_post_renders_whole() -> None:
    text = "🔥🔥👨‍👩‍👧🇺🇦"
    visible = check_html(render_alert(post(text)))
    assert text in visible


def test_long_post_is_cut_with_an_ellipsis_within_the_limit() -> None:
    text = ("Inflation & rates <up> " * 500)[:10_000]
    message = render_alert(post(text, (hit("Rates", text, "rates"),)))
    visible = check_html(message)
    assert "…" in visible
    assert "https://t.me/news_ch/70" in visible  # the link survives the cut
    # Every &amp; and &lt; makes the raw HTML longer than the shown text: the raw length is
    # what binds here, and the cut lands near it rather than far off.
    assert utf16_len(message) > MESSAGE_LIMIT - 60


def test_cut_counts_emoji_as_two_units_and_never_splits_one() -> None:
    text = "😀" * 5000  # 10,000 UTF-16 units
    message = render_alert(post(text))
    visible = check_html(message)
    assert visible_length(message) <= MESSAGE_LIMIT
    body = visible.split("\n\n")[1]
    assert body.endswith("😀…")
    assert "\ud83d" not in body  # no lone surrogate half


def test_cut_keeps_zwj_family_and_flags_whole() -> None:
    family = "👨‍👩‍👧"  # three emoji joined by ZWJ
    text = (family + "🇺🇦") * 800
    visible = check_html(render_alert(post(text)))
    body = visible.split("\n\n")[1].removesuffix("…")
    assert body.endswith("🇺🇦") or body.endswith(family)


def test_first_match_deep_in_a_long_post_is_kept_in_view() -> None:
    text = "filler words here. " * 500 + "the key rate moved" + " more" * 100
    message = render_alert(post(text, (hit("Rates", text, "key rate"),)))
    visible = check_html(message)
    assert "<b>key rate</b>" in message
    assert visible.split("\n\n")[1].startswith("…")


def test_long_title_and_many_topics_do_not_push_the_alert_over() -> None:
    hits = tuple(TopicHit(f"topic{i}" * 5, ("x",), ((0, 1),)) for i in range(200))
    message = render_alert(post("x " * 5000, hits, title="T" * 300))
    check_html(message)


@pytest.mark.parametrize("text", ["a&b " * 3000, "<>" * 3000, "&" * 5000])
def test_escape_heavy_posts_stay_within_raw_limit(text: str) -> None:
    message = render_alert(post(text))
    visible = check_html(message)
    assert "…" in visible
    assert not re.search(r"&[a-z]*…", message)  # no entity cut in half


def test_post_line_has_date_channel_snippet_and_link() -> None:
    text = "Long intro. " * 40 + "The key rate rose.\nSecond line."
    line = render_post_line(post(text, (hit("Rates", text, "key rate"),)))
    visible = check_html(line)
    assert visible.startswith("2024-05-01 09:30 · News & Views · 🏷 Rates")
    assert "<b>key rate</b>" in line
    assert "…" in visible
    assert len(visible) < 500
    assert visible.endswith("https://t.me/news_ch/70")
    moscow = render_post_line(post(text), with_topics=False, tz=ZoneInfo("Europe/Moscow"))
    assert check_html(moscow).startswith("2024-05-01 12:30 · News & Views\n")


def test_split_messages_packs_blocks_in_order() -> None:
    blocks = [f"<b>{i}</b> " + "x" * 1000 for i in range(9)]
    messages = split_messages(blocks)
    assert len(messages) == 3
    assert "".join(messages).count("<b>") == 9
    for message in messages:
        check_html(message)
    with pytest.raises(ValueError):
        split_messages(["y" * 5000])


def test_digest_groups_by_topic_newest_first_and_splits() -> None:
    posts = []
    for i in range(60):
        text = f"Story {i}: " + ("rates and banks " * 30)
        topic = "Rates" if i % 2 else "Banks"
        posts.append(
            post(
                text,
                (hit(topic, text, "rates"),),
                pid=i + 1,
                date=WHEN + timedelta(minutes=i),
            )
        )
    messages = render_digest(posts, title="Digest for 1 May")
    assert len(messages) > 1
    visible = [check_html(message) for message in messages]
    assert visible[0].startswith("🗞 Digest for 1 May\n60 new posts")
    everything = "\n".join(visible)
    # Rates first (the newest post is odd), newest first within it.
    assert everything.index("🏷 Rates") < everything.index("🏷 Banks")
    stories = [int(n) for n in re.findall(r"Story (\d+):", everything)]
    assert stories == list(range(59, 0, -2)) + list(range(58, -1, -2))
    assert all(f"https://t.me/news_ch/{(i + 1) * 10}" in everything for i in range(60))
    # A topic that runs into the next message repeats its heading there.
    assert any(v.split("\n")[0].endswith("(continued)") for v in visible[1:])


def test_digest_lists_a_post_once_naming_its_other_topics() -> None:
    text = "rates and banks"
    both = post(text, (hit("Rates", text, "rates"), hit("Banks", text, "banks")))
    (message,) = render_digest([both], title="D")
    visible = check_html(message)
    assert visible.count("https://t.me/news_ch/70") == 1
    assert "also 🏷 Banks" in visible


def test_empty_digest_is_no_messages() -> None:
    assert render_digest([], title="D") == []


def test_visible_length_counts_entities_once() -> None:
    assert visible_length("<b>a&amp;b</b> 😀") == 6
    assert html.unescape("&amp;") == "&"
