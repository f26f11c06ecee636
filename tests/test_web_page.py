"""The t.me/s parser against real saved preview pages (tests/fixtures/tme, see attributions)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import SourceError
from monitor.sources.web_page import parse_channel_page, parse_views

FIXTURES = Path(__file__).parent / "fixtures" / "tme"


def load(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_channel_page_posts_ids_title_dates_and_views() -> None:
    page = parse_channel_page(load("channel_page.html"), "topwar_official")

    assert page.title == "Военное обозрение"
    assert [post.post_id for post in page.posts] == [70989, 70990, 70992, 70996, 71000]
    first = page.posts[0]
    assert first.channel == "topwar_official"
    assert first.date == datetime(2023, 2, 28, 7, 47, 53, tzinfo=UTC)
    assert first.views == 37200
    assert first.channel_title == "Военное обозрение"
    assert first.text.startswith("В Санкт-Петербурге в небо над городом подняли истребители")
    # The saved page was re-indented: its source line breaks are not the post's.
    assert "\n" not in first.text.split("Baza.")[0]


def test_album_is_one_post_with_its_caption_once() -> None:
    page = parse_channel_page(load("channel_page.html"), "topwar_official")
    album = {post.post_id: post for post in page.posts}[71000]

    assert album.grouped_id == 71000
    assert album.text == (
        "Последствия ночного удара БПЛА-камикадзе ВСУ по нефтебазе в Туапсе сегодня ночью."
    )
    # 71001-71005 are the album's other media: no posts of their own.
    assert not any(71000 < post.post_id < 71006 for post in page.posts)


def test_forwarded_from_name() -> None:
    page = parse_channel_page(load("channel_page.html"), "topwar_official")
    forwarded = {post.post_id: post for post in page.posts}[70996]
    assert forwarded.forwarded_from == "Военкор Ярем"
    assert {post.post_id: post for post in page.posts}[70989].forwarded_from is None


def test_media_caption_with_breaks_links_and_hashtags() -> None:
    (post,) = parse_channel_page(load("message_media_photo_and_video.html"), "anna_news").posts
    assert post.text == (
        "Ночью над Белгородом сбили 3 беспилотника\n\nОни упали на улицы города.\n\n"
        "Сообщается, что на себе БПЛА несли взрывчатку из пластида.\n\n"
        "#Белгород #Беспилотники\n\n@anna_news"
    )
    assert post.grouped_id == 46908
    assert post.views == 59500


def test_edited_mark_and_emoji_and_link_text() -> None:
    (post,) = parse_channel_page(load("message_link_preview_video.html"), "fighter_bomber").posts
    assert post.is_edit
    assert post.text == "Жениться вам, барин, пора! 😁\n\nhttps://t.me/shalnyak/5410"
    # The link preview's description is the linked page's text, not the post's.
    assert "Shalnyak" not in post.text


def test_author_signature_is_not_an_edited_mark() -> None:
    (post,) = parse_channel_page(load("message_with_from_author.html"), "channel").posts
    assert post.text == "test"
    assert not post.is_edit
    assert post.views == 1


def test_reply_quote_is_not_read_as_the_post() -> None:
    (post,) = parse_channel_page(load("message_reply.html"), "topwar_official").posts
    assert post.text.startswith("Неопознанный летающий объект замечен в 160 – 200 км")
    assert "Власти Петербурга подтвердили" not in post.text


def test_voice_note_forwarded_caption_and_duration_is_not_the_date() -> None:
    (post,) = parse_channel_page(load("message_voice.html"), "oper_goblin").posts
    assert post.date == datetime(2018, 4, 24, 15, 28, 46, tzinfo=UTC)
    assert post.forwarded_from == "Спортивный Екб"
    assert post.text.startswith("Обсудили:\n\n- Сталина не забыть\n- Плохие фильмы")


@pytest.mark.parametrize(
    ("name", "handle", "post_id"),
    [("message_sticker.html", "channel", 5), ("message_media_round_video.html", "x", 3495)],
)
def test_posts_without_text_have_empty_text(name: str, handle: str, post_id: int) -> None:
    (post,) = parse_channel_page(load(name), handle).posts
    assert post.post_id == post_id
    assert post.text == ""


def test_poll_question_and_options_are_its_text() -> None:
    (post,) = parse_channel_page(load("message_poll.html"), "it_begin").posts
    assert post.text == (
        "Как лучше?\nНесколько постов в день\nОдин пост в несколько дней\n"
        "Свой вариант в комментарии"
    )
    assert post.views == 1100


def test_channel_without_posts_is_an_empty_page() -> None:
    page = parse_channel_page(load("channel_page_empty.html"), "topwar_official")
    assert page.title == "Военное обозрение"
    assert page.posts == ()
    assert page.oldest_id is None


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (load("contact_page.html"), "Telegram: Contact @no_such_channel"),
        ("<html><body><h1>502 Bad Gateway</h1></body></html>", "502 Bad Gateway"),
        ("\x00\x01 not html at all {]", "not html at all"),
        ("", "empty page"),
    ],
)
def test_page_without_channel_structure_raises_naming_the_channel(
    html: str, expected: str
) -> None:
    with pytest.raises(SourceError) as raised:
        parse_channel_page(html, "no_such_channel")
    assert "no_such_channel" in str(raised.value)
    assert expected in str(raised.value)


def test_service_messages_are_skipped() -> None:
    html = load("channel_page_empty.html").replace(
        '<section class="tgme_channel_history js-message_history">',
        '<section class="tgme_channel_history js-message_history">'
        '<div class="tgme_widget_message service_message js-widget_message"'
        ' data-post="topwar_official/1"><div class="tgme_widget_message_service_text">'
        "Channel created</div></div>",
    )
    assert parse_channel_page(html, "topwar_official").posts == ()


@pytest.mark.parametrize(
    ("raw", "views"),
    [("746", 746), ("1", 1), ("1.2K", 1200), ("33.4K", 33400), ("3.4M", 3_400_000), ("x", None)],
)
def test_views(raw: str, views: int | None) -> None:
    assert parse_views(raw) == views
