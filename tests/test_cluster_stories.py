"""Stories across processes: two `chanwatch run` pipelines on one database, each with its own
story detector, storing posts at the same instant. Two copies of a new story make one story
(one alert), whichever is stored first; two different events stay two. Both backends: on
PostgreSQL the two stores are two connection pools, as two processes would have."""

from __future__ import annotations

import asyncio
import sys
from asyncio.subprocess import Process
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Final

import asyncpg
import pytest

from monitor.ingest import Ingest, SilentListener
from monitor.sources.base import IncomingPost
from storage import Location, Store
from storage.errors import StorageBusy, StorageError
from storage.posts import Filing

ROUNDS: Final = 50
START: Final = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
CITIES: Final = ("Новосибирске", "Казани", "Самаре", "Перми", "Уфе", "Омске", "Томске", "Туле")


def news(n: int) -> str:
    """Round n's event: another city, another school, other figures (another story)."""
    return (
        f"В {CITIES[n % len(CITIES)]} открыли новую школу на {400 + 25 * n} мест: её строили "
        f"{n % 4 + 2} года, на строительство из бюджета выделили {1000 + 37 * n} миллионов "
        "рублей, сообщили в администрации города."
    )


def copy(n: int) -> str:
    return news(n) + " Подписывайтесь на наш канал!"


def other(n: int) -> str:
    """An event of round n that is no copy of `news(n)`."""
    return (
        f"Сборная по хоккею выиграла товарищеский матч со счётом {n % 7 + 3}:{n % 3}, на "
        f"трибунах собрались {5000 + 113 * n} зрителей, сообщает пресс-служба федерации."
    )


@pytest.fixture
async def stores(database: Location) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database, its channels read once (later posts are live)."""
    first = await Store.open(database)
    second = await Store.open(database)
    try:
        for handle in ("chan_a", "chan_b", "chan_c"):
            await first.channels.add(handle, "web")
            await first.posts.save(handle, [], history=True)
        yield first, second
    finally:
        await second.close()
        await first.close()


async def pipelines(stores: tuple[Store, Store]) -> tuple[Ingest, Ingest]:
    """One pipeline per store, each with its own detector, as `chanwatch run` on PostgreSQL
    opens them."""
    here, there = stores
    return (
        await Ingest.open(here, SilentListener(), story_window_hours=24, others=True),
        await Ingest.open(there, SilentListener(), story_window_hours=24, others=True),
    )


async def at_once(*deliveries: tuple[Ingest, IncomingPost]) -> None:
    """Hand each pipeline its post at the same moment (none starts before all are ready)."""
    barrier = asyncio.Barrier(len(deliveries))

    async def deliver(ingest: Ingest, post: IncomingPost) -> None:
        await barrier.wait()
        await ingest.handle_posts([post], history=False)

    await asyncio.gather(*(deliver(ingest, post) for ingest, post in deliveries))


async def stories(store: Store, channel: str) -> dict[int, tuple[int, int | None]]:
    """By post id: the channel's posts' row id and stored story."""
    rows = await store.db.fetchall(
        "SELECT p.id, p.post_id, p.story FROM posts p JOIN channels c ON c.id = p.channel_id "
        "WHERE c.handle = ?",
        (channel,),
    )
    return {row["post_id"]: (row["id"], row["story"]) for row in rows}


async def test_copies_stored_at_once_by_two_processes_make_one_story(
    stores: tuple[Store, Store],
) -> None:
    here, there = await pipelines(stores)
    for n in range(ROUNDS):
        date = START + timedelta(minutes=n)
        await at_once(
            (here, IncomingPost("chan_a", n + 1, date, news(n))),
            (there, IncomingPost("chan_b", n + 1, date + timedelta(seconds=30), copy(n))),
        )
    a, b = await stories(stores[0], "chan_a"), await stories(stores[0], "chan_b")
    apart = []
    for n in range(1, ROUNDS + 1):
        (a_id, a_story), (b_id, b_story) = a[n], b[n]
        # Whichever was stored first starts the story; the other joins it.
        if (a_story, b_story) not in ((None, a_id), (b_id, None)):
            apart.append(n)
    assert apart == [], f"{len(apart)} of {ROUNDS} rounds made two stories: {apart}"


async def test_different_events_stored_at_once_by_two_processes_stay_two_stories(
    stores: tuple[Store, Store],
) -> None:
    here, there = await pipelines(stores)
    for n in range(ROUNDS):
        date = START + timedelta(minutes=n)
        await at_once(
            (here, IncomingPost("chan_a", n + 1, date, news(n))),
            (there, IncomingPost("chan_c", n + 1, date + timedelta(seconds=30), other(n))),
        )
    a, c = await stories(stores[0], "chan_a"), await stories(stores[0], "chan_c")
    assert len(a) == len(c) == ROUNDS
    assert {story for _, story in a.values()} == {None}
    assert {story for _, story in c.values()} == {None}


async def test_a_copy_delivered_later_by_either_process_joins_the_story(
    stores: tuple[Store, Store],
) -> None:
    """After the race, each process's detector knows the story, whichever process stored
    its first post: a third copy, through either pipeline, joins it."""
    here, there = await pipelines(stores)
    date = START
    await at_once(
        (here, IncomingPost("chan_a", 1, date, news(0))),
        (there, IncomingPost("chan_b", 1, date + timedelta(seconds=30), copy(0))),
    )
    await here.handle_posts(
        [IncomingPost("chan_c", 1, date + timedelta(minutes=1), copy(0))], history=False
    )
    await there.handle_posts(
        [IncomingPost("chan_c", 2, date + timedelta(minutes=2), news(0))], history=False
    )
    a, b, c = [await stories(stores[0], ch) for ch in ("chan_a", "chan_b", "chan_c")]
    first = a[1][0] if a[1][1] is None else b[1][0]
    assert {a[1][1], b[1][1]} == {None, first}
    assert c[1][1] == c[2][1] == first


REFUSING: Final = """
CREATE TABLE refusing (reason text);
CREATE FUNCTION refuse_posts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM refusing) THEN
        RAISE EXCEPTION 'could not extend file: No space left on device';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_posts BEFORE INSERT ON posts
    FOR EACH ROW EXECUTE FUNCTION refuse_posts();
"""
"""A database that refuses to store posts while `refusing` has a row (a full disk)."""


async def test_a_post_whose_save_failed_joins_the_copy_another_process_stored_meanwhile(
    postgres_url: str,
) -> None:
    """A monitor's save of a new story's first post fails (the database refuses it), another
    monitor stores a copy meanwhile, then the first one's source hands the post again: it
    joins the stored copy's story (one story, one alert), not one decided before that copy
    was stored."""
    admin = await asyncpg.connect(postgres_url)
    here_store, there_store = await Store.open(postgres_url), await Store.open(postgres_url)
    try:
        await admin.execute(REFUSING)
        for handle in ("chan_a", "chan_b"):
            await here_store.channels.add(handle, "web")
            await here_store.posts.save(handle, [], history=True)
        here, there = await pipelines((here_store, there_store))
        first = IncomingPost("chan_a", 1, START, news(0))
        await admin.execute("INSERT INTO refusing VALUES ('full disk')")
        with pytest.raises(StorageError, match="No space left"):
            await here.handle_posts([first], history=False)
        await admin.execute("DELETE FROM refusing")
        copied = IncomingPost("chan_b", 1, START + timedelta(seconds=30), copy(0))
        await there.handle_posts([copied], history=False)
        await here.handle_posts([first], history=False)
        a, b = await stories(here_store, "chan_a"), await stories(here_store, "chan_b")
        assert b[1][1] is None  # the copy, stored first, starts the story
        assert a[1][1] == b[1][0]
    finally:
        await admin.close()
        await there_store.close()
        await here_store.close()


HOLDER: Final = """
import asyncio, sys
from storage import Store

async def main() -> None:
    store = await Store.open(sys.argv[1])
    async with store.posts.filing() as filing:
        await filing.stored_after(0, 1)
        print("in its turn", flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


@asynccontextmanager
async def turn_held(postgres_url: str, script: str = HOLDER) -> AsyncIterator[Process]:
    """Another process (`script`) holding the turn on the database, from when it says so
    until it is killed or the block ends."""
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, postgres_url, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), 60) == b"in its turn\n"
        yield holder
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()


async def waiting_for_the_turn(store: Store) -> None:
    """Returns once a transaction on the store's database waits for an advisory lock."""
    async with asyncio.timeout(20):
        while not await store.db.fetchall(  # noqa: ASYNC110 (waiting on the database)
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ):
            await asyncio.sleep(0.05)


async def stored_once_the_holder_is_killed(
    store: Store, holder: Process, saving: asyncio.Task[None]
) -> None:
    """`saving` (chan_a's post 1) waits for the turn `holder` holds, and is stored once the
    holder is killed: PostgreSQL frees its lock with its connection."""
    await waiting_for_the_turn(store)
    assert not saving.done()  # it waits for the holder's turn
    holder.kill()
    await holder.wait()
    await asyncio.wait_for(saving, 25)
    assert list(await stories(store, "chan_a")) == [1]


async def test_a_process_hung_in_its_turn_is_ended_by_the_server_and_frees_it(
    postgres_url: str,
) -> None:
    """A monitor that hangs in its turn, alive, its connection open (stopped, its event loop
    blocked): the server ends its idle transaction, which frees the turn, and the delivery
    another monitor waits with is stored, long before that one's lock_timeout (30 s)."""
    store = await Store.open(postgres_url)
    hung = HOLDER.replace(
        "from storage import Store",
        "from storage import Store\nimport storage.postgres\n"
        "storage.postgres.IDLE_IN_TRANSACTION_TIMEOUT = '1s'  # 60 s in production",
    )
    try:
        async with turn_held(postgres_url, hung) as holder:
            await store.channels.add("chan_a", "web")
            await store.posts.save("chan_a", [], history=True)
            ingest = await Ingest.open(store, SilentListener(), story_window_hours=24, others=True)
            await asyncio.wait_for(
                ingest.handle_posts([IncomingPost("chan_a", 1, START, news(0))], history=False),
                20,
            )
            assert list(await stories(store, "chan_a")) == [1]
            assert holder.returncode is None  # the process still hangs; only its session ended
    finally:
        await store.close()


async def test_a_process_killed_in_its_turn_does_not_hold_the_others_up(
    postgres_url: str,
) -> None:
    """A monitor killed (SIGKILL) while it holds the turn: its connection ends, PostgreSQL
    frees the lock, and the delivery another monitor was waiting with is stored (it would
    fail after lock_timeout, 30 s, if the lock stayed)."""
    store = await Store.open(postgres_url)
    try:
        async with turn_held(postgres_url) as holder:
            await store.channels.add("chan_a", "web")
            await store.posts.save("chan_a", [], history=True)
            ingest = await Ingest.open(store, SilentListener(), story_window_hours=24, others=True)
            delivery = asyncio.create_task(
                ingest.handle_posts([IncomingPost("chan_a", 1, START, news(0))], history=False)
            )
            await stored_once_the_holder_is_killed(store, holder, delivery)
    finally:
        await store.close()


async def test_grouped_history_is_saved_in_a_turn(postgres_url: str) -> None:
    """An import's or a backfill's posts, grouped by their caller, wait for the turn like a
    monitor's: their ids are handed out and committed inside it, so a monitor's catch-up,
    which reads by id, never passes over a history save still open."""
    store = await Store.open(postgres_url)
    try:
        async with turn_held(postgres_url) as holder:
            await store.channels.add("chan_a", "web")
            importer = await Ingest.open(store, SilentListener())  # as `chanwatch import` does
            saving = asyncio.create_task(
                importer.handle_posts(
                    [IncomingPost("chan_a", 1, START, news(0))], history=True, stories={}
                )
            )
            await stored_once_the_holder_is_killed(store, holder, saving)
    finally:
        await store.close()


async def test_a_turn_held_past_the_lock_timeout_fails_the_deliveries_waiting_at_once(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A monitor stuck in its turn (alive, its connection open): the delivery waiting for it
    fails after the lock timeout, and so do, after one more, all those that queued up behind
    it, together: each tried alone would wait the timeout again, one after the other."""
    monkeypatch.setattr("storage.postgres.LOCK_TIMEOUT", "1s")  # 30 s in production
    store = await Store.open(postgres_url)
    try:
        async with turn_held(postgres_url):
            channels = ("chan_a", "chan_b", "chan_c")
            for handle in channels:
                await store.channels.add(handle, "web")
                await store.posts.save(handle, [], history=True)
            ingest = await Ingest.open(store, SilentListener(), story_window_hours=24, others=True)
            turns = 0
            turn: Callable[[], AbstractAsyncContextManager[Filing]] = store.posts.filing

            @asynccontextmanager
            async def counted() -> AsyncIterator[Filing]:
                nonlocal turns
                turns += 1
                async with turn() as filing:
                    yield filing

            store.posts.filing = counted  # type: ignore[method-assign]
            outcomes = await asyncio.gather(
                *(
                    ingest.handle_posts([IncomingPost(handle, 1, START, news(n))], history=False)
                    for n, handle in enumerate(channels)
                ),
                return_exceptions=True,
            )
            assert [type(outcome) for outcome in outcomes] == [StorageBusy] * 3
            # The first delivery's turn, then one for the two that queued up behind it.
            assert turns == 2
    finally:
        await store.close()
