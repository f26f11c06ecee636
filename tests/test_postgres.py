"""What only the PostgreSQL backend has: its failures, its shared use, its held sessions.

Everything else about storage runs on both backends in test_storage.py and the others.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from chanwatch.cli import main
from storage import Store, TopicSpec, open_database
from storage.channels import channel_key
from storage.errors import StorageError
from storage.migrations import LATEST
from storage.models import PostRecord
from storage.postgres import PostgresDatabase
from tests.conftest import PostgresServer
from tests.test_storage import T0

SECRET = "hunter2-not-shown"


def _with(url: str, *, user: str | None = None, port: int | None = None, name: str = "") -> str:
    """`url` with another user (and the secret password), port or database name."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user or parts.username}:{SECRET}@{host}:{port or parts.port or 5432}"
    return urlunsplit((parts.scheme, netloc, f"/{name}" if name else parts.path, "", ""))


def _refusal(url: str) -> str:
    async def opening() -> None:
        await open_database(url)

    with pytest.raises(StorageError) as refused:
        asyncio.run(opening())
    message = str(refused.value)
    assert "\n" not in message and SECRET not in message, message
    return message


def test_a_server_that_is_down_is_one_line_naming_the_url(postgres_server: PostgresServer) -> None:
    url = _with(postgres_server.admin_url, port=1)
    message = _refusal(url)
    assert message.startswith("cannot reach PostgreSQL at postgresql://postgres@127.0.0.1:1/")
    assert "connection refused; is the server running" in message


def test_an_unknown_user_is_refused_in_one_line(postgres_server: PostgresServer) -> None:
    message = _refusal(_with(postgres_server.admin_url, user="no_such_chanwatch_user"))
    assert message.startswith("PostgreSQL at postgresql://no_such_chanwatch_user@127.0.0.1:")
    assert 'role "no_such_chanwatch_user" does not exist' in message


def test_a_missing_database_says_how_to_create_it(postgres_server: PostgresServer) -> None:
    message = _refusal(_with(postgres_server.admin_url, name="chanwatch_test_missing"))
    assert 'database "chanwatch_test_missing" does not exist' in message
    assert message.endswith("create it first (createdb chanwatch_test_missing)")


def test_a_database_of_another_application_is_left_alone(postgres_server: PostgresServer) -> None:
    url = postgres_server.create(empty=True)
    try:

        async def foreign() -> None:
            conn = await asyncpg.connect(url)
            await conn.execute("CREATE TABLE invoices (id int); CREATE TABLE customers (id int)")
            await conn.close()

        asyncio.run(foreign())
        message = _refusal(url)
        assert "is not a chanwatch database (it has tables: customers, invoices)" in message
    finally:
        postgres_server.drop(url)


def test_run_with_the_server_down_exits_with_one_line(
    postgres_server: PostgresServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "chanwatch.toml"
    url = _with(postgres_server.admin_url, port=1)
    config.write_text(f'[bot]\ntoken = "42:TOKEN"\n[storage]\nurl = "{url}"\n', encoding="utf-8")
    assert main(["run", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and SECRET not in err, err
    assert err.startswith("chanwatch: cannot reach PostgreSQL at postgresql://postgres@"), err


async def test_writers_in_two_processes_take_turns(postgres_url: str) -> None:
    """Two pools stand for two processes storing the same posts at once: one stores each
    post, the other finds it stored; neither fails on the other's rows, and the cursor ends
    at the newest."""
    first, second = await Store.open(postgres_url), await Store.open(postgres_url)
    try:
        # Both start with the same config at the same moment.
        topics = [TopicSpec("visit", ("визит",)), TopicSpec("Ким", ("Ким", "КНДР"))]
        await asyncio.gather(
            *(store.topics.sync_config(topics) for store in (first, second)),
            *(store.channels.sync_config([("pul_1", "web")]) for store in (first, second)),
        )
        assert [t.terms for t in await second.topics.live()] == [("визит",), ("Ким", "КНДР")]
        batch = [PostRecord(i, T0, f"визит {i}", "визит", ()) for i in range(1, 41)]
        results = await asyncio.gather(
            *(
                store.posts.save("pul_1", batch[start : start + 10], history=True)
                for start in range(0, 40, 5)
                for store in (first, second)
            )
        )
        assert sum(result.new_posts for result in results) == 40
        assert (await second.outbox.stats()).posts == 40
        assert await first.channels.last_post_id("pul_1") == 40
    finally:
        await first.close()
        await second.close()


def test_processes_starting_together_on_an_empty_database_migrate_it_once(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.create(empty=True)

    async def start_two() -> list[int]:
        stores = await asyncio.gather(Store.open(url), Store.open(url))
        versions = [await store.db.schema_version() for store in stores]
        for store in stores:
            await store.close()
        return versions

    try:
        assert asyncio.run(start_two()) == [LATEST, LATEST]
    finally:
        postgres_server.drop(url)


async def test_writes_to_different_channels_do_not_wait_for_each_other(
    postgres_url: str,
) -> None:
    """A transaction holding one channel (a slow save, another process's import) delays
    only that channel's writes; the others go on."""
    busy, other = await Store.open(postgres_url), await Store.open(postgres_url)
    try:
        await busy.channels.sync_config([("pul_1", "web"), ("rian_ru", "web")])
        post = [PostRecord(1, T0, "визит", "визит", ())]
        async with busy.db.transaction() as tx:
            await tx.lock(channel_key("pul_1"))
            saved = await asyncio.wait_for(other.posts.save("rian_ru", post, history=True), 5)
            assert saved.new_posts == 1
            waiting = asyncio.create_task(other.posts.save("pul_1", post, history=True))
            await asyncio.sleep(0.3)
            assert not waiting.done()
        assert (await asyncio.wait_for(waiting, 5)).new_posts == 1
    finally:
        await busy.close()
        await other.close()


async def test_a_session_holds_advisory_locks_and_hears_notifications(
    postgres_url: str,
) -> None:
    db = await open_database(postgres_url)
    assert isinstance(db, PostgresDatabase)
    heard: asyncio.Queue[str] = asyncio.Queue()
    try:
        async with db.session() as leader, db.session() as other:
            assert await leader.fetchone("SELECT pg_try_advisory_lock(?)", (11,)) == (True,)
            assert await other.fetchone("SELECT pg_try_advisory_lock(?)", (11,)) == (False,)
            await leader.connection.add_listener(
                "chanwatch_test", lambda *args: heard.put_nowait(args[-1])
            )
            await other.execute("SELECT pg_notify(?, ?)", ("chanwatch_test", "match 7"))
            assert await asyncio.wait_for(heard.get(), 5) == "match 7"
        # Given back, the session's lock is released for everyone.
        async with db.session() as later:
            assert await later.fetchone("SELECT pg_try_advisory_lock(?)", (11,)) == (True,)
    finally:
        await db.close()


async def test_reads_survive_a_dropped_connection(
    postgres_url: str, postgres_server: PostgresServer
) -> None:
    store = await Store.open(postgres_url)
    try:
        await store.channels.add("pul_1", "web")
        name = urlsplit(postgres_url).path[1:]
        postgres_server.admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        assert [c.handle for c in await store.channels.watched()] == ["pul_1"]
    finally:
        await store.close()
