"""The search index on both backends: the migration into it, exact edits, and its online
rebuild."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.matching import LEMMA_VERSION, Lemmatizer, index_lemmas
from storage import Location, Store, TopicSpec, open_database
from storage.database import to_db
from storage.migrations import LATEST
from storage.models import NewMatch, PostRecord

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
VISIT = NewMatch("visit", ("визит",), ((0, 5),))


def record(post_id: int, text: str, *matches: NewMatch) -> PostRecord:
    return PostRecord(post_id, T0 + timedelta(minutes=post_id), text, index_lemmas(text), matches)


async def found(store: Store, word: str) -> list[int]:
    posts, total = await store.posts.search([[word]], limit=100)
    assert total == len(posts)
    return sorted(p.post_id for p in posts)


class OldMorphology:
    """A lemmatizer of an older version, which knew no word but its own spelling."""

    version = LEMMA_VERSION - 1

    def __call__(self, text: str) -> str:
        return " ".join(dict.fromkeys(text.lower().split()))


async def test_a_version_3_database_keeps_posts_matches_and_search(
    empty_database: Location,
) -> None:
    old = await open_database(empty_database, upgrade_to=3)
    moment = to_db(T0)
    await old.execute(
        "INSERT INTO channels (handle, source, last_post_id, first_sight_post_id, added_at) "
        "VALUES ('pul_1', 'web', 3, 1, ?)",
        (moment,),
    )
    await old.execute(
        "INSERT INTO topics (name, from_config, created_at) VALUES ('visit', 1, ?)", (moment,)
    )
    for post_id, text in ((1, "старый пост"), (2, "Визитом Кима"), (3, "приглашаются гости")):
        await old.execute(
            "INSERT INTO posts (id, channel_id, post_id, date, text, lemmas, stored_at) "
            "VALUES (?, (SELECT id FROM channels), ?, ?, ?, ?, ?)",
            (post_id * 10, post_id, moment, text, index_lemmas(text), moment),
        )
    await old.execute(
        "INSERT INTO matches (post, topic_id, terms, spans, matched_at) "
        "VALUES (20, (SELECT id FROM topics), '[\"Визитом\"]', '[[0, 7]]', ?)",
        (moment,),
    )
    await old.execute("INSERT INTO fanout (post, queued_at) VALUES (20, ?)", (moment,))
    await old.close()

    store = await Store.open(empty_database, lemmatizer=Lemmatizer())
    try:
        assert await store.db.schema_version() == LATEST
        assert await found(store, "визит") == [2]
        assert await found(store, "кима") == [2]
        [owed] = await store.posts.pending_fanout()
        assert (owed.id, owed.post_id, [h.topic for h in owed.hits]) == (20, 2, ["visit"])
        # Indexed before versions were kept: a rebuild is due.
        assert (await store.search_index.state()).version == 1
        await store.posts.save("pul_1", [record(4, "новый визит")], history=False)
        assert await found(store, "визит") == [2, 4]
        [new] = await store.db.fetchall("SELECT id FROM posts WHERE post_id = 4")
        if isinstance(empty_database, Path):  # PostgreSQL's identity never reuses one either
            assert new["id"] == 31  # after the highest id: ids are never reused
    finally:
        await store.close()
    if isinstance(empty_database, Path):
        with sqlite3.connect(empty_database) as conn:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(posts)")}
            assert "lemmas" not in columns
            assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental


async def test_a_new_database_is_indexed_by_the_current_morphology(database: Location) -> None:
    store = await Store.open(database, lemmatizer=Lemmatizer())
    try:
        assert (await store.search_index.state()).version == LEMMA_VERSION
    finally:
        await store.close()
    if isinstance(database, Path):
        with sqlite3.connect(database) as conn:
            assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2


async def test_an_edit_takes_the_old_words_out_of_the_index(database: Location) -> None:
    store = await Store.open(database, lemmatizer=Lemmatizer())
    await store.topics.sync_config([TopicSpec("visit", ("визит",))])
    await store.channels.sync_config([("pul_1", "web")])
    try:
        await store.posts.save("pul_1", [record(1, "Переговоры в Пхеньяне")], history=True)
        await store.posts.save("pul_1", [record(1, "Визит в Пхеньян", VISIT)], history=False)
        assert await found(store, "переговоры") == []
        assert await found(store, "визит") == [1]
        assert await found(store, "пхеньян") == [1]
    finally:
        await store.close()


async def test_a_rebuild_brings_in_the_new_morphology_and_keeps_edits_on_the_way_exact(
    database: Location,
) -> None:
    old = await Store.open(database, lemmatizer=OldMorphology())
    await old.channels.sync_config([("pul_1", "web")])
    texts = {n: f"Гости приглашаются на приём номер{n}" for n in range(1, 8)}
    await old.posts.save(
        "pul_1",
        [PostRecord(n, T0, text, OldMorphology()(text), ()) for n, text in texts.items()],
        history=True,
    )
    await old.close()

    store = await Store.open(database, lemmatizer=Lemmatizer())
    try:
        # The old index knows «приглашаются» only as spelled.
        assert await found(store, "приглашать") == []
        progress = await store.search_index.begin_rebuild()
        assert (progress.done, progress.total) == (0, 7)
        assert await store.search_index.rebuild_step(3) == (3, False)
        # Edited behind the cursor, ahead of it, and a post added: all end up exact.
        for post_id, text in ((2, "Переговоры отложены"), (6, "Переговоры начались")):
            await store.posts.save("pul_1", [record(post_id, text)], history=True)
        await store.posts.save("pul_1", [record(8, "Гостей приглашают")], history=True)
        resumed = await store.search_index.begin_rebuild()  # as after kill -9
        assert (resumed.done, resumed.total) == (3, 7)
        assert await store.search_index.rebuild_step(3) == (3, False)
        assert await store.search_index.rebuild_step(3) == (2, True)
        assert (await store.search_index.state()).version == LEMMA_VERSION
        assert await found(store, "приглашать") == [1, 3, 4, 5, 7, 8]
        assert await found(store, "переговоры") == [2, 6]
        assert await found(store, "гость") == [1, 3, 4, 5, 7, 8]
    finally:
        await store.close()


async def test_sqlite_index_settings_hold_for_a_new_and_a_rebuilt_index(tmp_path: Path) -> None:
    """Full index pages and wide merges (storage/migrations.py says why) are kept by the
    index `chanwatch reindex` swaps in, not only by the one a new database starts with."""

    def settings(path: Path) -> dict[str, int]:
        with sqlite3.connect(path) as conn:
            return dict(conn.execute("SELECT k, v FROM posts_fts_config WHERE k <> 'version'"))

    path = tmp_path / "chanwatch.db"
    old = await Store.open(path, lemmatizer=OldMorphology())
    await old.channels.sync_config([("pul_1", "web")])
    await old.posts.save("pul_1", [PostRecord(1, T0, "Гости", "гости", ())], history=True)
    await old.close()
    assert settings(path) == {"automerge": 16, "pgsz": 4050}

    store = await Store.open(path, lemmatizer=Lemmatizer())
    try:
        await store.search_index.begin_rebuild()
        assert await store.search_index.rebuild_step(10) == (1, True)
        assert await found(store, "гость") == [1]
    finally:
        await store.close()
    assert settings(path) == {"automerge": 16, "pgsz": 4050}
