"""PostgreSQL's search index: one tsvector of lemmas per post, in `posts_fts`, GIN-indexed.

A row is replaced whole, so an edit needs no old lemmas and a deleted post takes its row
along (ON DELETE CASCADE): the index is exact whatever morphology built it. A rebuild
(`chanwatch reindex`) replaces the rows in batches, in place: searches go on meanwhile,
mixing old and new rows until it is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storage.database import Writer
from storage.search_index import ReindexProgress, SearchIndex, read_state


def tsquery(groups: Sequence[Sequence[str]]) -> tuple[str, tuple[Any, ...]] | None:
    """A tsquery expression: every group must match, any word within one; None for none.

    phraseto_tsquery splits each word as to_tsvector split the lemmas (a word of several
    tokens is a phrase) and no input can inject syntax."""
    alternatives = []
    params: list[str] = []
    for group in groups:
        words = [word for word in group if word]
        if words:
            alternatives.append(
                "(" + " || ".join("phraseto_tsquery('simple', ?)" for _ in words) + ")"
            )
            params.extend(words)
    if not alternatives:
        return None
    return f"({' && '.join(alternatives)})", tuple(params)


_UPSERT = (
    "INSERT INTO posts_fts (post, lemma_tsv) VALUES (?, to_tsvector('simple', ?)) "
    "ON CONFLICT (post) DO UPDATE SET lemma_tsv = excluded.lemma_tsv"
)


class TsvectorSearchIndex(SearchIndex):
    async def add(self, tx: Writer, entries: Sequence[tuple[int, str]]) -> None:
        await tx.executemany(
            "INSERT INTO posts_fts (post, lemma_tsv) VALUES (?, to_tsvector('simple', ?))",
            [entry for entry in entries if entry[1]],
        )

    async def replace(self, tx: Writer, post: int, old_text: str, lemmas: str) -> None:
        if lemmas:
            await tx.execute(_UPSERT, (post, lemmas))
        else:
            await tx.execute("DELETE FROM posts_fts WHERE post = ?", (post,))

    async def remove(self, tx: Writer, posts: Sequence[tuple[int, str]]) -> None:
        """Nothing to do: a deleted post's row goes with it (ON DELETE CASCADE)."""

    async def count(self, groups: Sequence[Sequence[str]]) -> int:
        query = tsquery(groups)
        if query is None:
            return 0
        sql, params = query
        return int(
            await self._db.scalar(
                f"SELECT count(*) FROM posts_fts WHERE lemma_tsv @@ {sql}", params
            )
            or 0
        )

    async def merge_step(self) -> bool:
        """Nothing to do: autovacuum reclaims what deletions free."""
        return False

    async def begin_rebuild(self) -> ReindexProgress:
        lemmatizer = self._require()
        async with self._db.transaction() as tx:
            await tx.lock("search-index")
            state = await read_state(tx)
            if state.next_version != lemmatizer.version:
                await self._start(tx, lemmatizer.version)
            return await self._count_rebuilt(tx)

    async def rebuild_step(self, batch: int) -> tuple[int, bool]:
        lemmatizer = self._require()
        async with self._db.transaction() as tx:
            await tx.lock("search-index")
            state = await read_state(tx)
            if state.next_version != lemmatizer.version:
                raise RuntimeError("rebuild_step without begin_rebuild")
            # Locked until this step commits: an edit or a deletion of one of these posts
            # (by a running chanwatch) waits, so no row is rebuilt from a text just replaced.
            rows = await tx.fetchall(
                "SELECT id, text FROM posts WHERE id > ? ORDER BY id LIMIT ? FOR UPDATE",
                (state.next_cursor, batch),
            )
            entries = [(int(row["id"]), lemmatizer(row["text"])) for row in rows]
            await tx.executemany(_UPSERT, [entry for entry in entries if entry[1]])
            empty = [(post,) for post, lemmas in entries if not lemmas]
            if empty:
                await tx.executemany("DELETE FROM posts_fts WHERE post = ?", empty)
            finished = await self._record_step(tx, entries, batch)
        return len(entries), finished
