"""History and live posts in one story, end to end: `chanwatch import` run beside a running
`chanwatch run` on SQLite (two processes, one database file), posts on the fake t.me
server, a user on the fake Bot API. The imported history alerts nobody; a live copy of it
alerts the user once (the story's first post is history: there is no alert to edit), and a
later live copy edits that alert."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.e2e_harness import command, running, subscribe, write_config
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.tme_server import TmeServer
from tests.test_e2e_stories import (
    ALICE,
    COPY,
    GRACE,
    OTHER_EVENT,
    STORY,
    alerts,
    check_log,
    edits,
    link,
    wait_alerts,
    wait_edits,
)

FIRST, SECOND = "chan_a", "chan_b"


def write_export(path: Path, chat_id: int, messages: list[tuple[int, datetime, str]]) -> Path:
    path.write_text(
        json.dumps(
            {
                "name": "Канал А",
                "type": "public_channel",
                "id": chat_id,
                "messages": [
                    {
                        "id": post_id,
                        "type": "message",
                        "date": date.replace(tzinfo=None).isoformat(timespec="seconds"),
                        "date_unixtime": str(int(date.timestamp())),
                        "text": text,
                    }
                    for post_id, date, text in messages
                ],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    return path


async def import_beside(config: Path, export: Path, channel: str) -> None:
    process = await asyncio.create_subprocess_exec(
        command(),
        "import",
        str(export),
        "--channel",
        channel,
        "--config",
        str(config),
        "--no-progress",
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    assert process.returncode == 0, err.decode()


async def test_a_live_copy_of_imported_history_alerts_once_then_edits(tmp_path: Path) -> None:
    async with FakeBotAPI() as api, TmeServer() as tme:
        for handle in (FIRST, SECOND):
            tme.add_channel(handle, first_id=100)
            tme.add_post(handle, "Старый пост")
        config = write_config(tmp_path, api, tme, channels=(FIRST, SECOND))
        async with running(config, api) as app:
            await tme.wait_served([FIRST, SECOND])
            await subscribe(api, ALICE)

            # The watched channel's older posts, imported while `chanwatch run` runs.
            hours_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
            export = write_export(
                tmp_path / "chan_a.json",
                1001,
                [(50, hours_ago, STORY), (51, hours_ago + timedelta(minutes=30), "Погода")],
            )
            await import_beside(config, export, FIRST)

            # The next live post shows `run` a gap in the ids: it files the history next.
            other = tme.add_post(SECOND, OTHER_EVENT)
            [first_alert] = await wait_alerts(api, ALICE, 1)
            assert link(SECOND, other) in first_alert.text

            copy = tme.add_post(SECOND, COPY)
            [_, alert] = await wait_alerts(api, ALICE, 2)
            assert link(SECOND, copy) in alert.text
            assert link(FIRST, 50) not in alert.text  # history is not alerted

            again = tme.add_post(FIRST, "Повторяем: " + STORY)
            [edit] = await wait_edits(api, ALICE, 1)
            assert edit.message_id == alert.message_id
            assert link(FIRST, again) in edit.text
            await asyncio.sleep(GRACE)
        check_log(app)
    assert len(alerts(api, ALICE)) == 2 and len(edits(api, ALICE)) == 1
