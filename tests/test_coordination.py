"""Processes sharing a database: notifications after commit, and the bot's election.

Notifications run on both backends; elections that can be lost and won by another process
need PostgreSQL (on SQLite the one process is always elected)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from chanwatch.health import Health
from chanwatch.office import hold_office
from storage import Location, Store, TopicSpec, open_database
from storage.coordination import BOT_OFFICE, DELIVERY, Term
from storage.database import Database
from storage.models import NewMessage
from storage.postgres import PostgresDatabase
from storage.postgres_coordination import PostgresElection
from tests.conftest import PostgresServer
from tests.test_storage import record, visit

WAIT = 10.0


class Heard:
    """What a listener heard, to wait on."""

    def __init__(self) -> None:
        self.notes: list[tuple[str, str | None]] = []
        self._changed = asyncio.Event()

    def __call__(self, channel: str, payload: str | None) -> None:
        self.notes.append((channel, payload))
        self._changed.set()

    async def until(self, count: int) -> list[tuple[str, str | None]]:
        async with asyncio.timeout(WAIT):
            while len(self.notes) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.notes


@pytest.fixture
async def db(database: Location) -> AsyncIterator[Database]:
    opened = await open_database(database)
    yield opened
    await opened.close()


async def test_a_committed_notification_is_heard_and_a_rolled_back_one_is_not(
    db: Database,
) -> None:
    heard = Heard()
    async with db.listen([DELIVERY, "other"], heard):
        with contextlib.suppress(RuntimeError):
            async with db.transaction() as tx:
                await tx.notify(DELIVERY, "rolled back")
                raise RuntimeError("undo")
        async with db.transaction() as tx:
            await tx.notify(DELIVERY, "first")
            await tx.notify("unheard", "x")
        await db.notify("other", "second")
        assert await heard.until(2) == [(DELIVERY, "first"), ("other", "second")]


async def test_storing_a_live_match_or_a_notice_notifies_delivery(database: Location) -> None:
    store = await Store.open(database)
    heard = Heard()
    try:
        await store.topics.sync_config([TopicSpec("visit", ("визит",))])
        await store.channels.sync_config([("pul_1", "web")])
        async with store.db.listen([DELIVERY], heard):
            await store.posts.save("pul_1", [record(1, "визит")], history=False)  # first sight
            await store.posts.save("pul_1", [record(2, "визит", visit())], history=True)
            await store.posts.save("pul_1", [record(3, "визит", visit())], history=False)
            await store.outbox.enqueue(
                [NewMessage(chat_id=1, kind="notice", dedup_key="n", text="t")]
            )
            await store.outbox.enqueue(
                [NewMessage(chat_id=1, kind="notice", dedup_key="n", text="t")]
            )
            # The history batch and the repeated notice told nobody.
            assert await heard.until(2) == [(DELIVERY, "match"), (DELIVERY, "outbox")]
    finally:
        await store.close()


async def test_on_sqlite_the_one_process_is_always_elected(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "one.db")
    try:
        async with db.election(BOT_OFFICE).term(), db.election(BOT_OFFICE).term() as term:
            waiting = asyncio.ensure_future(term.lost())
            await asyncio.sleep(0)
            assert not waiting.done()
            waiting.cancel()
    finally:
        await db.close()


# PostgreSQL: several processes, here several databases objects (each its own connections).


@pytest.fixture
async def twins(postgres_url: str) -> AsyncIterator[tuple[PostgresDatabase, PostgresDatabase]]:
    first, second = await open_database(postgres_url), await open_database(postgres_url)
    assert isinstance(first, PostgresDatabase) and isinstance(second, PostgresDatabase)
    yield first, second
    await first.close()
    await second.close()


def _quick(db: PostgresDatabase) -> PostgresElection:
    election = db.election(BOT_OFFICE)
    assert isinstance(election, PostgresElection)
    election._pause = 0.05  # a standby that asks often keeps the test short
    return election


async def _sessions(db: Database, name: str) -> int:
    return int(
        await db.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = ? "
            "AND datname = current_database()",
            (name,),
        )
    )


async def _until(check: Callable[[], Awaitable[int]]) -> None:
    async with asyncio.timeout(WAIT):
        while not await check():  # noqa: ASYNC110 (the database has no event to wait on)
            await asyncio.sleep(0.05)


async def _standby_asked(db: Database) -> None:
    """Wait until a standby is connected and has asked for the lock at least twice."""
    await _until(lambda: _sessions(db, "chanwatch bot candidate"))
    await asyncio.sleep(0.2)


async def test_one_process_holds_the_office_and_a_standby_takes_over_when_it_leaves(
    twins: tuple[PostgresDatabase, PostgresDatabase],
) -> None:
    first, second = twins
    async with _quick(first).term():
        assert await _sessions(first, "chanwatch bot leader") == 1
        standby = asyncio.create_task(_elected(_quick(second)))
        await _standby_asked(first)
        assert not standby.done()
    term_of_second = await asyncio.wait_for(standby, WAIT)
    assert term_of_second == "elected"


async def _elected(election: PostgresElection) -> str:
    async with election.term():
        return "elected"


async def test_a_leader_whose_connection_is_killed_loses_its_term_and_the_standby_wins(
    twins: tuple[PostgresDatabase, PostgresDatabase], postgres_server: PostgresServer
) -> None:
    first, second = twins
    won = asyncio.Event()
    release = asyncio.Event()

    async def standby() -> None:
        async with _quick(second).term():
            won.set()
            await release.wait()

    async with _quick(first).term() as term:
        waiting = asyncio.create_task(standby())
        await _standby_asked(first)
        assert not won.is_set()
        _terminate(postgres_server, first, "chanwatch bot leader")
        reason = await asyncio.wait_for(term.lost(), WAIT)
        assert "connection" in reason
        await asyncio.wait_for(won.wait(), WAIT)
    release.set()
    await waiting


async def test_a_term_ends_when_the_server_goes_and_the_campaign_resumes(
    twins: tuple[PostgresDatabase, PostgresDatabase], postgres_server: PostgresServer
) -> None:
    first, _ = twins
    election = _quick(first)
    terms: list[Term] = []
    async with election.term() as term:
        terms.append(term)
        # Every session of the database ends, as in a server restart.
        _terminate(postgres_server, first, None)
        await asyncio.wait_for(term.lost(), WAIT)
    async with asyncio.timeout(WAIT), election.term():
        assert await _sessions(first, "chanwatch bot leader") == 1


async def test_a_listener_connects_again_and_says_it_may_have_missed_news(
    twins: tuple[PostgresDatabase, PostgresDatabase], postgres_server: PostgresServer
) -> None:
    first, second = twins
    heard = Heard()
    async with first.listen([DELIVERY], heard):
        await second.notify(DELIVERY, "before")
        await heard.until(1)
        _terminate(postgres_server, first, "chanwatch listener")
        assert (await heard.until(2))[1] == (DELIVERY, None)
        await second.notify(DELIVERY, "after")
        assert (await heard.until(3))[2] == (DELIVERY, "after")


async def test_a_process_stopped_as_its_term_ends_stops_instead_of_campaigning_again(
    twins: tuple[PostgresDatabase, PostgresDatabase], postgres_server: PostgresServer
) -> None:
    # The term ends (the connection holding it is killed) and, while the duties finish what
    # they had in flight, the process is told to stop: it must stop, not stand for office.
    first, _ = twins
    working, stopping = asyncio.Event(), asyncio.Event()

    async def duties() -> None:
        working.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopping.set()
            await asyncio.sleep(0.5)  # a send in flight being recorded

    office = asyncio.create_task(hold_office(_quick(first), Health(), duties))
    await asyncio.wait_for(working.wait(), WAIT)
    _terminate(postgres_server, first, "chanwatch bot leader")
    await asyncio.wait_for(stopping.wait(), WAIT)
    office.cancel()
    await asyncio.wait({office}, timeout=WAIT)
    assert office.cancelled()


def _terminate(server: PostgresServer, db: PostgresDatabase, application: str | None) -> None:
    name = urlsplit(db.url).path[1:]
    which = f"AND application_name = '{application}'" if application else ""
    server.admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid() {which}"
    )
