"""History grouped into stories: `chanwatch import` and `chanwatch backfill` through the CLI
and the database, on small exports and t.me pages of two channels written here; and a live
copy of a history post, through the real ingest pipeline, outbox and sender to the fake Bot
API, over both storage backends."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import pytest

from chanwatch.cli import main
from monitor.history import HistoryStories
from monitor.ingest import Ingest, SilentListener
from monitor.sources.base import IncomingPost
from storage import Location, Store, TopicSpec
from tests.bot_helpers import ALICE, conversation
from tests.fakes.tme_server import TmeServer
from tests.test_stories_live import (
    BASE,
    OTHER_EVENT,
    Feed,
    alerts,
    also,
    delivering,
    edits,
    settled,
)

DAY: Final = datetime(2025, 11, 20, tzinfo=UTC)
VISIT: Final = (
    "Лидер КНДР Ким Чен Ын пригласил президента России посетить Пхеньян в любое удобное "
    "время, сообщило центральное телеграфное агентство Кореи."
)
VISIT_COPY: Final = "⚡️ Срочно: " + VISIT + "\n\n👉 Канал Б. Подписаться"
FIRE: Final = (
    "В Подмосковье загорелся склад площадью тысяча квадратных метров на Заводской улице в "
    "Мытищах, пострадавших нет, сообщили в МЧС."
)
OTHER_FIRE: Final = (
    "В Подмосковье загорелся ангар площадью пятьсот квадратных метров на Рабочей улице в "
    "Балашихе, есть пострадавший, сообщили в МЧС."
)
CONFIG: Final = """
[storage]
path = "db.sqlite"
[[topics]]
name = "visit"
terms = ["визит", "посетить"]
[[topics]]
name = "fire"
terms = ["загореться", "пожар"]
"""


def write_export(
    path: Path, chat_id: int, name: str, messages: list[tuple[int, datetime, str]]
) -> str:
    """A Telegram Desktop export of a channel, its messages (id, date, text) oldest first."""
    path.write_text(
        json.dumps(
            {
                "name": name,
                "type": "public_channel",
                "id": chat_id,
                "messages": [
                    {
                        "id": post_id,
                        "type": "message",
                        "date": date.replace(tzinfo=None).isoformat(),
                        "date_unixtime": str(int(date.timestamp())),
                        "from": name,
                        "text": text,
                    }
                    for post_id, date, text in messages
                ],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    return str(path)


@pytest.fixture
def exports(tmp_path: Path) -> tuple[str, str]:
    """Channel 3003 tells of a visit and a fire; channel 2002 copies the visit three minutes
    later under its own header and footer, and tells of another fire. (The copy's channel
    comes first by name: the first post must still be stored before it.)"""
    first = write_export(
        tmp_path / "first.json",
        3003,
        "Канал А",
        [(10, DAY + timedelta(hours=10), VISIT), (11, DAY + timedelta(hours=12), FIRE)],
    )
    second = write_export(
        tmp_path / "second.json",
        2002,
        "Канал Б",
        [
            (500, DAY + timedelta(hours=10, minutes=3), VISIT_COPY),
            (501, DAY + timedelta(hours=12, minutes=40), OTHER_FIRE),
        ],
    )
    return first, second


def write_config(folder: Path) -> list[str]:
    folder.mkdir(exist_ok=True)
    (folder / "chanwatch.toml").write_text(CONFIG, encoding="utf-8")
    return ["--config", str(folder / "chanwatch.toml")]


async def stories(db: Path | str) -> dict[tuple[str, int], tuple[str, int]]:
    """Every stored post's story, as (channel, post id) of the story's first post."""
    store = await Store.open(db)
    try:
        rows = await store.db.fetchall(
            "SELECT c.handle, p.post_id, s.post_id AS first_post, sc.handle AS first_handle "
            "FROM posts p JOIN channels c ON c.id = p.channel_id "
            "LEFT JOIN posts s ON s.id = p.story LEFT JOIN channels sc ON sc.id = s.channel_id"
        )
    finally:
        await store.close()
    return {
        (row["handle"], row["post_id"]): (row["first_handle"], row["first_post"])
        if row["first_post"] is not None
        else (row["handle"], row["post_id"])
        for row in rows
    }


async def recent_and_owed(db: Path) -> tuple[list[tuple[str, int, int]], int, int]:
    """/recent's lines (channel, post id, copies), the story count /search gives for the
    visit, and the alerts owed."""
    store = await Store.open(db)
    try:
        recent = await store.posts.recent(10)
        _, visits = await store.posts.search([["посетить"]], limit=5)
        owed = len(await store.posts.pending_fanout())
    finally:
        await store.close()
    return [(p.channel_handle, p.post_id, p.copies) for p in recent], visits, owed


def test_import_groups_a_copy_in_another_export_into_one_story_and_twice_is_once(
    tmp_path: Path, exports: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = exports
    config = write_config(tmp_path)
    # The later channel's export first: the posts are grouped in date order all the same.
    assert main(["import", second, first, *config, "--no-progress"]) == 0
    assert "1 post(s) joined an earlier post's story" in capsys.readouterr().err
    db = tmp_path / "db.sqlite"
    grouped = asyncio.run(stories(db))
    assert grouped == {
        ("3003", 10): ("3003", 10),
        ("2002", 500): ("3003", 10),
        # Two fires in two places the same day: two events, two stories.
        ("3003", 11): ("3003", 11),
        ("2002", 501): ("2002", 501),
    }
    # /recent: one line per story, its newest post, the copy counted; nothing alerted.
    assert asyncio.run(recent_and_owed(db)) == (
        [("2002", 501, 0), ("3003", 11, 0), ("2002", 500, 1)],
        1,
        0,
    )

    assert main(["import", first, second, *config, "--no-progress"]) == 0
    assert "0 post(s) joined" in capsys.readouterr().err
    assert asyncio.run(stories(db)) == grouped


def test_an_export_imported_later_joins_the_stories_stored_before(
    tmp_path: Path, exports: tuple[str, str]
) -> None:
    first, second = exports
    config = write_config(tmp_path)
    assert main(["import", first, *config, "--no-progress"]) == 0
    assert main(["import", second, *config, "--no-progress"]) == 0
    grouped = asyncio.run(stories(tmp_path / "db.sqlite"))
    assert grouped[("2002", 500)] == ("3003", 10)
    assert grouped[("2002", 501)] == ("2002", 501)


def test_a_post_imported_after_its_later_copy_was_stored_starts_its_own_story(
    tmp_path: Path, exports: tuple[str, str]
) -> None:
    """What is stored keeps its story: the copy stored first is not moved into the story
    of a post imported afterwards that is earlier (README, Stories)."""
    first, second = exports
    config = write_config(tmp_path)
    assert main(["import", second, *config, "--no-progress"]) == 0
    assert main(["import", first, *config, "--no-progress"]) == 0
    grouped = asyncio.run(stories(tmp_path / "db.sqlite"))
    assert grouped[("2002", 500)] == ("2002", 500)
    assert grouped[("3003", 10)] == ("3003", 10)


def test_import_stores_the_stories_scan_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`chanwatch scan` and `chanwatch import` group the same exports the same way (a copy,
    two rates, two fires, «Видео», the same text a day later)."""
    fixtures = Path(__file__).parent / "fixtures" / "stories"
    given = [str(fixtures / "mash.json"), str(fixtures / "rian.json")]
    config = write_config(tmp_path)
    assert main(["scan", *given, *config, "--all", "--no-progress"]) == 0
    printed = {}
    for line in capsys.readouterr().out.splitlines():
        record = json.loads(line)
        story = record["story"]
        printed[(str(record["channel_id"]), record["message_id"])] = (str(story[0]), story[1])
    assert main(["import", *given, *config, "--no-progress"]) == 0
    assert asyncio.run(stories(tmp_path / "db.sqlite")) == printed
    assert len(set(printed.values())) == len(printed) - 1  # one copy among them


def test_an_export_not_in_date_order_is_grouped_in_date_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file whose messages are not by date (edited by hand, joined from two exports) is
    read whole and sorted: the earlier post is the first of the story, as in date order."""
    shuffled = write_export(
        tmp_path / "shuffled.json",
        2002,
        "Канал Б",
        [
            (2, DAY + timedelta(hours=10, minutes=3), VISIT_COPY),
            (1, DAY + timedelta(hours=10), VISIT),
        ],
    )
    config = write_config(tmp_path)
    assert main(["scan", shuffled, *config, "--all", "--no-progress"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["message_id"], r["story"]) for r in printed] == [(1, [2002, 1]), (2, [2002, 1])]
    assert main(["import", shuffled, *config, "--no-progress"]) == 0
    assert asyncio.run(stories(tmp_path / "db.sqlite")) == {
        ("2002", 1): ("2002", 1),
        ("2002", 2): ("2002", 1),
    }


async def test_backfill_groups_copies_with_each_other_and_with_stored_posts(
    tmp_path: Path,
) -> None:
    async with TmeServer() as tme:
        moment = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
        tme.add_post("pul_1", VISIT, date=moment)
        tme.add_post("pul_1", FIRE, date=moment + timedelta(minutes=30))
        tme.add_post("pul_2", VISIT_COPY, date=moment + timedelta(minutes=3))
        tme.add_post("pul_2", OTHER_FIRE, date=moment + timedelta(minutes=40))
        # The same channel repeating its own post an hour later, under another header.
        tme.add_post("pul_2", "Повторяем: " + VISIT, date=moment + timedelta(hours=1))
        config = tmp_path / "chanwatch.toml"
        config.write_text(
            CONFIG
            + f'[web]\nbase_url = "{tme.base_url}"\n'
            + '[[channels]]\nhandle = "pul_1"\nsource = "web"\n'
            + '[[channels]]\nhandle = "pul_2"\nsource = "web"\n',
            encoding="utf-8",
        )
        for handle in ("pul_1", "pul_2", "pul_2"):
            # main() runs its own event loop; the t.me server keeps serving on this one.
            code = await asyncio.to_thread(
                main, ["backfill", handle, "--config", str(config), "--no-progress"]
            )
            assert code == 0
    grouped = await stories(tmp_path / "db.sqlite")
    assert grouped == {
        ("pul_1", 1): ("pul_1", 1),
        ("pul_1", 2): ("pul_1", 2),
        ("pul_2", 1): ("pul_1", 1),
        ("pul_2", 2): ("pul_2", 2),
        ("pul_2", 3): ("pul_1", 1),
    }


async def test_a_live_copy_of_history_alerts_once_then_its_copies_edit_that_alert(
    tmp_path: Path, database: Location
) -> None:
    """History is never alerted; a live copy of it alerts a chat that has no alert of the
    story (its first post is history: there is nothing to edit), and later copies edit that
    alert. The history is stored beside a running pipeline that stores alone (SQLite's
    `chanwatch run`): its catch-up files the history with the stories stored for it."""
    async with conversation(tmp_path, database) as c:
        store = c.store
        for handle in ("chan_a", "chan_b", "chan_c", "chan_d", "chan_e"):
            await store.channels.add(handle, "web")
            await store.posts.save(handle, [], history=True)  # first sight: later is live
        await store.topics.put(TopicSpec("visit", ("визит", "посетить")))
        pipeline = await Ingest.open(store, SilentListener(), story_window_hours=24, others=False)
        live = Feed(pipeline)
        await c.ask("/subscribe", chat_id=ALICE)
        async with delivering(c) as delivery:
            await live.post("chan_d", OTHER_EVENT)
            await settled(c, delivery)

            # `chanwatch import` beside it: two channels' history, one story.
            history = HistoryStories(await Ingest.open(store, SilentListener()), store, 24)
            hours_ago = live.start - timedelta(hours=2)
            await history.handle_posts(
                [
                    IncomingPost("chan_a", 1, hours_ago, BASE),
                    IncomingPost("chan_b", 1, hours_ago + timedelta(minutes=5), BASE + " 👉"),
                ],
                history=True,
            )
            assert history.grouped == 1
            await settled(c, delivery)
            assert len(alerts(c, ALICE)) == 1  # history alerts nobody

            # The next live post shows the pipeline a gap in the ids: it catches up first.
            await live.post("chan_d", "Курс доллара на бирже почти не изменился за день.")
            copy = await live.post("chan_c", BASE)
            await settled(c, delivery)
            first_alerts = alerts(c, ALICE)
            assert len(first_alerts) == 2
            assert f"https://t.me/chan_c/{copy}" in first_alerts[1].text
            later = await live.post("chan_e", BASE)
            await settled(c, delivery)
            assert len(alerts(c, ALICE)) == 2
            [edit] = edits(c, ALICE)
            assert edit.message_id == first_alerts[1].message_id
            assert also("chan_e", later) in edit.text
    grouped = await stories(database)
    assert grouped[("chan_b", 1)] == ("chan_a", 1)
    assert grouped[("chan_c", copy)] == ("chan_a", 1)
    assert grouped[("chan_e", later)] == ("chan_a", 1)


async def test_stored_posts_are_read_by_date_a_page_at_a_time_with_their_stories(
    database: Location,
) -> None:
    """What history grouping reads beside the posts it files (storage, both backends)."""
    store = await Store.open(database)
    try:
        for handle in ("chan_a", "chan_b"):
            await store.channels.add(handle, "web")
        ingest = await Ingest.open(store, SilentListener())
        same_minute = DAY + timedelta(hours=10)
        await ingest.handle_posts(
            [
                IncomingPost("chan_a", 1, DAY + timedelta(hours=9), FIRE),
                IncomingPost("chan_a", 2, same_minute, VISIT),
                IncomingPost("chan_b", 7, same_minute, OTHER_FIRE),
            ],
            history=True,
        )
        await ingest.handle_posts(
            [IncomingPost("chan_b", 8, same_minute + timedelta(minutes=3), VISIT_COPY)],
            history=True,
            stories={("chan_b", 8): ("chan_a", 2)},
        )
        read: list[tuple[str, int, tuple[str, int] | None]] = []
        after = None
        while page := await store.posts.dated_from(DAY + timedelta(hours=9, minutes=30), after, 1):
            row_id, post, first = page[0]
            read.append((post.handle, post.post_id, first))
            after = (post.date, row_id)
    finally:
        await store.close()
    # From the moment given on, by date (ties by id), each once; a copy with its first post.
    assert read == [
        ("chan_a", 2, None),
        ("chan_b", 7, None),
        ("chan_b", 8, ("chan_a", 2)),
    ]
