"""The bot side of a cluster, as subprocesses on PostgreSQL: one `monitor` process reads the
channels, `bot` processes elect one that polls and sends, the fake Bot API is Telegram.

Waits are bounded by timeouts, never asserted durations: a wake-up test that would pass by
the safety poll instead waits less than that poll's interval (DELIVERY_POLL)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import aiohttp

from storage import Store
from tests.conftest import PostgresServer
from tests.e2e_harness import OPERATOR, Chanwatch, alerts_to, ask, subscribe, write_config
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.tme_server import TmeServer

CHAT: Final = 5
DELIVERY_POLL: Final = 30.0
"""The bot's safety poll (bot.delivery.Delivery's poll_interval): an alert that arrives well
within it after its post was published was woken by the monitor's notification."""
WAKE_TIMEOUT: Final = DELIVERY_POLL / 2
ELECTED: Final = "bot office: elected"
STANDING_BY: Final = "standing by"
LOST: Final = "bot office lost"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Node:
    """One chanwatch process of the cluster, with its own folder, log and health port."""

    def __init__(
        self, root: Path, name: str, role: str, api: FakeBotAPI, tme: TmeServer, url: str
    ) -> None:
        folder = root / name
        folder.mkdir()
        self.port = _free_port()
        config = write_config(
            folder,
            api,
            tme,
            database_url=url,
            extra=f'[metrics]\nlisten = "127.0.0.1:{self.port}"\n',
        )
        self.app = Chanwatch(config, api, folder / "stderr.log", role=role)

    async def office(self) -> float:
        """The process's `chanwatch_bot_office` gauge."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{self.port}/metrics") as response,
        ):
            text = await response.text()
        (line,) = [line for line in text.splitlines() if line.startswith("chanwatch_bot_office ")]
        return float(line.split()[1])

    async def health(self) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{self.port}/healthz") as response,
        ):
            return response.status, await response.text()


@asynccontextmanager
async def cluster(
    root: Path, api: FakeBotAPI, tme: TmeServer, url: str, bots: int
) -> AsyncIterator[tuple[Node, list[Node]]]:
    """A started monitor and `bots` bot processes: the first elected, the others standing by."""
    monitor = Node(root, "monitor", "monitor", api, tme, url)
    nodes = [Node(root, f"bot-{n}", "bot", api, tme, url) for n in range(1, bots + 1)]
    async with AsyncExitStack() as stack:
        for node in (monitor, *nodes):
            stack.push_async_callback(_stop, node.app)
        await monitor.app.start(polling=False)
        await nodes[0].app.start()
        await nodes[0].app.wait_for_log(ELECTED)
        for node in nodes[1:]:
            await node.app.start(polling=False)
            await node.app.wait_for_log(STANDING_BY)
        yield monitor, nodes


def _pid(node: Node) -> int:
    assert node.app.process is not None
    return node.app.process.pid


async def _stop(app: Chanwatch) -> None:
    if app.process is not None:
        await app.stop()


async def test_a_match_from_a_monitor_process_wakes_the_bot_process_at_once(
    tmp_path: Path, postgres_url: str, postgres_server: PostgresServer
) -> None:
    async with FakeBotAPI() as api, TmeServer() as tme:
        tme.add_channel("pul_1", "Пул Первого")
        tme.add_post("pul_1", "Старый пост про визит")
        async with cluster(tmp_path, api, tme, postgres_url, bots=1) as (monitor, (bot,)):
            await tme.wait_served(["pul_1"])
            await subscribe(api, CHAT)
            # Each wait is shorter than the bot's safety poll: only the notification from the
            # monitor process can have woken it in time.
            tme.add_post("pul_1", "Первый визит")  # post 2
            await _alerted(api, 2)
            tme.add_post("pul_1", "Второй визит")  # post 3
            await _alerted(api, 3)
            assert "post matched channel=pul_1" in monitor.app.log_text()
            assert "post matched" not in bot.app.log_text()

            # The database restarts, as far as chanwatch can tell: every session ends. First
            # the sends are recorded, so that none is in flight (that one could be repeated).
            await _nothing_owed(postgres_url)
            _end_sessions(postgres_server, postgres_url, None)
            await bot.app.wait_for_log(LOST)
            await bot.app.wait_for_log(ELECTED, count=2, timeout=WAKE_TIMEOUT)
            tme.add_post("pul_1", "Третий визит")  # post 4
            await _alerted(api, 4)
            assert "/subscribe" in await ask(api, CHAT, "/help")
            await asyncio.sleep(1.5)  # time for a wrong second alert to show up
            alerts = alerts_to(api, CHAT, "pul_1")
    assert [sum(_link(n) in alert for alert in alerts) for n in (2, 3, 4)] == [1, 1, 1], alerts


async def test_one_bot_process_polls_and_a_standby_takes_over_when_it_is_cut_off_or_killed(
    tmp_path: Path, postgres_url: str, postgres_server: PostgresServer
) -> None:
    async with FakeBotAPI() as api, TmeServer() as tme:
        tme.add_channel("pul_1", "Пул Первого")
        tme.add_post("pul_1", "Старый пост про визит")
        async with cluster(tmp_path, api, tme, postgres_url, bots=2) as (_, (first, second)):
            await tme.wait_served(["pul_1"])
            await subscribe(api, CHAT)
            status, body = await second.health()
            assert (status, body.split(",")[0]) == (200, "ok: standby"), body
            status, body = await first.health()
            assert status == 200 and "Bot API last answered" in body, body
            tme.add_post("pul_1", "Первый визит")  # post 2
            await _alerted(api, 2)
            # Both processes ran all along and no poll was cut off by another one (409).
            polls = api.calls_of("getUpdates")
            assert polls and all(call.status == 200 for call in polls)
            assert STANDING_BY not in first.app.log_text()
            assert ELECTED not in second.app.log_text()
            stats = await ask(api, OPERATOR, "/stats")
            assert f"pid {_pid(first)}: active bot" in stats, stats
            assert f"pid {_pid(second)}: standby bot" in stats, stats
            assert "<code>monitor</code>" in stats, stats
            assert (await first.office(), await second.office()) == (1, 0)
            # Jobs run once per cluster: only by the office holder.
            assert "retention: next pass" in first.app.log_text()
            assert "retention: next pass" not in second.app.log_text()

            # The first loses the connection that holds the office (as when its network
            # fails): it stops polling and sending and stands by; the second takes over.
            _end_sessions(postgres_server, postgres_url, "chanwatch bot leader")
            await first.app.wait_for_log(LOST)
            await second.app.wait_for_log(ELECTED)
            # Polling stopped before the term was given up, and did not start again.
            before, after = first.app.log_text().split(LOST, 1)
            assert "Polling stopped" in before.rsplit("Start polling", 1)[1]
            assert "Start polling" not in after
            tme.add_post("pul_1", "Второй визит")  # post 3
            await _alerted(api, 3)
            assert "/subscribe" in await ask(api, CHAT, "/help")
            assert f"pid {_pid(second)}: active bot" in await ask(api, OPERATOR, "/stats")
            status, body = await first.health()
            assert (status, body.split(",")[0]) == (200, "ok: standby"), body
            assert (await first.office(), await second.office()) == (0, 1)
            assert "retention: next pass" in second.app.log_text()

            # kill -9 of the office holder: the first takes the office back, and sends what
            # was stored while nobody held it.
            await second.app.kill()
            tme.add_post("pul_1", "Третий визит")  # post 4
            tme.add_post("pul_1", "Четвёртый визит")  # post 5
            await first.app.wait_for_log(ELECTED, count=2)
            await _alerted(api, 4, 5)
            assert "/subscribe" in await ask(api, CHAT, "/help")
            status, body = await first.health()
            assert status == 200 and "standby" not in body, body
            assert f"pid {_pid(first)}: active bot" in await ask(api, OPERATOR, "/stats")
            assert await first.office() == 1
            tme.add_post("pul_1", "Пятый визит")  # post 6
            await _alerted(api, 6)
            await asyncio.sleep(1.5)  # time for a wrong second alert to show up
            alerts = alerts_to(api, CHAT, "pul_1")
    counts = {n: sum(_link(n) in alert for alert in alerts) for n in range(2, 7)}
    # Every post alerted once; post 3's alert may have been the send in flight at the kill:
    # accepted by Telegram, not yet recorded as sent, so sent again by the new office holder
    # (the one repeat the outbox allows). The first, cut off, recorded its sends before it
    # stepped down, so post 2 is never repeated.
    assert counts[3] in (1, 2), alerts
    assert {**counts, 3: 1} == dict.fromkeys(range(2, 7), 1), alerts
    assert "Traceback" not in first.app.log_text()


def _link(post: int) -> str:
    return f'href="https://t.me/pul_1/{post}"'


async def _alerted(api: FakeBotAPI, *posts: int) -> None:
    """Wait until every post in `posts` was alerted to CHAT."""

    def done() -> bool:
        alerts = alerts_to(api, CHAT, "pul_1")
        return all(any(_link(post) in alert for alert in alerts) for post in posts)

    await api.wait_until(done, f"alerted posts {posts}", timeout=WAKE_TIMEOUT)


async def _nothing_owed(url: str) -> None:
    """Wait until the outbox has no message pending (every send recorded)."""
    store = await Store.open(url)
    try:
        async with asyncio.timeout(WAKE_TIMEOUT):
            while await store.outbox.pending_count():  # noqa: ASYNC110 (state in the database)
                await asyncio.sleep(0.05)
    finally:
        await store.close()


def _end_sessions(server: PostgresServer, url: str, application: str | None) -> None:
    """Terminate the database's sessions named `application` (pg_stat_activity), or all."""
    name = urlsplit(url).path[1:]
    which = f"AND application_name = '{application}'" if application else ""
    server.admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid() {which}"
    )
