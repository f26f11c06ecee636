"""`chanwatch run` as a real subprocess, driven only from outside like Telegram would."""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
from pathlib import Path

from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.tme_server import TmeServer

TOKEN = "42:E2ETOKENSECRETVALUE0123456789abcdef"


def command() -> str:
    return shutil.which("chanwatch", path=str(Path(sys.executable).parent)) or "chanwatch"


async def test_subscribe_then_one_alert_for_a_new_matching_post_and_clean_stop(
    tmp_path: Path,
) -> None:
    async with FakeBotAPI() as api, TmeServer() as tme:
        tme.add_channel("pul_1", "Пул Первого")
        tme.add_post("pul_1", "Старый пост про визит")
        config = tmp_path / "chanwatch.toml"
        config.write_text(
            f"""
[bot]
token = "{TOKEN}"
api_base = "{api.base_url}"
admins = [1]
[storage]
path = "db.sqlite"
[web]
base_url = "{tme.base_url}"
poll_seconds = 0.3
[[channels]]
handle = "pul_1"
source = "web"
[[topics]]
name = "visit"
terms = ["визит", "посетить"]
""",
            encoding="utf-8",
        )
        log = tmp_path / "stderr.log"
        with log.open("w") as stderr:
            process = await asyncio.create_subprocess_exec(
                command(), "run", "--config", str(config), stderr=stderr
            )
            try:
                await api.wait_for_call("getUpdates", timeout=30)
                await api.user_sends(5, "/subscribe")
                await api.wait_for_messages(1, chat_id=5, timeout=15)
                tme.add_post("pul_1", "Лидер КНДР пригласил Первого посетить его страну")
                tme.add_post("pul_1", "Ничего интересного")
                messages = await api.wait_for_messages(2, chat_id=5, timeout=15)
                await asyncio.sleep(1.5)  # time for a wrong second alert to show up
            finally:
                process.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(process.wait(), 15)
    alerts = [m for m in api.messages_to(5) if "t.me/pul_1/" in m.text]
    assert len(alerts) == 1, [m.text for m in api.messages_to(5)]
    assert "https://t.me/pul_1/2" in alerts[0].text
    assert "<b>посетить</b>" in alerts[0].text
    assert messages[1].text == alerts[0].text
    assert code == 0
    text = log.read_text()
    assert "post matched channel=pul_1 post_id=2" in text
    assert TOKEN not in text and "Traceback" not in text


async def test_telegram_channel_without_session_is_a_clear_start_error(tmp_path: Path) -> None:
    config = tmp_path / "chanwatch.toml"
    config.write_text(
        f'[bot]\ntoken = "{TOKEN}"\n[telegram]\napi_id = 1\napi_hash = "0123456789abcdef"\n'
        '[[channels]]\nhandle = "pul_1"\n',
        encoding="utf-8",
    )
    process = await asyncio.create_subprocess_exec(
        command(), "run", "--config", str(config), stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    assert b"chanwatch login" in err
    assert b"Traceback" not in err
