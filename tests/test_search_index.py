"""The compact search index: the migration into it, exact edits, and its online rebuild."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.matching import LEMMA_VERSION, Lemmatizer, index_lemmas
from storage import Store, TopicSpec
from storage.migrations import CORE, DELIVERY, FIRST_SIGHT, LATEST
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


async def test_a_version_3_database_keeps_posts_matches_and_search(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(CORE + DELIVERY + FIRST_SIGHT)
        conn.execute(
            "INSERT INTO channels (handle, source, last_post_id, first_sight_post_id, added_at) "
            "VALUES ('pul_1', 'web', 3, 1, '2026-01-01T00:00:00+00:00')"
        )
        conn.execute(
            "INSERT INTO topics (name, from_config, created_at) "
            "VALUES ('visit', 1, '2026-01-01T00:00:00+00:00')"
        )
        for post_id, text in ((1, "старый пост"), (2, "Визитом Кима"), (3, "приглашаются гости")):
            conn.execute(
                "INSERT INTO posts (id, channel_id, post_id, date, text, lemmas, stored_at) "
                "VALUES (?, 1, ?, '2026-01-01T00:00:00+00:00', ?, ?, "
                "'2026-01-01T00:00:00+00:00')",
                (post_id * 10, post_id, text, index_lemmas(text)),
            )
        conn.execute(
            "INSERT INTO matches (post, topic_id, terms, spans, matched_at) "
            "VALUES (20, 1, '[\"Визитом\"]', '[[0, 7]]', '2026-01-01T00:00:00+00:00')"
        )
        conn.execute("INSERT INTO fanout (post, queued_at) VALUES (20, '2026-01-01T00:00:00Z')")
        conn.execute("PRAGMA user_version = 3")

    store = await Store.open(path, lemmatizer=Lemmatizer())
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
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(posts)")}
        assert "lemmas" not in columns
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
        assert conn.execute("SELECT max(id) FROM posts").fetchone()[0] == 31


async def test_a_new_database_is_indexed_by_the_current_morphology(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "new.db", lemmatizer=Lemmatizer())
    try:
        assert (await store.search_index.state()).version == LEMMA_VERSION
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "new.db") as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2


async def test_an_edit_takes_the_old_words_out_of_the_index(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "t.db", lemmatizer=Lemmatizer())
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


async def test_a_rebuild_swaps_in_the_new_morphology_and_keeps_edits_on_the_way_exact(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    old = await Store.open(path, lemmatizer=OldMorphology())
    await old.channels.sync_config([("pul_1", "web")])
    texts = {n: f"Гости приглашаются на приём номер{n}" for n in range(1, 8)}
    await old.posts.save(
        "pul_1",
        [PostRecord(n, T0, text, OldMorphology()(text), ()) for n, text in texts.items()],
        history=True,
    )
    await old.close()

    store = await Store.open(path, lemmatizer=Lemmatizer())
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
