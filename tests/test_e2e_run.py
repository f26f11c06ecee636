"""`chanwatch run` as a real subprocess, driven only from outside like Telegram would."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
from pathlib import Path

from storage import Location
from tests.e2e_harness import (
    TOKEN,
    alerts_to,
    ask,
    command,
    running,
    subscribe,
    write_config,
)
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.tme_server import TmeServer


async def test_subscribe_then_one_alert_for_a_new_matching_post_and_clean_stop(
    tmp_path: Path, database: Location
) -> None:
    url = database if isinstance(database, str) else None
    async with FakeBotAPI() as api, TmeServer() as tme:
        tme.add_channel("pul_1", "Пул Первого")
        tme.add_post("pul_1", "Старый пост про визит")
        async with running(write_config(tmp_path, api, tme, database_url=url), api) as app:
            await tme.wait_served(["pul_1"])  # the old post is history from here on
            await subscribe(api, 5)
            tme.add_post("pul_1", "Лидер КНДР пригласил Первого посетить его страну")
            tme.add_post("pul_1", "Ничего интересного")
            messages = await api.wait_for_messages(2, chat_id=5, timeout=15)
            await asyncio.sleep(1.5)  # time for a wrong second alert to show up
            alerts = alerts_to(api, 5, "pul_1")
            found = await ask(api, 5, "/search пригласить страны")
    assert "1 post found" in found and "https://t.me/pul_1/2" in found, found
    assert len(alerts) == 1, [m.text for m in api.messages_to(5)]
    assert "https://t.me/pul_1/2" in alerts[0]
    assert "<b>посетить</b>" in alerts[0]
    assert messages[1].text == alerts[0]
    assert app.exit_codes == [0]
    text = app.log_text()
    assert "post matched channel=pul_1 post_id=2" in text
    assert "alerts queued channel=pul_1 post_id=2 chats=1 new=1" in text
    assert re.search(r"sent kind=alert chat=5 outbox=\d+ message_id=\d+", text), text
    assert TOKEN not in text and "Traceback" not in text


async def test_a_stop_waits_for_the_alert_in_flight_and_says_what_it_waits_for(
    tmp_path: Path,
) -> None:
    async with FakeBotAPI() as api, TmeServer() as tme:
        tme.add_channel("pul_1", "Пул Первого")
        tme.add_post("pul_1", "Старый пост про визит")
        async with running(write_config(tmp_path, api, tme), api) as app:
            await tme.wait_served(["pul_1"])
            await subscribe(api, 5)
            # Answered 13 s late: the stop waits past its first "still waiting" (10 s).
            api.delay_next("sendMessage", 13)
            before = api.received.count("sendMessage")
            tme.add_post("pul_1", "Лидер КНДР пригласил Первого посетить его страну")
            await api.wait_until(
                lambda: api.received.count("sendMessage") > before, "alert sent", timeout=15
            )
            # The send's 13 s, then the recording and the rest of the stop on a busy machine.
            code = await app.stop(timeout=60)
    assert code == 0
    text = app.log_text()
    assert re.search(r"stopping: still waiting for [a-z, ]*bot", text), text
    # The alert Telegram accepted after the stop began is recorded as sent, not owed again.
    assert re.search(r"sent kind=alert chat=5 outbox=\d+ message_id=\d+", text), text
    assert "stopped" in text.splitlines()[-1]


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


async def test_unreachable_bot_api_is_a_warning_and_a_retry_not_a_crash(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "chanwatch.toml"
    config.write_text(
        f'[bot]\ntoken = "{TOKEN}"\napi_base = "http://127.0.0.1:{port}"\n'
        '[storage]\npath = "db.sqlite"\n',
        encoding="utf-8",
    )
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        process = await asyncio.create_subprocess_exec(
            command(), "run", "--config", str(config), stderr=stderr
        )
    try:
        async with asyncio.timeout(30):
            while "bot cannot reach its server" not in log.read_text():  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 15)
    text = log.read_text()
    assert code == 0
    assert "Traceback" not in text and TOKEN not in text
