"""Stories end to end: `chanwatch run` as a subprocess, posts on the fake t.me server, users
on the fake Bot API. One story in two channels is one alert and then one edit naming the
second channel; another event on the same topic is a second alert; a `kill -9` between a
post and its copy changes nothing of that; `/copies off` gets every copy as an alert."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Final

from storage import Location
from tests.e2e_harness import Chanwatch, ask, running, subscribe, write_config
from tests.fakes.bot_api import FakeBotAPI, SentMessage
from tests.fakes.tme_server import TmeServer

FIRST, SECOND = "chan_a", "chan_b"
ALICE, BOB = 5, 6
WAIT: Final = 20.0
GRACE: Final = 1.5
"""Time for a wrong extra message or edit to show up before counting."""

STORY: Final = (
    "Президент Казахстана Касым-Жомарт Токаев совершит официальный визит в Минск на следующей "
    "неделе, сообщила его пресс-служба. В ходе визита планируется подписание соглашений о "
    "торговле, логистике и энергетике."
)
COPY: Final = (
    "⚡️ Срочно\n\nПрезидент Казахстана Касым-Жомарт Токаев совершит официальный визит в Минск "
    "на следующей неделе, сообщила его пресс-служба. В ходе визита планируется подписание "
    "соглашений о торговле, логистике и энергетике.\n\n👉 Подписывайтесь на наш канал"
)
OTHER_EVENT: Final = (
    "Премьер-министр Индии Нарендра Моди посетит Москву в июле: визит будет посвящён "
    "сотрудничеству в области атомной энергетики и космоса, заявили в Кремле журналистам."
)


def alerts(api: FakeBotAPI, chat_id: int) -> list[SentMessage]:
    return [m for m in api.messages_to(chat_id) if m.text.startswith("📢")]


def edits(api: FakeBotAPI, chat_id: int) -> list[SentMessage]:
    return [m for m in api.edits if m.chat_id == chat_id]


def link(handle: str, post_id: int) -> str:
    return f"https://t.me/{handle}/{post_id}"


async def wait_alerts(api: FakeBotAPI, chat_id: int, count: int) -> list[SentMessage]:
    await api.wait_until(
        lambda: len(alerts(api, chat_id)) >= count,
        f"sent {count} alerts to {chat_id}",
        timeout=WAIT,
    )
    return alerts(api, chat_id)


async def wait_edits(api: FakeBotAPI, chat_id: int, count: int) -> list[SentMessage]:
    await api.wait_until(
        lambda: len(edits(api, chat_id)) >= count,
        f"edited {count} alerts of {chat_id}",
        timeout=WAIT,
    )
    return edits(api, chat_id)


def config(tmp_path: Path, api: FakeBotAPI, tme: TmeServer, database: Location) -> Path:
    url = database if isinstance(database, str) else None
    return write_config(tmp_path, api, tme, channels=(FIRST, SECOND), database_url=url)


async def test_a_story_in_two_channels_is_one_alert_then_one_edit_and_another_event_alerts(
    tmp_path: Path, database: Location
) -> None:
    async with FakeBotAPI() as api, TmeServer() as tme:
        for handle in (FIRST, SECOND):
            tme.add_post(handle, "Старый пост")
        async with running(config(tmp_path, api, tme, database), api) as app:
            await tme.wait_served([FIRST, SECOND])
            await subscribe(api, ALICE)
            await subscribe(api, BOB)
            assert "Copies off" in await ask(api, BOB, "/copies off")
            api.enforce_limits = True

            first = tme.add_post(FIRST, STORY)
            [alert] = await wait_alerts(api, ALICE, 1)
            assert link(FIRST, first) in alert.text
            await asyncio.sleep(2)  # the copy comes a few seconds later
            copy = tme.add_post(SECOND, COPY)
            [edit] = await wait_edits(api, ALICE, 1)
            assert edit.message_id == alert.message_id
            assert f'also in <a href="{link(SECOND, copy)}">@{SECOND}</a>' in edit.text
            assert link(FIRST, first) in edit.text
            # Grouping off: Bob has each copy as an alert of its own.
            bob = await wait_alerts(api, BOB, 2)
            assert link(FIRST, first) in bob[0].text and link(SECOND, copy) in bob[1].text

            other = tme.add_post(SECOND, OTHER_EVENT)
            second = await wait_alerts(api, ALICE, 2)
            assert link(SECOND, other) in second[1].text
            await asyncio.sleep(GRACE)
        check_log(app)
    assert len(alerts(api, ALICE)) == 2 and len(edits(api, ALICE)) == 1
    assert len(alerts(api, BOB)) == 3 and edits(api, BOB) == []
    assert api.limit_violations == 0


async def test_kill_9_between_a_post_and_its_copy_still_one_alert_and_one_edit(
    tmp_path: Path, database: Location
) -> None:
    async with FakeBotAPI() as api, TmeServer() as tme:
        for handle in (FIRST, SECOND):
            tme.add_post(handle, "Старый пост")
        app = Chanwatch(config(tmp_path, api, tme, database), api, tmp_path / "stderr.log")
        await app.start()
        try:
            await tme.wait_served([FIRST, SECOND])
            await subscribe(api, ALICE)
            first = tme.add_post(FIRST, STORY)
            [alert] = await wait_alerts(api, ALICE, 1)
            # Killed once the alert is recorded as sent (before that, the at-least-once
            # window of README's Alerts section would send it again: not what this tests).
            async with asyncio.timeout(WAIT):
                while f"sent kind=alert chat={ALICE}" not in app.log_text():  # noqa: ASYNC110 - another process's log
                    await asyncio.sleep(0.05)
            await app.kill()
            # Published while chanwatch is down: read at the restart, by a fresh process
            # whose story detector knows the first post only from the database.
            copy = tme.add_post(SECOND, COPY)
            await app.start()
            [edit] = await wait_edits(api, ALICE, 1)
            await asyncio.sleep(GRACE)
        finally:
            if app.process is not None:
                await app.stop()
    assert app.exit_codes == [-9, 0], app.exit_codes
    assert [m.message_id for m in alerts(api, ALICE)] == [alert.message_id]
    assert link(FIRST, first) in alert.text
    assert edit.message_id == alert.message_id and link(SECOND, copy) in edit.text
    assert len(edits(api, ALICE)) == 1
    check_log(app)


def check_log(app: Chanwatch) -> None:
    text = app.log_text()
    assert "Traceback" not in text, text
