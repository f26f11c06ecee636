"""`chanwatch migrate-storage`: a SQLite database copied into PostgreSQL, row for row."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from chanwatch.cli import main
from storage import Store, TopicSpec, open_database
from storage.copy import COPYING
from storage.models import NewMatch, NewMessage, PostRecord
from storage.postgres import PostgresDatabase
from tests.conftest import PostgresServer
from tests.e2e_harness import command

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
TABLES = (
    "channels",
    "topics",
    "topic_terms",
    "posts",
    "matches",
    "fanout",
    "subscribers",
    "subscriptions",
    "outbox",
)


def _record(n: int) -> PostRecord:
    if n % 3 == 0:
        return PostRecord(n, T0 + timedelta(minutes=n), f"Пост {n}", f"пост {n}", ())
    visit = (NewMatch("visit", ("визит",), ((8, 13),)),)
    text, lemmas = f"Пост {n}: визит делегации", f"пост {n} визит делегация"
    return PostRecord(n, T0 + timedelta(minutes=n), text, lemmas, visit)


async def populate(path: Path, posts: int) -> None:
    """A database as months of `chanwatch run` leave it: every table has rows."""
    store = await Store.open(path)
    try:
        await store.topics.sync_config(
            [TopicSpec("visit", ("визит",)), TopicSpec("Ким", ("Ким",))]
        )
        await store.topics.put(TopicSpec("Операторская", ("саммит",), exclude=("футбол",)))
        await store.topics.remove("Ким")
        await store.channels.sync_config([("pul_1", "web"), ("rian_ru", "telegram")])
        await store.channels.record_error("rian_ru", "HTTP 502")
        await store.posts.save("pul_1", [_record(1), _record(2)], history=True)
        for start in range(3, posts + 1, 100):
            batch = [_record(n) for n in range(start, min(start + 100, posts + 1))]
            await store.posts.save("pul_1", batch, history=False)
        for chat in (101, -100555):
            await store.subscribers.ensure(
                chat, chat_type="private", title=None, digest_time="09:00", timezone="UTC"
            )
            await store.subscribers.subscribe(chat, [t.id for t in await store.topics.live()])
        await store.subscribers.update(101, quiet=True, mode="both")
        [pending, *_] = await store.posts.pending_fanout(1)
        await store.posts.complete_fanout(
            pending.id, [NewMessage(101, "alert", f"alert:101:{pending.id}", "📢 визит")]
        )
        await store.outbox.enqueue([NewMessage(-100555, "notice", "n1", "hello")])
        [item] = await store.outbox.due(1)
        await store.outbox.mark_sent(item.id, 77)
    finally:
        await store.close()


async def table_rows(location: Path | str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in key order, as the repositories would read it."""
    db = await open_database(location)
    try:
        result = {}
        for table in TABLES:
            rows = await db.fetchall(f"SELECT * FROM {table} ORDER BY 1, 2")
            result[table] = [
                tuple(
                    value for key, value in zip(row.keys(), row, strict=True) if key != "lemma_tsv"
                )
                for row in rows
            ]
        return result
    finally:
        await db.close()


def write_config(folder: Path) -> Path:
    config = folder / "chanwatch.toml"
    config.write_text('[storage]\npath = "db.sqlite"\n', encoding="utf-8")
    return config


def migrate(config: Path, url: str, *extra: str) -> int:
    return main(["migrate-storage", "--config", str(config), "--to", url, "--no-progress", *extra])


@pytest.fixture
def empty_postgres(postgres_server: PostgresServer) -> Any:
    url = postgres_server.create(empty=True)
    yield url
    postgres_server.drop(url)


def test_every_row_is_copied_with_its_id_and_new_rows_continue_after(
    tmp_path: Path, empty_postgres: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    asyncio.run(populate(tmp_path / "db.sqlite", posts=250))
    assert migrate(config, empty_postgres) == 0
    err = capsys.readouterr().err
    assert "posts 250" in err and "counts verified" in err, err
    assert f'set url = "{empty_postgres}" under [storage]' in err, err

    source, copy = (
        asyncio.run(table_rows(tmp_path / "db.sqlite")),
        asyncio.run(table_rows(empty_postgres)),
    )
    assert all(source[table] for table in TABLES), source
    assert copy == source

    async def use_the_copy() -> None:
        store = await Store.open(empty_postgres)
        try:
            found, total = await store.posts.search([["делегация"]], limit=1)
            assert (total, found[0].post_id) == (167, 250)  # every post but each third
            assert await store.channels.last_post_id("pul_1") == 250
            channel, added = await store.channels.add("new_one", "web")
            assert added and channel.id == 3
            await store.posts.save(
                "new_one", [PostRecord(1, T0, "визит", "визит", ())], history=False
            )
            assert (await store.outbox.stats()).posts == 251
        finally:
            await store.close()

    asyncio.run(use_the_copy())


def test_running_it_again_changes_nothing(
    tmp_path: Path, empty_postgres: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    asyncio.run(populate(tmp_path / "db.sqlite", posts=10))
    assert migrate(config, empty_postgres) == 0
    before = asyncio.run(table_rows(empty_postgres))
    capsys.readouterr()
    assert migrate(config, empty_postgres) == 0
    assert "already holds the verified copy" in capsys.readouterr().err
    assert asyncio.run(table_rows(empty_postgres)) == before


def test_a_target_holding_another_database_is_refused(
    tmp_path: Path, empty_postgres: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    asyncio.run(populate(tmp_path / "db.sqlite", posts=5))

    async def use_it_elsewhere() -> None:
        store = await Store.open(empty_postgres)
        await store.channels.add("other_channel", "web")
        await store.close()

    asyncio.run(use_it_elsewhere())
    assert migrate(config, empty_postgres) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already holds a chanwatch database (1 channels)" in err, err
    assert "copies only into an empty database" in err


def test_a_copy_of_another_source_is_not_resumed(
    tmp_path: Path, empty_postgres: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    asyncio.run(populate(first / "db.sqlite", posts=5))
    assert migrate(write_config(first), empty_postgres) == 0

    async def other() -> None:
        store = await Store.open(second / "db.sqlite")
        await store.channels.add("another", "web")
        await store.close()

    asyncio.run(other())
    capsys.readouterr()
    assert migrate(write_config(second), empty_postgres) == 1
    err = capsys.readouterr().err
    assert f"holds a copy of another chanwatch database ({first / 'db.sqlite'})" in err, err


async def test_a_second_copy_at_the_same_time_is_refused(
    tmp_path: Path, empty_postgres: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    await populate(tmp_path / "db.sqlite", posts=5)
    db = await open_database(empty_postgres)
    assert isinstance(db, PostgresDatabase)
    try:
        async with db.session() as running:
            await running.execute("SELECT pg_advisory_lock(?)", (COPYING,))
            code = await asyncio.to_thread(migrate, config, empty_postgres)
    finally:
        await db.close()
    assert code == 1
    assert "another migrate-storage is copying into" in capsys.readouterr().err


def test_a_missing_source_or_a_bad_url_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    assert migrate(config, "postgresql://postgres@127.0.0.1:5432/x") == 1
    assert f"no SQLite database at {tmp_path / 'db.sqlite'}" in capsys.readouterr().err
    assert migrate(config, "mysql://root@localhost/x") == 2
    err = capsys.readouterr().err
    assert "migrate-storage --to: expected a URL like postgresql://" in err, err


async def _copied_posts(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        if await conn.fetchval("SELECT to_regclass('storage_copy')") is None:
            return 0
        value = await conn.fetchval("SELECT value FROM storage_copy WHERE key = 'rowid:posts'")
        return int(value or 0)
    finally:
        await conn.close()


async def test_killed_mid_copy_it_resumes_and_verifies(
    tmp_path: Path, empty_postgres: str
) -> None:
    config = write_config(tmp_path)
    await populate(tmp_path / "db.sqlite", posts=1500)
    args = ("migrate-storage", "--config", str(config), "--to", empty_postgres, "--batch", "10")
    process = await asyncio.create_subprocess_exec(
        command(), *args, stderr=asyncio.subprocess.DEVNULL
    )
    copied = 0
    for _ in range(3000):
        copied = await _copied_posts(empty_postgres)
        if copied:
            break
        await asyncio.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    await process.wait()
    assert 0 < copied < 1500, "the copy was not caught half-way"

    resumed = await asyncio.create_subprocess_exec(
        command(), *args, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(resumed.communicate(), 120)
    text = err.decode()
    assert resumed.returncode == 0, text
    assert "resuming: " in text and "counts verified" in text, text
    assert "100%" in text and " rows" in text, text  # the progress bar
    assert await table_rows(empty_postgres) == await table_rows(tmp_path / "db.sqlite")
