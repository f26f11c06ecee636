"""The story detector's catch-up on posts that other processes stored: read in each
delivery's turn only while another process may be storing posts. Alone, a process's own saves keep
the detector current without reading anything back; a gap in the ids its saves get (an
import beside it) brings the catch-up back for the next delivery. Both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Final

from monitor.ingest import Ingest, SilentListener
from monitor.sources.base import IncomingPost
from storage import Location, Store
from storage.posts import Filing
from tests.test_stories_live import BASE, OTHER_EVENT

CHANNELS: Final = ("chan_a", "chan_b", "chan_c", "chan_d")
UNRELATED: Final = (
    "В Новосибирске открылся новый мост через Обь: по нему пустили шесть полос движения, "
    "строительство заняло четыре года и обошлось городу в сорок миллиардов рублей.",
    "Сборная по хоккею выиграла товарищеский матч у команды Белоруссии со счётом 5:2, "
    "две шайбы забросил дебютант, сообщает пресс-служба федерации.",
)
START: Final = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


async def prepared(database: Location) -> Store:
    store = await Store.open(database)
    for handle in CHANNELS:
        await store.channels.add(handle, "web")
        await store.posts.save(handle, [], history=True)  # first sight: later posts are live
    return store


def counting(store: Store) -> list[int]:
    """Counts the catch-up's reads of stored posts (the store's own turns, their reads
    wrapped)."""
    calls: list[int] = []
    turn: Callable[[], AbstractAsyncContextManager[Filing]] = store.posts.filing

    @asynccontextmanager
    async def filing() -> AsyncIterator[Filing]:
        async with turn() as opened:
            read = opened.stored_after

            async def stored_after(post: int, limit: int = 1000) -> list[tuple[int, str, int]]:
                calls.append(post)
                return await read(post, limit)

            opened.stored_after = stored_after  # type: ignore[method-assign]
            yield opened

    store.posts.filing = filing  # type: ignore[method-assign]
    return calls


async def deliver(ingest: Ingest, channel: str, post_id: int, text: str) -> None:
    date = START + timedelta(minutes=post_id - 100)
    await ingest.handle_posts([IncomingPost(channel, post_id, date, text)], history=False)


async def story_of(store: Store, channel: str, post_id: int) -> int | None:
    row = await store.db.fetchone(
        "SELECT p.story FROM posts p JOIN channels c ON c.id = p.channel_id "
        "WHERE c.handle = ? AND p.post_id = ?",
        (channel, post_id),
    )
    assert row is not None, (channel, post_id)
    return row["story"]


async def row_id(store: Store, channel: str, post_id: int) -> int:
    row = await store.db.fetchone(
        "SELECT p.id FROM posts p JOIN channels c ON c.id = p.channel_id "
        "WHERE c.handle = ? AND p.post_id = ?",
        (channel, post_id),
    )
    assert row is not None, (channel, post_id)
    return int(row["id"])


async def test_alone_copies_are_grouped_without_reading_stored_posts_back(
    database: Location,
) -> None:
    store = await prepared(database)
    try:
        ingest = await Ingest.open(store, SilentListener(), story_window_hours=24, others=False)
        calls = counting(store)
        await deliver(ingest, "chan_a", 101, BASE)
        await deliver(ingest, "chan_c", 102, UNRELATED[0])
        await deliver(ingest, "chan_b", 103, BASE + " Подписывайтесь на канал!")
        await deliver(ingest, "chan_d", 104, OTHER_EVENT)
        assert await story_of(store, "chan_b", 103) == await row_id(store, "chan_a", 101)
        assert await story_of(store, "chan_c", 102) is None
        assert await story_of(store, "chan_d", 104) is None
        assert calls == []
    finally:
        await store.close()


async def test_beside_another_process_its_posts_are_read_before_each_delivery(
    database: Location,
) -> None:
    store = await prepared(database)
    try:
        here = await Ingest.open(store, SilentListener(), story_window_hours=24, others=True)
        other = await Ingest.open(store, SilentListener(), story_window_hours=24, others=True)
        calls = counting(store)
        await deliver(here, "chan_c", 101, UNRELATED[0])
        await deliver(other, "chan_a", 102, BASE)
        await deliver(here, "chan_b", 103, BASE + " Подписывайтесь на канал!")
        assert await story_of(store, "chan_b", 103) == await row_id(store, "chan_a", 102)
        # The last catch-up read what was stored after this process's own post, not that
        # post again: its save's id followed what the detector had seen.
        assert calls[-1] == await row_id(store, "chan_c", 101)
    finally:
        await store.close()


async def test_alone_a_gap_in_its_ids_brings_in_what_was_stored_beside_it(
    database: Location,
) -> None:
    """An import beside `chanwatch run` stores a post: the process's next save gets ids
    after it, which shows the gap, and the delivery after that reads the post in."""
    store = await prepared(database)
    try:
        ingest = await Ingest.open(store, SilentListener(), story_window_hours=24, others=False)
        importer = await Ingest.open(store, SilentListener())  # no stories, as an import
        calls = counting(store)
        await deliver(ingest, "chan_c", 101, UNRELATED[0])
        await deliver(importer, "chan_a", 102, BASE)
        assert calls == []
        await deliver(ingest, "chan_d", 103, UNRELATED[1])
        await deliver(ingest, "chan_b", 104, BASE + " Подписывайтесь на канал!")
        assert len(calls) == 1
        assert await story_of(store, "chan_b", 104) == await row_id(store, "chan_a", 102)
        await deliver(ingest, "chan_c", 105, OTHER_EVENT)
        assert len(calls) == 1  # caught up: alone again
    finally:
        await store.close()


async def test_a_delivery_spanning_channels_groups_a_copy_of_a_post_in_it(
    database: Location,
) -> None:
    """A delivery of several channels' posts is stored in one transaction, channel after
    channel: a copy in it finds its first post, stored just before it in the same one."""
    store = await prepared(database)
    try:
        ingest = await Ingest.open(store, SilentListener(), story_window_hours=24, others=False)
        await ingest.handle_posts(
            [
                IncomingPost("chan_b", 7, START + timedelta(minutes=2), BASE + " Подписывайтесь!"),
                IncomingPost("chan_c", 8, START + timedelta(minutes=3), UNRELATED[1]),
                IncomingPost("chan_a", 5, START + timedelta(minutes=1), BASE),
            ],
            history=False,
        )
        assert await story_of(store, "chan_b", 7) == await row_id(store, "chan_a", 5)
        assert await story_of(store, "chan_a", 5) is None
        assert await story_of(store, "chan_c", 8) is None
        assert [await store.channels.last_post_id(handle) for handle in CHANNELS] == [5, 7, 8, 0]
    finally:
        await store.close()


async def test_after_a_restart_a_copy_joins_the_story_stored_not_the_one_decided_again(
    database: Location,
) -> None:
    """One delivery is judged channel after channel, so chan_a's post starts the story that
    chan_b's earlier-dated copy joins. The detector rebuilt at a restart decides again in
    date order and finds chan_b's post first; a later copy must still be stored in the story
    stored before (the one chats were alerted of), not in one of chan_b's."""
    store = await prepared(database)
    try:
        ingest = await Ingest.open(store, SilentListener(), story_window_hours=24, others=False)
        await ingest.handle_posts(
            [
                IncomingPost("chan_a", 101, START + timedelta(minutes=5), BASE),
                IncomingPost("chan_b", 201, START + timedelta(minutes=1), BASE),
            ],
            history=False,
        )
        first = await row_id(store, "chan_a", 101)
        assert await story_of(store, "chan_a", 101) is None
        assert await story_of(store, "chan_b", 201) == first

        restarted = await Ingest.open(store, SilentListener(), story_window_hours=24, others=False)
        await restarted.handle_posts(
            [IncomingPost("chan_c", 301, START + timedelta(minutes=9), BASE)], history=False
        )
        assert await story_of(store, "chan_c", 301) == first
    finally:
        await store.close()
