"""Which Telegram account reads which channel: storage's assignment, on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from storage import Location, Store
from storage.models import UNASSIGNED_FULL, UNASSIGNED_NO_ACCOUNT, Assignment


@pytest.fixture
async def store(database: Location) -> AsyncIterator[Store]:
    store = await Store.open(database)
    try:
        yield store
    finally:
        await store.close()


async def watch(store: Store, *handles: str) -> None:
    for handle in handles:
        await store.channels.add(handle, "telegram")


async def holders(store: Store) -> dict[str, str | None]:
    return {c.handle: c.account for c in await store.channels.watched() if c.source == "telegram"}


async def loads(store: Store) -> dict[str, int]:
    return {a.name: a.channels for a in await store.accounts.configured()}


async def test_five_channels_over_three_accounts_of_two_are_balanced_and_stay(
    store: Store,
) -> None:
    await store.accounts.sync_config(["a", "b", "c"], capacity=2)
    await watch(store, "ch1", "ch2", "ch3", "ch4", "ch5")
    moves = await store.accounts.assign()
    assert sorted((m.handle, m.before) for m in moves) == [(f"ch{n}", None) for n in range(1, 6)]
    assert await loads(store) == {"a": 2, "b": 2, "c": 1}
    before = await holders(store)
    assert await store.accounts.assign() == []  # nothing moves without a reason
    assert await holders(store) == before
    assert await store.accounts.handles("a") == [h for h, a in before.items() if a == "a"]


async def test_a_down_account_hands_over_what_fits_and_the_rest_waits_with_a_reason(
    store: Store,
) -> None:
    await store.accounts.sync_config(["a", "b", "c"], capacity=2)
    await watch(store, "ch1", "ch2", "ch3", "ch4", "ch5")
    await store.accounts.assign()
    held_by_a = await store.accounts.handles("a")
    assert await store.accounts.mark_down("a", "banned") is True
    assert await store.accounts.mark_down("a", "not logged in") is False  # one piece of news
    moves = await store.accounts.assign()
    assert sorted(m.handle for m in moves) == sorted(held_by_a)
    assert {m.before for m in moves} == {"a"}
    moved = [m for m in moves if m.after is not None]
    stranded = [m for m in moves if m.after is None]
    assert len(moved) == 1 and moved[0].after == "c"  # the only account with room
    assert len(stranded) == 1 and stranded[0].unassigned == UNASSIGNED_FULL
    channel = await store.channels.get(stranded[0].handle)
    assert channel is not None and (channel.account, channel.unassigned) == (None, "full")
    [down] = [a for a in await store.accounts.configured() if a.name == "a"]
    assert (down.working, down.down_reason, down.channels) == (False, "banned", 0)

    # Room appears when a channel is removed: the waiting channel takes it.
    await store.channels.remove(moved[0].handle)
    assert await store.accounts.assign() == [
        Assignment(stranded[0].handle, before=None, after="c", unassigned=None)
    ]
    for name in ("b", "c"):
        await store.accounts.mark_down(name, "banned")
    assert {m.unassigned for m in await store.accounts.assign()} == {UNASSIGNED_NO_ACCOUNT}
    assert await store.accounts.mark_up("a") is True
    assert await loads(store) == {"a": 0, "b": 0, "c": 0}
    await store.accounts.assign()
    assert await loads(store) == {"a": 2, "b": 0, "c": 0}


async def test_accounts_added_later_take_new_channels_and_existing_ones_stay(
    store: Store,
) -> None:
    await store.accounts.sync_config(["a", "b"], capacity=3)
    await watch(store, "ch1", "ch2", "ch3", "ch4")
    await store.accounts.assign()
    before = await holders(store)
    await store.accounts.sync_config(["a", "b", "c"], capacity=3)
    await watch(store, "ch5", "ch6")
    moves = await store.accounts.assign()
    assert [(m.handle, m.after) for m in moves] == [("ch5", "c"), ("ch6", "c")]
    assert {h: a for h, a in (await holders(store)).items() if h in before} == before


async def test_shrunk_capacity_keeps_the_oldest_and_a_dropped_account_hands_over(
    store: Store,
) -> None:
    await store.accounts.sync_config(["a", "b"], capacity=3)
    await watch(store, "ch1", "ch2", "ch3", "ch4", "ch5", "ch6")
    await store.accounts.assign()
    await store.channels.add("ch2", "web")  # a web channel holds no account
    await store.accounts.assign()
    assert "ch2" not in await store.accounts.handles("a") + await store.accounts.handles("b")

    await store.accounts.sync_config(["a", "b"], capacity=2)
    moves = await store.accounts.assign()
    assert await loads(store) == {"a": 2, "b": 2}
    # The newest channel of the account over its limit; b is full too, so it waits.
    assert moves == [Assignment("ch5", before="a", after=None, unassigned=UNASSIGNED_FULL)]

    await store.accounts.sync_config(["b", "c"], capacity=2)  # "a" left the config
    moves = await store.accounts.assign()
    assert [(m.handle, m.before, m.after) for m in moves] == [
        ("ch1", "a", "c"),
        ("ch3", "a", "c"),
    ]
    assert await loads(store) == {"b": 2, "c": 2}
