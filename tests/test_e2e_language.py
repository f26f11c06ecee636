"""`chanwatch run` speaks the chat's language and draws charts, driven only from outside:
a Russian app gets Russian, /language en sticks across a restart of the process, and /trend
sends a photo drawn by the chart worker that `chanwatch run` starts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.e2e_harness import Chanwatch, write_config
from tests.fakes.bot_api import FakeBotAPI, SentMessage, image_size
from tests.fakes.tme_server import TmeServer

READER = 5


async def say(api: FakeBotAPI, text: str, language_code: str | None = None) -> SentMessage:
    before = len(api.messages_to(READER))
    await api.user_sends(READER, text, language_code=language_code)
    return (await api.wait_for_messages(before + 1, chat_id=READER, timeout=30))[before]


async def test_language_survives_a_restart_and_trend_draws_a_photo(tmp_path: Path) -> None:
    async with FakeBotAPI() as api, TmeServer() as tme:
        now = datetime.now(UTC).replace(microsecond=0)
        for days in (1, 1, 3):  # read as history at first sight, and still counted by /trend
            tme.add_post("pul_1", "Визит Первого в Пхеньян", date=now - timedelta(days=days))
        config = write_config(tmp_path, api, tme)
        app = Chanwatch(config, api, tmp_path / "stderr.log")
        await app.start()
        try:
            await tme.wait_served(["pul_1"])
            start = await say(api, "/start", language_code="ru")
            assert "Я слежу за каналами Telegram" in start.text
            default = json.dumps({"type": "default"})
            russian_menu = api.commands_by_language[(default, "ru")]
            assert russian_menu[0]["description"] == "Начало: что умеет бот"
            assert "Подписка оформлена" in (await say(api, "/subscribe")).text
            chart = await say(api, "/trend 7d")
            assert chart.method == "sendPhoto" and chart.photo is not None
            assert image_size(chart.photo) is not None
            assert "visit: 3" in chart.visible_text and "Всего: 3 подходящих поста" in (
                chart.visible_text
            )
            assert "English" in (await say(api, "/language en")).text
            await app.stop()
            await app.start()
            assert "<b>Commands</b>" in (await say(api, "/help", language_code="ru")).text
        finally:
            if app.process is not None:
                await app.stop()
    assert app.exit_codes == [0, 0]
    assert "Traceback" not in app.log_text()
