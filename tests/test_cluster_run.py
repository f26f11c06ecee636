"""`chanwatch run --role …` as subprocesses: monitors sharing channels on PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from storage import Store
from tests.e2e_harness import OPERATOR, TOKEN, Chanwatch, ask, command, subscribe, write_config
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.tme_server import TmeServer
from tests.test_e2e_metrics import Scraper, free_port, value


@pytest.mark.parametrize("role", ["monitor", "bot"])
async def test_a_role_other_than_all_is_refused_with_sqlite(tmp_path: Path, role: str) -> None:
    config = tmp_path / "chanwatch.toml"
    config.write_text(
        f'[bot]\ntoken = "{TOKEN}"\n[[channels]]\nhandle = "pul_1"\nsource = "web"\n',
        encoding="utf-8",
    )
    process = await asyncio.create_subprocess_exec(
        command(), "run", "--role", role, "--config", str(config), stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    lines = err.decode().strip().splitlines()
    assert lines == [
        f"chanwatch: --role {role} needs PostgreSQL (storage.url): with SQLite one process does "
        "everything, so run it with --role all (the default)"
    ]


HANDLES = [f"web_{n:02d}" for n in range(20)]
LEASE_SECONDS = 3
POLL_SECONDS = 0.3
START = 90.0


def _alerts(api: FakeBotAPI, chat_id: int) -> Counter[str]:
    """How many alerts `chat_id` got for each post link."""
    links: Counter[str] = Counter()
    for message in api.messages_to(chat_id):
        links.update(set(re.findall(r"https://t\.me/\w+/\d+", message.text)))
    return links


async def _wait_alerts(api: FakeBotAPI, chats: tuple[int, ...], links: set[str]) -> None:
    await api.wait_until(
        lambda: all(links <= set(_alerts(api, chat)) for chat in chats),
        f"alerts for {sorted(links)}",
        timeout=60,
    )


async def test_two_monitors_and_a_bot_alert_once_and_survive_a_killed_monitor(
    tmp_path: Path, postgres_url: str
) -> None:
    subscribers = (5, 6)
    async with FakeBotAPI() as api, TmeServer() as tme:
        for handle in HANDLES:
            tme.add_channel(handle)
            tme.add_post(handle, "Старый пост про визит")  # history: never alerted
        config = write_config(
            tmp_path,
            api,
            tme,
            channels=HANDLES,
            poll_seconds=POLL_SECONDS,
            database_url=postgres_url,
            extra=f"[cluster]\nlease_seconds = {LEASE_SECONDS}\n",
        )
        # The second monitor serves /healthz and /metrics (its own config for its own port).
        port = free_port()
        (tmp_path / "second").mkdir()
        second = write_config(
            tmp_path / "second",
            api,
            tme,
            channels=HANDLES,
            poll_seconds=POLL_SECONDS,
            database_url=postgres_url,
            extra=f"[cluster]\nlease_seconds = {LEASE_SECONDS}\n"
            f'[metrics]\nlisten = "127.0.0.1:{port}"\n',
        )
        bot = Chanwatch(config, api, tmp_path / "bot.log", role="bot")
        monitors = [
            Chanwatch(config, api, tmp_path / "monitor_1.log", role="monitor"),
            Chanwatch(second, api, tmp_path / "monitor_2.log", role="monitor"),
        ]
        store = await Store.open(postgres_url)
        try:
            # Three processes loading the morphology on a small, busy machine take their time.
            await bot.start(timeout=START)
            await asyncio.gather(
                *(monitor.start(polling=False, timeout=START) for monitor in monitors)
            )
            await tme.wait_served(HANDLES)
            await _wait_shared(store, monitors)
            for chat in subscribers:
                await subscribe(api, chat)

            # Every matching post alerts each subscriber once, whichever monitor read it.
            first = {
                f"https://t.me/{h}/{tme.add_post(h, f'Лидер {n} пригласил посетить')}"
                for n, h in enumerate(HANDLES)
            }
            await _wait_alerts(api, subscribers, first)

            # An operator's new topic reaches both monitors with no restart (NOTIFY).
            await ask(api, OPERATOR, "/addtopic sanctions: санкции")
            for chat in subscribers:
                await ask(api, chat, "/subscribe sanctions")
            for monitor in monitors:
                await monitor.wait_for_log("topics reloaded count=2", timeout=30)
            # A few channels: each chat receives one message a second.
            sanctions = {
                f"https://t.me/{h}/{tme.add_post(h, 'Новые санкции')}" for h in HANDLES[::5]
            }
            await _wait_alerts(api, subscribers, sanctions)

            # A channel an operator adds is taken by a monitor and read (NOTIFY, no restart).
            tme.add_channel("web_new")
            tme.add_post("web_new", "Старый пост")
            added = await ask(api, OPERATOR, "/addchannel web_new web")
            assert "web_new" in added, added
            await tme.wait_served(["web_new"])
            await _wait_first_sight(store, "web_new")
            fresh = {f"https://t.me/web_new/{tme.add_post('web_new', 'Визит и санкции')}"}
            await _wait_alerts(api, subscribers, fresh)

            # kill -9 one monitor: the other takes its channels over within a lease period
            # and catches up on what was published meanwhile.
            owners = await store.leases.owners("web", seconds=LEASE_SECONDS)
            victim = await _process_id(store, monitors[0])
            orphaned = [handle for handle, owner in owners.items() if owner == victim]
            assert orphaned and len(orphaned) < len(HANDLES) + 1, owners
            await monitors[0].kill()
            # Another event in each channel (a number apiece): copies would edit one alert.
            # From 2 on: «один» counts as 1, so «1-й» after «0-й» would bring no new number.
            late = {
                f"https://t.me/{h}/{tme.add_post(h, f'Ещё один визит, {n + 2}-й')}"
                for n, h in enumerate(orphaned)
            }
            await _wait_alerts(api, subscribers, late)
            survivor = await _process_id(store, monitors[1])
            assert set((await store.leases.owners("web", seconds=LEASE_SECONDS)).values()) == {
                survivor
            }
            await asyncio.sleep(2 * POLL_SECONDS + 1)  # time for a wrong second alert

            # The survivor is a healthy monitor (no bot of its own) holding every channel.
            async with aiohttp.ClientSession() as session:
                scrape = Scraper(session, port)
                health = await scrape.wait_health(200, "a monitor")
                samples = await scrape.wait_metrics(
                    lambda s: (
                        value(s, "chanwatch_channels_held", source="web") == len(HANDLES) + 1
                    ),
                    "every web channel held",
                )
            assert "no bot in this process (role monitor)" in health, health
            assert "leases" in health and "web" in health, health
            assert value(samples, "chanwatch_posts_ingested_total", source="web") > 0
        finally:
            await store.close()
            for process in (*monitors, bot):
                if process.process is not None:
                    await process.stop()
        for chat in subscribers:
            alerts = _alerts(api, chat)
            assert set(alerts) == first | sanctions | fresh | late, sorted(alerts)
            assert set(alerts.values()) == {1}, alerts  # nothing alerted twice
        assert monitors[1].exit_codes == [0] and bot.exit_codes == [0]
        for monitor in monitors:
            assert "Traceback" not in monitor.log_text()


async def _process_id(store: Store, app: Chanwatch) -> int:
    assert app.process is not None
    pid = app.process.pid
    return next(p.id for p in await store.processes.live(60) if p.pid == pid)


async def _wait_shared(store: Store, monitors: list[Chanwatch]) -> None:
    """Until both monitors hold some of the channels and together all of them."""
    async with asyncio.timeout(30):
        while True:
            owners = await store.leases.owners("web", seconds=LEASE_SECONDS)
            ids = {await _process_id(store, monitor) for monitor in monitors}
            if len(owners) == len(HANDLES) and set(owners.values()) == ids:
                return
            await asyncio.sleep(0.2)


async def _wait_first_sight(store: Store, handle: str) -> None:
    """Until the channel's first read is stored (its old posts are history from then on)."""
    async with asyncio.timeout(30):
        while await store.channels.last_post_id(handle) is None:  # noqa: ASYNC110 (a database)
            await asyncio.sleep(0.1)


async def test_a_monitor_process_tells_operators_in_their_language_without_loading_aiogram(
    tmp_path: Path, postgres_url: str
) -> None:
    # A monitor has no bot: it queues an operator's notice for the bot process, made in the
    # operator's language, and never imports the bot library (seconds and a hundred MB).
    async with FakeBotAPI() as api, TmeServer() as tme:
        tme.add_channel("pul_1")
        config = write_config(tmp_path, api, tme, database_url=postgres_url)
        store = await Store.open(postgres_url)
        monitor = Chanwatch(
            config,
            api,
            tmp_path / "monitor.log",
            role="monitor",
            env={"PYTHONPROFILEIMPORTTIME": "1"},
        )
        try:
            await store.subscribers.ensure(
                OPERATOR,
                chat_type="private",
                title=None,
                digest_time="09:00",
                timezone="Europe/Moscow",
                language="ru",
            )
            await monitor.start(polling=False, timeout=START)
            await tme.wait_served(["pul_1"])
            tme.fail("pul_1", status=503, times=1000)
            for _ in range(300):
                notices = [r for r in await store.outbox.for_chat(OPERATOR) if r.kind == "notice"]
                if notices:
                    break
                await asyncio.sleep(0.1)
            assert [n.text.split(":")[0] for n in notices] == ["⚠️ Канал <b>pul_1</b> не читается"]
            imported = re.findall(r"import time:.*\|\s*(\S+)$", monitor.log_text(), re.MULTILINE)
            assert "monitor.sources.web" in imported  # the profile is there…
            assert [name for name in imported if name.startswith("aiogram")] == []
        finally:
            if monitor.process is not None:
                await monitor.stop()
            await store.close()
