"""The database through its repositories, on both backends (see tests/conftest.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from storage import Location, Store, TopicSpec, open_database
from storage.database import to_db
from storage.errors import StorageError
from storage.migrations import LATEST
from storage.models import NewMatch, NewMessage, PostRecord

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def record(post_id: int, text: str, *matches: NewMatch, minutes: int = 0) -> PostRecord:
    return PostRecord(
        post_id=post_id,
        date=T0 + timedelta(minutes=minutes or post_id),
        text=text,
        lemmas=text.lower(),
        matches=matches,
    )


def visit(*spans: tuple[int, int]) -> NewMatch:
    return NewMatch(topic="visit", terms=("визит",), spans=spans or ((0, 5),))


@pytest.fixture
async def store(database: Location) -> AsyncIterator[Store]:
    opened = await Store.open(database)
    await opened.topics.sync_config([TopicSpec("visit", ("визит",)), TopicSpec("Kim", ("Ким",))])
    await opened.channels.sync_config([("pul_1", "telegram")])
    yield opened
    await opened.close()


async def test_new_database_is_created_migrated_and_reopened(empty_database: Location) -> None:
    store = await Store.open(empty_database)
    assert await store.db.schema_version() == LATEST
    await store.channels.sync_config([("pul_1", "web")])
    await store.close()

    reopened = await Store.open(empty_database)
    assert await reopened.db.schema_version() == LATEST
    assert [c.handle for c in await reopened.channels.watched()] == ["pul_1"]
    await reopened.close()


async def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    await (await Store.open(path)).close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("version", range(1, LATEST))
async def test_every_earlier_version_keeps_its_data_when_migrated(
    empty_database: Location, version: int
) -> None:
    old = await open_database(empty_database, upgrade_to=version)
    assert await old.schema_version() == version
    await old.execute(
        "INSERT INTO channels (handle, source, last_post_id, added_at) VALUES (?, ?, ?, ?)",
        ("pul_1", "telegram", 41, to_db(T0)),
    )
    await old.close()
    store = await Store.open(empty_database)
    assert await store.db.schema_version() == LATEST
    assert await store.channels.last_post_id("pul_1") == 41
    assert await store.outbox.pending_count() == 0
    await store.close()


async def test_version_2_database_gets_first_sight_marks_from_its_posts(
    empty_database: Location,
) -> None:
    old = await open_database(empty_database, upgrade_to=2)
    moment = to_db(T0)
    for handle, last in (("live", 7), ("quiet", 9), ("unread", None)):
        await old.execute(
            "INSERT INTO channels (handle, source, last_post_id, added_at) "
            "VALUES (?, 'telegram', ?, ?)",
            (handle, last, moment),
        )
    posts = [("live", 4, 1), ("live", 5, 1), ("live", 6, 0), ("live", 7, 0), ("quiet", 9, 1)]
    for handle, post_id, history in posts:
        await old.execute(
            "INSERT INTO posts (channel_id, post_id, date, text, is_history, stored_at) "
            "VALUES ((SELECT id FROM channels WHERE handle = ?), ?, ?, 'x', ?, ?)",
            (handle, post_id, moment, history, moment),
        )
    await old.close()
    store = await Store.open(empty_database)
    await store.topics.sync_config([TopicSpec("visit", ("визит",))])
    try:
        # live: first sight is below its first live post (5); quiet: its cursor (9);
        # unread: whatever its first read will hold (5).
        await store.posts.save("unread", [record(5, "ничего")], history=True)
        for handle, older, newer in (("live", 3, 8), ("quiet", 8, 10), ("unread", 4, 6)):
            result = await store.posts.save(
                handle,
                [record(older, "визит", visit()), record(newer, "визит", visit())],
                history=False,
            )
            assert result.demoted == 1, handle
        assert sorted(p.post_id for p in await store.posts.pending_fanout()) == [6, 8, 10]
    finally:
        await store.close()


async def _sqlite_columns(path: Path) -> tuple[dict[str, set[tuple[str, bool]]], list[str]]:
    """Each ordinary table's (column, NOT NULL) pairs, and the virtual tables: FTS tables are
    SQLite's search index, which each backend keeps its own way."""
    db = await open_database(path)
    try:
        tables = await db.fetchall("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        virtual = [row["name"] for row in tables if row["sql"].startswith("CREATE VIRTUAL")]
        result = {}
        for row in tables:
            name = row["name"]
            if name.startswith("sqlite_") or any(name.startswith(v) for v in virtual):
                continue
            info = await db.fetchall(f"PRAGMA table_info({name})")
            result[name] = {(c["name"], bool(c["notnull"] or c["pk"])) for c in info}
        return result, virtual
    finally:
        await db.close()


async def _postgres_columns(url: str) -> dict[str, set[tuple[str, bool]]]:
    """The same for PostgreSQL, without its bookkeeping and its generated search column."""
    db = await open_database(url)
    try:
        rows = await db.fetchall(
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND is_generated = 'NEVER' "
            "AND table_name <> 'schema_version'"
        )
    finally:
        await db.close()
    result: dict[str, set[tuple[str, bool]]] = {}
    for row in rows:
        result.setdefault(row["table_name"], set()).add(
            (row["column_name"], row["is_nullable"] == "NO")
        )
    return result


async def test_both_backends_have_the_same_tables_and_columns(
    tmp_path: Path, postgres_url: str
) -> None:
    """Every migration must say the same in both dialects (storage/migrations.py)."""
    lite, search = await _sqlite_columns(tmp_path / "schema.db")
    assert "posts" in lite and "outbox" in lite and search == ["posts_fts"]
    postgres = await _postgres_columns(postgres_url)
    assert postgres.pop("posts_fts") == {("post", True), ("lemma_tsv", True)}
    assert lite == postgres


async def _set_schema_version(database: Location, version: int) -> None:
    """Write the version where each backend keeps it, as a newer chanwatch would."""
    if isinstance(database, Path):
        with sqlite3.connect(database) as lite:
            lite.execute(f"PRAGMA user_version = {version}")
        return
    conn = await asyncpg.connect(database)
    try:
        await conn.execute("UPDATE schema_version SET version = $1", version)
    finally:
        await conn.close()


async def test_newer_schema_than_this_code_is_refused(database: Location) -> None:
    await (await Store.open(database)).close()
    await _set_schema_version(database, LATEST + 5)
    with pytest.raises(StorageError, match="newer than this chanwatch") as refused:
        await Store.open(database)
    assert str(refused.value).startswith(f"database {database} has schema version {LATEST + 5}")


async def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StorageError, match=r"corrupted or not a chanwatch database"):
        await Store.open(path)
    assert path.read_bytes().startswith(b"this is not sqlite")


async def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    with pytest.raises(StorageError, match="cannot open database"):
        await Store.open(tmp_path / "no" / "such" / "dir" / "x.db")
    # No database worker thread is left to report to this event loop after it has closed
    # (asyncio's own executor threads stay for the loop's lifetime and are not ours).
    started = [t for t in set(threading.enumerate()) - before if not t.name.startswith("asyncio")]
    assert started == []


async def test_posts_are_stored_once_and_advance_the_cursor(store: Store) -> None:
    assert await store.channels.last_post_id("pul_1") is None
    first = await store.posts.save(
        "pul_1", [record(1, "визит", visit()), record(2, "ничего")], history=False
    )
    again = await store.posts.save("pul_1", [record(2, "ничего")], history=False)
    assert (first.new_posts, first.new_matches) == (2, 1)
    assert (again.new_posts, again.edited_posts) == (0, 0)
    assert await store.channels.last_post_id("pul_1") == 2
    stats = await store.outbox.stats()
    assert (stats.posts, stats.matches) == (2, 1)


async def test_empty_first_sight_marks_the_channel_as_read(store: Store) -> None:
    await store.posts.save("pul_1", [], history=True)
    assert await store.channels.last_post_id("pul_1") == 0


async def test_history_owes_no_alerts_and_live_matches_do(store: Store) -> None:
    await store.posts.save("pul_1", [record(1, "визит", visit())], history=True)
    assert await store.posts.pending_fanout() == []
    await store.posts.save("pul_1", [record(2, "визит", visit())], history=False)
    pending = await store.posts.pending_fanout()
    assert [p.post_id for p in pending] == [2]
    assert pending[0].link == "https://t.me/pul_1/2"
    assert [h.topic for h in pending[0].hits] == ["visit"]


async def test_a_post_at_or_below_first_sight_is_history_whatever_path_brings_it(
    store: Store,
) -> None:
    await store.subscribers.ensure(
        7, chat_type="private", title=None, digest_time="09:00", timezone="UTC"
    )
    await store.subscribers.subscribe(7, [t.id for t in await store.topics.live()])
    first = await store.posts.save(
        "pul_1", [record(9, "ничего"), record(10, "пусто")], history=True
    )
    assert first.first_sight == 10

    late = await store.posts.save(
        "pul_1", [record(3, "визит", visit()), record(11, "визит", visit())], history=False
    )
    assert (late.new_posts, late.new_matches, late.demoted) == (2, 2, 1)
    # A first-sight post edited so that it now matches owes nothing either.
    await store.posts.save("pul_1", [record(10, "визит", visit())], history=False)

    assert [p.post_id for p in await store.posts.pending_fanout()] == [11]
    digest = await store.posts.matched_between(7, None, T0 + timedelta(days=365 * 10))
    assert [p.post_id for p in digest] == [11]
    found, total = await store.posts.search([["визит"]], limit=10)
    assert total == 3 and {p.post_id for p in found} == {3, 10, 11}  # stored and searchable


async def test_a_channel_added_again_gets_a_new_first_sight(store: Store) -> None:
    await store.posts.save("pul_1", [record(10, "ничего")], history=True)
    await store.channels.remove("pul_1")
    await store.channels.add("pul_1", "telegram")
    await store.posts.save("pul_1", [record(20, "ничего")], history=True)
    late = await store.posts.save("pul_1", [record(15, "визит", visit())], history=False)
    assert late.demoted == 1 and await store.posts.pending_fanout() == []


async def test_fanout_is_atomic_and_dedup_keys_prevent_a_second_alert(store: Store) -> None:
    await store.posts.save("pul_1", [record(4, "первый взгляд")], history=True)
    await store.posts.save("pul_1", [record(5, "визит", visit())], history=False)
    [post] = await store.posts.pending_fanout()
    message = NewMessage(chat_id=7, kind="alert", dedup_key=f"alert:7:{post.id}", text="x")
    assert await store.posts.complete_fanout(post.id, [message]) == 1
    assert await store.posts.pending_fanout() == []
    # The post is edited and now matches another topic: a new fanout, but no second alert.
    edited = record(5, "визит Ким", visit(), NewMatch("Kim", ("Ким",), ((6, 9),)))
    result = await store.posts.save("pul_1", [edited], history=False)
    assert (result.edited_posts, result.new_matches) == (1, 1)
    [again] = await store.posts.pending_fanout()
    assert await store.posts.complete_fanout(again.id, [message]) == 0
    assert await store.outbox.pending_count() == 1


async def test_search_by_lemmas_newest_first_with_total(store: Store) -> None:
    posts = [
        PostRecord(i, T0 + timedelta(hours=i), f"post {i}", f"визит ким {i}", ())
        for i in range(1, 8)
    ]
    await store.posts.save("pul_1", posts, history=True)
    found, total = await store.posts.search([["визит"], ["ким", "кима"]], limit=3, offset=0)
    assert total == 7
    assert [p.post_id for p in found] == [7, 6, 5]
    page2, _ = await store.posts.search([["визит"]], limit=3, offset=3)
    assert [p.post_id for p in page2] == [4, 3, 2]
    nothing, zero = await store.posts.search([['"); DROP TABLE posts; --']], limit=3)
    assert (nothing, zero) == ([], 0)
    # A word without letters or digits asks nothing; alone it finds nothing.
    assert await store.posts.search([["—"], ["визит"]], limit=3) == (found, 7)
    assert await store.posts.search([["—", ""]], limit=3) == ([], 0)
    assert await store.posts.search([], limit=3) == ([], 0)


async def test_recent_only_shows_the_chats_topics(store: Store) -> None:
    kim = NewMatch("Kim", ("Ким",), ((0, 3),))
    posts = [record(1, "визит", visit()), record(2, "Ким", kim)]
    await store.posts.save("pul_1", posts, history=False)
    await store.subscribers.ensure(
        7, chat_type="private", title=None, digest_time="09:00", timezone="UTC"
    )
    kim_topic = await store.topics.get("kim")
    assert kim_topic is not None
    await store.subscribers.subscribe(7, [kim_topic.id])
    recent = await store.posts.recent(10, chat_id=7)
    assert [p.post_id for p in recent] == [2]
    assert [p.post_id for p in await store.posts.recent(10)] == [2, 1]


async def test_operator_changes_survive_a_config_sync(store: Store) -> None:
    await store.topics.remove("visit")
    await store.topics.put(TopicSpec("Лукашенко", ("Лукашенко",)))
    await store.channels.remove("pul_1")
    await store.channels.add("rian_ru", "web")
    # A restart syncs the same config again.
    await store.topics.sync_config([TopicSpec("visit", ("визит",)), TopicSpec("Kim", ("Ким",))])
    await store.channels.sync_config([("pul_1", "telegram")])
    assert [t.name for t in await store.topics.live()] == ["Kim", "Лукашенко"]
    assert [c.handle for c in await store.channels.watched()] == ["rian_ru"]


async def test_topic_names_are_case_insensitive_in_cyrillic(store: Store) -> None:
    assert await store.topics.put(TopicSpec("Визит КНДР", ("визит",)))
    assert not await store.topics.put(TopicSpec("визит кндр", ("посетить",)))
    topic = await store.topics.get("ВИЗИТ кндр")
    assert topic is not None and topic.terms == ("посетить",)
    assert await store.topics.remove("визит КНДР")


async def test_channel_errors_are_reported_once_per_outage(store: Store) -> None:
    assert await store.channels.record_error("pul_1", "HTTP 404; next try in 1 s")
    # Retries of the same outage ("next try in 2 s", another fault) are not news again.
    assert not await store.channels.record_error("pul_1", "HTTP 404; next try in 2 s")
    assert not await store.channels.record_error("pul_1", "timeout")
    [channel] = await store.channels.watched()
    assert channel.last_error == "timeout"  # /channels shows the latest
    assert await store.channels.record_ok("pul_1")
    assert not await store.channels.record_ok("pul_1")
    assert await store.channels.record_error("pul_1", "HTTP 404")  # a new outage


async def test_outbox_survives_reopening(database: Location) -> None:
    store = await Store.open(database)
    await store.outbox.enqueue([NewMessage(1, "notice", "k1", "hello")])
    await store.close()
    store = await Store.open(database)
    [item] = await store.outbox.due(10)
    assert item.text == "hello"
    await store.outbox.mark_sent(item.id, 99)
    assert await store.outbox.due(10) == []
    await store.close()


async def test_activity_is_tallied_per_minute_within_its_window(store: Store) -> None:
    kim = NewMatch(topic="Kim", terms=("Ким",), spans=((0, 3),))
    posts = [
        record(1, "визит", visit(), minutes=1),
        record(2, "визит Ким", visit(), kim, minutes=1),  # the same minute as post 1
        record(3, "визит", visit(), minutes=90),
        record(4, "пусто", minutes=2),
    ]
    await store.posts.save("pul_1", posts, history=True)
    topics = {topic.name: topic.id for topic in await store.topics.live()}
    window = (T0, T0 + timedelta(hours=1))  # [12:00, 13:00): post 3 is outside
    tallies = await store.activity.topic_matches(list(topics.values()), *window)
    assert sorted((t.key, t.minute, t.count) for t in tallies) == sorted(
        [
            (topics["visit"], T0 + timedelta(minutes=1), 2),
            (topics["Kim"], T0 + timedelta(minutes=1), 1),
        ]
    )
    assert [(t.minute.minute, t.count) for t in await store.activity.posts(*window)] == [
        (1, 2),
        (2, 1),
    ]
    assert sum(t.count for t in await store.activity.matches(*window)) == 3
    await store.outbox.enqueue(
        [NewMessage(1, "alert", "a", "x"), NewMessage(1, "notice", "n", "y")]
    )
    for row in await store.outbox.for_chat(1):
        await store.outbox.mark_sent(row.id, 7)
    now = datetime.now(UTC)
    sent = await store.activity.sent(
        "alert", now - timedelta(minutes=5), now + timedelta(minutes=5)
    )
    assert [t.count for t in sent] == [1]


async def test_a_chats_first_language_sticks_and_an_outbox_row_keeps_its_chart(
    store: Store,
) -> None:
    async def talk(language: str | None) -> str | None:
        found = await store.subscribers.ensure(
            7, chat_type="group", title="G", digest_time="09:00", timezone="UTC", language=language
        )
        return found.language

    assert await talk(None) is None  # no user's language known yet (a channel post, say)
    assert await talk("ru") == "ru"  # the first user decides
    assert await talk("en") == "ru"  # later users do not
    await store.subscribers.update(7, language="en")  # /language en
    assert await talk("ru") == "en"
    await store.outbox.enqueue(
        [
            NewMessage(7, "digest", "d:chart", "📈", chart='{"x": 1}'),
            NewMessage(7, "digest", "d:0", "list"),
        ]
    )
    (head,) = await store.outbox.heads(10)
    assert (head.text, head.chart) == ("📈", '{"x": 1}')


async def test_a_statement_that_fails_at_the_commit_rolls_back_the_whole_transaction(
    database: Location,
) -> None:
    """SQLite sends executemany with the commit (one trip): its failure still undoes what the
    transaction did before it, and reaches the caller."""
    store = await Store.open(database)
    try:
        await store.channels.sync_config([("pul_1", "web")])
        with pytest.raises((sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)):
            async with store.db.transaction() as tx:
                await tx.execute("UPDATE channels SET title = 'changed'")
                await tx.executemany(
                    "INSERT INTO channels (handle, source, added_at) VALUES (?, ?, ?)",
                    [("pul_1", "web", to_db(T0))],
                )
        assert await store.db.scalar("SELECT title FROM channels") is None
        async with store.db.transaction() as tx:
            await tx.execute("UPDATE channels SET title = 'changed'")
        assert await store.db.scalar("SELECT title FROM channels") == "changed"
    finally:
        await store.close()


async def test_a_transaction_cancelled_on_its_way_leaves_nothing_behind(
    database: Location,
) -> None:
    """Cancelled before, while or after its statements reach the database (SQLite sends them
    to its thread, which runs them whatever happens to the caller): undone, and the next
    transaction begins normally."""
    store = await Store.open(database)
    try:
        await store.channels.sync_config([("pul_1", "web")])
        for turns in range(6):

            async def write() -> None:
                async with store.db.transaction() as tx:
                    await tx.execute("UPDATE channels SET title = 'cancelled'")
                    await asyncio.Event().wait()

            task = asyncio.create_task(write())
            for _ in range(turns):
                await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            async with store.db.transaction() as tx:
                await tx.execute("UPDATE channels SET title = ?", (f"after {turns}",))
            assert await store.db.scalar("SELECT title FROM channels") == f"after {turns}"
    finally:
        await store.close()


async def test_copies_of_many_stored_posts_in_one_batch_each_join_their_first_posts_story(
    store: Store,
) -> None:
    """A batch's copies of several posts stored before (the story of each looked up at once,
    whatever the handle's case), one of them itself a copy: each joins its first post's story,
    and a copy of a post that is not stored stands alone."""
    await store.channels.sync_config([("pul_1", "telegram"), ("pul_2", "telegram")])
    firsts = await store.posts.save(
        "pul_1", [record(n, f"первый {n}") for n in (1, 2, 3, 4)], history=False
    )
    copy_of_4 = replace(record(5, "копия четвёртого"), story=("pul_1", 4))
    second = await store.posts.save("pul_1", [copy_of_4], history=False)
    copies = [
        replace(record(n, f"копия {n}", minutes=100 + n), story=(handle, first))
        for n, (handle, first) in enumerate(
            [("pul_1", 1), ("PUL_1", 2), ("pul_1", 3), ("pul_1", 5), ("pul_1", 99)], start=1
        )
    ]
    saved = await store.posts.save("pul_2", copies, history=False)
    one, two, three, four = firsts.created
    stories = [await store.posts.story(first) for first in (one, two, three, four)]
    assert [[p.id for p in story] for story in stories] == [
        [one, saved.created[0]],
        [two, saved.created[1]],
        [three, saved.created[2]],
        [four, second.created[0], saved.created[3]],
    ]
    alone = await store.posts.story(saved.created[4])
    assert [(post.id, post.story) for post in alone] == [(saved.created[4], None)]
