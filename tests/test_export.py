"""Reading Telegram Desktop chat exports, and the corpus converter that writes them."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import ExportError
from monitor.sources.base import IncomingPost
from monitor.sources.export import ExportChannel, read_export

FIXTURES = Path(__file__).parent / "fixtures" / "export"
MAKE_EXPORTS = Path(__file__).parent.parent / "eval" / "make_exports.py"


def _read_all(name: str, **kwargs: str) -> tuple[ExportChannel, dict[int, IncomingPost]]:
    channel, posts = read_export(FIXTURES / name, **kwargs)
    return channel, {post.post_id: post for post in posts}


def test_header_becomes_the_channel() -> None:
    channel, _ = read_export(FIXTURES / "channel_current.json")

    assert channel == ExportChannel(
        name="Пример новостей",
        id=1234567890,
        type="public_channel",
        handle="1234567890",
        message_count=8,
    )


def test_posts_come_in_file_order_without_service_messages() -> None:
    _, posts = read_export(FIXTURES / "channel_current.json")

    assert [post.post_id for post in posts] == [2, 3, 4, 5, 6, 7]
    assert posts.skipped_service == 2
    assert posts.skipped_malformed == 0


def test_string_text_is_taken_as_is() -> None:
    _, posts = _read_all("channel_current.json")

    assert posts[2].text == "Ким Чен Ын прибыл с визитом в Москву"


def test_entity_list_text_is_joined_into_plain_text() -> None:
    _, posts = _read_all("channel_current.json")

    assert posts[3].text == ("Срочно: визит продлится два дня, подробности. #визит @example_news")


def test_text_entities_are_used_when_text_is_absent() -> None:
    _, posts = _read_all("channel_current.json")

    assert posts[7].text == "Только text_entities, без поля text"


def test_media_post_text_is_its_caption() -> None:
    _, posts = _read_all("channel_current.json")

    assert posts[4].text == "Фото с места событий. Источник: https://example.org/photo"
    assert posts[6].text == ""


def test_unixtime_wins_over_the_local_date() -> None:
    # The fixture's `date` is Moscow time (UTC+3); `date_unixtime` is the truth.
    _, posts = _read_all("channel_current.json")

    assert posts[2].date == datetime(2024, 3, 1, 9, 34, 56, tzinfo=UTC)
    assert posts[7].date == datetime(2024, 3, 2, 20, 59, 59, tzinfo=UTC)


def test_edited_post_carries_its_edit_date_but_is_not_an_observed_edit() -> None:
    _, posts = _read_all("channel_current.json")

    assert posts[5].edit_date == datetime(2024, 3, 1, 12, 40, tzinfo=UTC)
    assert posts[5].is_edit is False
    assert posts[2].edit_date is None


def test_forward_source_and_channel_title_are_kept() -> None:
    _, posts = _read_all("channel_current.json")

    assert posts[6].forwarded_from == "Другой канал"
    assert posts[2].forwarded_from is None
    assert posts[2].channel_title == "Пример новостей"


def test_posts_carry_the_given_handle() -> None:
    channel, posts = _read_all("channel_current.json", handle="example_news")

    assert channel.handle == "example_news"
    assert {post.channel for post in posts.values()} == {"example_news"}


def test_posts_default_to_the_chat_id_as_handle() -> None:
    _, posts = _read_all("channel_current.json")

    assert {post.channel for post in posts.values()} == {"1234567890"}


def test_legacy_export_without_unixtime_reads_local_date_as_utc() -> None:
    _, posts = _read_all("channel_legacy.json")

    assert posts[10].date == datetime(2019, 5, 4, 10, 0, tzinfo=UTC)
    assert posts[11].edit_date == datetime(2019, 5, 4, 12, 0, tzinfo=UTC)


def test_legacy_1970_edit_placeholder_means_never_edited() -> None:
    _, posts = _read_all("channel_legacy.json")

    assert posts[10].edit_date is None


def test_legacy_entity_list_without_text_entities() -> None:
    _, posts = _read_all("channel_legacy.json")

    assert posts[11].text == "Edited, with code and print('pre')"


def test_export_folder_is_accepted_for_its_result_json(tmp_path: Path) -> None:
    folder = tmp_path / "ChatExport_2024-03-03"
    folder.mkdir()
    (folder / "result.json").write_bytes((FIXTURES / "channel_legacy.json").read_bytes())

    channel, posts = read_export(folder)

    assert channel.id == 1100000001
    assert [post.post_id for post in posts] == [10, 11]


def test_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_bytes(b"\xef\xbb\xbf" + (FIXTURES / "empty_channel.json").read_bytes())

    channel, posts = read_export(path)

    assert (channel.name, channel.type, channel.message_count) == (
        "Nothing yet",
        "public_supergroup",
        0,
    )
    assert list(posts) == []


def test_malformed_messages_are_skipped_and_counted_in_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel, posts = read_export(FIXTURES / "malformed_messages.json")

    with caplog.at_level(logging.WARNING, logger="monitor.sources.export"):
        ids = [post.post_id for post in posts]

    assert ids == [1, 6]
    assert posts.skipped_malformed == 4
    assert channel.message_count == 6
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "malformed_messages.json" in warnings[0]
    assert "skipped 4 malformed" in warnings[0]


def test_iterating_again_after_the_end_yields_nothing_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, posts = read_export(FIXTURES / "malformed_messages.json")

    with caplog.at_level(logging.WARNING, logger="monitor.sources.export"):
        list(posts)
        assert list(posts) == []

    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("truncated.json", "not valid JSON"),
        ("corpus_list.json", "the top level is a list of 1 item(s)"),
        ("account_export.json", "whole-account export"),
        ("no_messages.json", "no 'messages'"),
        ("no_id.json", "no 'id'"),
        ("messages_not_list.json", "'messages' is an object"),
    ],
)
def test_files_that_are_not_single_chat_exports_are_refused_naming_the_file(
    name: str, expected: str
) -> None:
    with pytest.raises(ExportError) as caught:
        read_export(FIXTURES / name)

    assert str(FIXTURES / name) in str(caught.value)
    assert expected in str(caught.value)


def test_broken_json_error_gives_line_and_column() -> None:
    with pytest.raises(
        ExportError,
        match=r"truncated\.json: not valid JSON: Invalid control character at line 7 column 26$",
    ):
        read_export(FIXTURES / "truncated.json")


def test_whole_account_export_names_its_chats_and_says_how_to_export_one() -> None:
    with pytest.raises(ExportError) as caught:
        read_export(FIXTURES / "account_export.json")

    message = str(caught.value)
    assert "2 chat(s): 'Saved Messages', 'Example News'" in message
    assert "Export chat history" in message


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"

    with pytest.raises(ExportError, match=f"^{re.escape(str(missing))}: file not found$"):
        read_export(missing)


def test_folder_without_result_json_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        ExportError, match=f"^{re.escape(str(tmp_path))}: folder has no result.json"
    ):
        read_export(tmp_path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "not valid JSON: Expecting value (the file is empty) at line 1 column 1"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b'{"id": 1, "messages": []} trailing', "not valid JSON: Extra data at line 1 column 27"),
        (b'{"id": 1, "messages": [{"id": 1},]}', "not valid JSON: Expecting value"),
        (b'{"id": 1 "messages": []}', "not valid JSON: Expecting ',' delimiter"),
        (b'{"id": "abc", "messages": []}', "'id' is 'abc', expected an integer"),
    ],
)
def test_unreadable_content_is_refused_naming_the_file(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "result.json"
    path.write_bytes(content)

    with pytest.raises(ExportError) as caught:
        read_export(path)

    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


_SYNTHETIC_CORPUS: dict[str, list[dict[str, object]]] = {
    "1001234500001_messages.json": [
        # Newest first, as in the shared corpus.
        {
            "message_id": 12,
            "sender_id": -1001234500001,
            "text": "**Срочно:** визит [подробнее](https://example.org/a) и `код` __курсив__",
            "date": "2024-12-04T21:30:00+00:00",
            "channel": "Тестовый канал",
            "category": "news",
        },
        {
            "message_id": 11,
            "sender_id": -1001234500001,
            "text": "",
            "date": "2024-12-04T09:00:28+00:00",
            "channel": "Тестовый канал",
            "category": "news",
        },
        {
            "message_id": 10,
            "sender_id": -1001234500001,
            "text": "Простой текст, ссылка https://example.org/b и @some_channel #тег",
            "date": "2024-12-03T08:00:00+00:00",
            "channel": "Тестовый канал",
            "category": "news",
        },
    ],
    "1009999900002_messages.json": [
        {
            "message_id": 5,
            "sender_id": -1009999900002,
            "text": "Второй канал 😀 **жирный 😀**",
            "date": "2024-10-01T00:00:00+00:00",
            "channel": "Second",
            "category": "tech",
        },
    ],
}


def _run_make_exports(tmp_path: Path) -> Path:
    data, out = tmp_path / "telegram-news", tmp_path / "exports"
    data.mkdir()
    for name, records in _SYNTHETIC_CORPUS.items():
        (data / name).write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    command = [sys.executable, str(MAKE_EXPORTS), "--data", str(data), "--out", str(out)]
    subprocess.run([*command, "--local-tz", "Europe/Moscow"], check=True, capture_output=True)
    return out


def test_make_exports_output_reads_back_to_the_same_posts(tmp_path: Path) -> None:
    out = _run_make_exports(tmp_path)

    channel, posts = read_export(out / "1234500001" / "result.json")
    read_back = [(post.post_id, post.text, post.date) for post in posts]

    assert (channel.name, channel.id, channel.type) == (
        "Тестовый канал",
        1234500001,
        "public_channel",
    )
    assert read_back == [
        (
            10,
            "Простой текст, ссылка https://example.org/b и @some_channel #тег",
            datetime(2024, 12, 3, 8, 0, tzinfo=UTC),
        ),
        (11, "", datetime(2024, 12, 4, 9, 0, 28, tzinfo=UTC)),
        (
            12,
            "Срочно: визит подробнее и код курсив",
            datetime(2024, 12, 4, 21, 30, tzinfo=UTC),
        ),
    ]
    second, second_posts = read_export(out / "9999900002" / "result.json")
    assert second.name == "Second"
    assert [(p.post_id, p.text) for p in second_posts] == [(5, "Второй канал 😀 жирный 😀")]


def test_make_exports_writes_telegram_desktop_layout(tmp_path: Path) -> None:
    out = _run_make_exports(tmp_path)

    export = json.loads((out / "1234500001" / "result.json").read_text(encoding="utf-8"))
    by_id = {message["id"]: message for message in export["messages"]}

    # Local Moscow time without a zone in `date`; the UTC instant in `date_unixtime`.
    assert by_id[12]["date"] == "2024-12-05T00:30:00"
    assert by_id[12]["date_unixtime"] == str(
        int(datetime(2024, 12, 4, 21, 30, tzinfo=UTC).timestamp())
    )
    assert by_id[12]["text"] == [
        {"type": "bold", "text": "Срочно:"},
        " визит ",
        {"type": "text_link", "text": "подробнее", "href": "https://example.org/a"},
        " и ",
        {"type": "code", "text": "код"},
        " ",
        {"type": "italic", "text": "курсив"},
    ]
    assert by_id[12]["text_entities"][1] == {"type": "plain", "text": " визит "}
    assert [e["type"] for e in by_id[10]["text_entities"]] == [
        "plain",
        "link",
        "plain",
        "mention",
        "plain",
        "hashtag",
    ]
    assert by_id[11]["text"] == ""
    assert "photo" in by_id[11]
    assert by_id[12]["from_id"] == "channel1234500001"
