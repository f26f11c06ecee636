"""Processes and leases in the database, on both backends (see tests/conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from monitor.leases import LeaseKeeper, share
from storage import Location, Store
from storage.database import now_utc
from storage.models import ProcessInfo

HANDLES = [f"chan_{n:02d}" for n in range(10)]


@pytest.fixture
async def store(database: Location) -> AsyncIterator[Store]:
    opened = await Store.open(database)
    await opened.channels.sync_config([(handle, "web") for handle in HANDLES])
    await opened.channels.sync_config(
        [(handle, "web") for handle in HANDLES] + [("tg_one", "telegram")]
    )
    yield opened
    await opened.close()


async def test_processes_register_beat_and_retire(store: Store) -> None:
    monitor = await store.processes.register("monitor", "host-a", 101, capacity=500)
    bot = await store.processes.register("bot", "host-b", 202)
    assert await store.processes.heartbeat(monitor, channels=7)
    live = await store.processes.live(30)
    assert [(p.role, p.host, p.pid, p.channels, p.capacity) for p in live] == [
        ("bot", "host-b", 202, 0, 0),
        ("monitor", "host-a", 101, 7, 500),
    ]
    assert live[1].heartbeat_at >= live[1].started_at
    assert live[0].office is None
    await store.processes.set_office(bot, "bot")
    assert [p.office for p in await store.processes.live(30)] == ["bot", None]
    await store.processes.retire(bot)
    assert [p.id for p in await store.processes.live(30)] == [monitor]
    assert not await store.processes.heartbeat(bot)


async def test_a_process_whose_heartbeat_is_stale_is_not_live(store: Store) -> None:
    process = await store.processes.register("monitor", "host-a", 101)
    await asyncio.sleep(1.1)
    assert await store.processes.live(0) == []
    assert [p.id for p in await store.processes.live(30)] == [process]


async def test_two_monitors_share_the_web_channels_without_overlap(store: Store) -> None:
    first = await store.processes.register("monitor", "a", 1, capacity=100)
    second = await store.processes.register("monitor", "b", 2, capacity=100)
    mine = await store.leases.hold_channels(first, "web", want=5, seconds=30)
    theirs = await store.leases.hold_channels(second, "web", want=8, seconds=30)
    assert mine == HANDLES[:5]
    assert theirs == HANDLES[5:]  # only 5 were left; the telegram channel is not a web one
    # Renewing keeps the same channels; asking for fewer gives the newest back.
    assert await store.leases.hold_channels(first, "web", want=5, seconds=30) == mine
    assert await store.leases.hold_channels(first, "web", want=3, seconds=30) == HANDLES[:3]
    assert await store.leases.unheld("web", seconds=30) == 2
    assert await store.leases.hold_channels(second, "web", want=7, seconds=30) == HANDLES[3:]
    owners = await store.leases.owners("web", seconds=30)
    assert owners == {handle: first if handle in HANDLES[:3] else second for handle in HANDLES}
    assert await store.leases.channel_count("web") == 10


async def test_expired_leases_are_taken_over(store: Store) -> None:
    dead = await store.processes.register("monitor", "a", 1, capacity=100)
    heir = await store.processes.register("monitor", "b", 2, capacity=100)
    held = await store.leases.hold_channels(dead, "web", want=10, seconds=1)
    assert held == HANDLES
    assert await store.leases.hold_channels(heir, "web", want=10, seconds=1) == []
    await asyncio.sleep(2.1)  # heartbeats are recorded to the second
    assert await store.leases.unheld("web", seconds=1) == 10
    assert await store.leases.hold_channels(heir, "web", want=10, seconds=1) == HANDLES
    # The dead one waking up late has nothing left to renew.
    assert await store.leases.hold_channels(dead, "web", want=10, seconds=1) == []


async def test_a_stalled_owner_keeps_expired_leases_nobody_took(store: Store) -> None:
    owner = await store.processes.register("monitor", "a", 1, capacity=100)
    await store.leases.hold_channels(owner, "web", want=4, seconds=1)
    await asyncio.sleep(2.1)
    assert await store.leases.owners("web", seconds=1) == {}
    assert await store.leases.hold_channels(owner, "web", want=4, seconds=1) == HANDLES[:4]
    assert set((await store.leases.owners("web", seconds=1)).values()) == {owner}


async def test_renewing_writes_the_heartbeat_not_every_lease(store: Store) -> None:
    owner = await store.processes.register("monitor", "a", 1, capacity=100)
    await store.leases.hold_channels(owner, "web", want=10, seconds=30)
    [before] = await store.processes.live(30)
    await asyncio.sleep(1.1)
    await store.leases.hold_channels(owner, "web", want=10, seconds=30)
    [after] = await store.processes.live(30)
    assert after.heartbeat_at > before.heartbeat_at


async def test_a_forgotten_process_holds_nothing(store: Store) -> None:
    owner = await store.processes.register("monitor", "a", 1, capacity=100)
    await store.processes.retire(owner)
    assert await store.leases.hold_channels(owner, "web", want=10, seconds=30) == []
    assert await store.leases.hold_accounts(owner, ["main"], seconds=30) == []


async def test_retiring_frees_the_leases_at_once(store: Store) -> None:
    leaving = await store.processes.register("monitor", "a", 1, capacity=100)
    staying = await store.processes.register("monitor", "b", 2, capacity=100)
    await store.leases.hold_channels(leaving, "web", want=10, seconds=30)
    await store.processes.retire(leaving)
    assert await store.leases.hold_channels(staying, "web", want=10, seconds=30) == HANDLES


async def test_removed_channels_drop_out_of_leases(store: Store) -> None:
    owner = await store.processes.register("monitor", "a", 1, capacity=100)
    await store.leases.hold_channels(owner, "web", want=10, seconds=30)
    await store.channels.remove("chan_03")
    held = await store.leases.hold_channels(owner, "web", want=10, seconds=30)
    assert "chan_03" not in held and len(held) == 9


async def test_an_account_runs_in_one_process_at_a_time(store: Store) -> None:
    await store.accounts.sync_config(["main", "spare"], 450)
    first = await store.processes.register("monitor", "a", 1)
    second = await store.processes.register("monitor", "b", 2)
    assert await store.leases.hold_accounts(first, ["main"], seconds=30) == ["main"]
    assert await store.leases.hold_accounts(second, ["MAIN", "spare"], seconds=30) == ["spare"]
    assert await store.leases.account_owners(seconds=30) == {"main": first, "spare": second}
    assert await store.leases.hold_accounts(first, ["main"], seconds=30) == ["main"]
    # Given back when no longer wanted, then the other may take it.
    assert await store.leases.hold_accounts(first, [], seconds=30) == []
    assert await store.leases.hold_accounts(second, ["main", "spare"], seconds=30) == [
        "main",
        "spare",
    ]


async def test_concurrent_claims_never_share_a_channel(store: Store) -> None:
    owners = [await store.processes.register("monitor", "h", n, capacity=100) for n in range(4)]
    results = await asyncio.gather(
        *(store.leases.hold_channels(owner, "web", want=4, seconds=30) for owner in owners)
    )
    claimed = [handle for held in results for handle in held]
    assert len(claimed) == len(set(claimed)) == 10


async def test_a_lease_keeper_woken_as_it_is_stopped_stops(store: Store) -> None:
    # A wake-up and the stop in one turn of the event loop: the stop must win, or the
    # process never exits.
    owner = await store.processes.register("monitor", "host-a", 101, capacity=5)
    keeper = LeaseKeeper(store, owner, lease_seconds=30, capacity=5)
    await keeper.hold()
    task = asyncio.create_task(keeper.run())
    await asyncio.sleep(0.2)  # waiting for the next renewal
    keeper.wake()
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    assert task.cancelled()


def _process(process_id: int, capacity: int) -> ProcessInfo:
    now = now_utc()
    return ProcessInfo(process_id, "monitor", "h", process_id, now, now, 0, capacity)


def test_shares_are_even_and_capped_by_capacity() -> None:
    even = [_process(1, 100), _process(2, 100)]
    assert [share(20, even, me) for me in (1, 2)] == [10, 10]
    assert [share(21, even, me) for me in (1, 2)] == [11, 11]
    uneven = [_process(1, 5), _process(2, 100), _process(3, 100)]
    assert [share(20, uneven, me) for me in (1, 2, 3)] == [5, 8, 8]
    full = [_process(1, 5), _process(2, 6)]
    assert [share(20, full, me) for me in (1, 2)] == [5, 6]
    assert share(0, even, 1) == 0
