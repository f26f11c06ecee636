"""Telegram accounts under leases: two `--role monitor` processes on one PostgreSQL database
never run the same session, and the accounts of one that stops are run by the other.

As in tests/test_telegram_accounts.py, `chanwatch.app.run` runs in the test's event loop
with the in-memory Telegram as its `client_factory` (a subprocess cannot reach it); here two
of them, each with its own stop signal, share the database as two processes would.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from chanwatch.app import run
from chanwatch.config import load_config
from storage import Store
from tests.fakes.bot_api import FakeBotAPI
from tests.test_telegram_accounts import _channel, all_read, telegram_with, until, write_config


def connected(world_account: object) -> int:
    return sum(client.connected for client in world_account.clients)  # type: ignore[attr-defined]


async def test_an_account_runs_in_one_monitor_and_moves_when_that_monitor_stops(
    tmp_path: Path, postgres_url: str
) -> None:
    accounts, handles = ["a", "b"], [f"chan_{n}" for n in range(1, 5)]
    world = telegram_with(tmp_path, accounts, handles)
    async with FakeBotAPI() as api:
        path = write_config(tmp_path, api, accounts, handles, postgres_url)
        with path.open("a", encoding="utf-8") as file:
            file.write("[cluster]\nlease_seconds = 3\n")
        config = load_config(path)
        stops = [asyncio.Event(), asyncio.Event()]
        store = await Store.open(postgres_url)
        first = asyncio.create_task(
            run(config, role="monitor", client_factory=world.client_factory, stop=stops[0])
        )
        second: asyncio.Task[int] | None = None
        try:

            async def one_live() -> bool:
                return len(await store.processes.live(60)) == 1

            await until(one_live, "the first monitor registered")
            await until(lambda: all_read(store), "all channels read by the first monitor")
            [me] = await store.processes.live(60)
            assert await store.leases.account_owners(seconds=3) == {"a": me.id, "b": me.id}
            second = asyncio.create_task(
                run(config, role="monitor", client_factory=world.client_factory, stop=stops[1])
            )

            async def two_live() -> bool:
                return len(await store.processes.live(60)) == 2

            await until(two_live, "the second monitor registered")
            await asyncio.sleep(2)  # a few lease rounds of the second monitor
            # The second one holds no account: each session runs in one process only.
            assert await store.leases.account_owners(seconds=3) == {"a": me.id, "b": me.id}
            assert [connected(world.account(name)) for name in accounts] == [1, 1]

            stops[0].set()
            assert await asyncio.wait_for(first, 15) == 0
            [heir] = await store.processes.live(60)

            async def taken_over() -> bool:
                return await store.leases.account_owners(seconds=3) == {"a": heir.id, "b": heir.id}

            await until(taken_over, "the second monitor took the accounts over")
            post = await world.publish(_channel(world, handles[0]), "Объявлен визит")

            async def stored() -> bool:
                return await store.channels.last_post_id(handles[0]) == post.id

            await until(stored, "the post read by the account in its new process")
            assert [connected(world.account(name)) for name in accounts] == [1, 1]
        finally:
            for stop in stops:
                stop.set()
            for task in (first, second):
                if task is not None:
                    await asyncio.wait_for(task, 15)
            await store.close()
