"""SQLite's search index: a contentless FTS5 table of lemmas, rebuilt beside itself.

`posts_fts` holds which post has which lemma and nothing else, so no text or lemma is stored
twice. The price is that removing a post's entry needs the very lemmas it was indexed with;
they are recomputed from the post's text with the `Lemmatizer` the store was given (the one
that indexed it). That is only exact while the index was built by the same morphology, so an
index built by another version is left alone (a search may still find an edited post by a
word it lost, and the index may name deleted posts: searches then count against posts)
until `chanwatch reindex` builds `posts_fts_next` and swaps it in.

While a rebuild is under way, posts up to its cursor are in `posts_fts_next` already: edits
and deletions keep that part exact too, new posts reach it when the cursor does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from storage.database import Writer
from storage.search_index import IndexState, ReindexProgress, SearchIndex, read_state

FTS_TABLE: Final = "fts5 (lemmas, content = '', detail = none, columnsize = 0, tokenize = 'ascii')"
"""posts_fts as migration 6 creates it (see there why)."""
AUTOMERGE: Final = 16
"""Segments merged at a time (as migration 6 sets for posts_fts; FTS5's default is 4)."""
PAGE_BYTES: Final = 4050
"""Size of the index's pages (as migration 8 sets for posts_fts; FTS5's default is 1000)."""
MERGE_PAGES: Final = 500
"""Pages of the index rewritten per upkeep step."""

_FTS_TOKEN: Final = re.compile(r"[^\W_]+")
"""What one token is: a run of letters and digits (the lemmas are made of such runs)."""


def fts_query(groups: Sequence[Sequence[str]]) -> str:
    """An FTS5 query over the lemmas: every group must match, any word within one.

    The index keeps no positions, so a "word" of several tokens (it never comes from
    monitor's lemmas, but a caller may pass anything) asks for all of them rather than for
    a phrase. Tokens are quoted: no input can inject FTS5 syntax."""
    parts = []
    for group in groups:
        alternatives = []
        for word in group:
            tokens = _FTS_TOKEN.findall(word.lower())
            if tokens:
                alternatives.append(" AND ".join(f'"{token}"' for token in tokens))
        if alternatives:
            parts.append("(" + " OR ".join(f"({a})" for a in alternatives) + ")")
    return " AND ".join(parts)


class FtsSearchIndex(SearchIndex):
    async def add(self, tx: Writer, entries: Sequence[tuple[int, str]]) -> None:
        # New ids are above any rebuild's cursor: the rebuild reaches them itself.
        await tx.executemany(
            "INSERT INTO posts_fts (rowid, lemmas) VALUES (?, ?)",
            [entry for entry in entries if entry[1]],
        )

    async def replace(self, tx: Writer, post: int, old_text: str, lemmas: str) -> None:
        for table, exact in self._tables(await read_state(tx), post):
            if exact:
                await self._delete(tx, table, post, old_text)
            # Where the old entry cannot be reproduced, the new words are still added (FTS5
            # lets a newer entry for a rowid stand beside the older one): the post is found
            # by its new text at once, and by its old words too until the next rebuild.
            if lemmas:
                await tx.execute(
                    f"INSERT INTO {table} (rowid, lemmas) VALUES (?, ?)", (post, lemmas)
                )

    async def remove(self, tx: Writer, posts: Sequence[tuple[int, str]]) -> None:
        if not posts:
            return
        state = await read_state(tx)
        orphans = 0
        for post, text in posts:
            for table, exact in self._tables(state, post):
                if exact:
                    await self._delete(tx, table, post, text)
                elif table == "posts_fts":
                    orphans += 1
        if orphans:
            await tx.execute(
                "UPDATE search_index SET orphans = orphans + ? WHERE id = 1", (orphans,)
            )

    async def count(self, groups: Sequence[Sequence[str]]) -> int:
        query = fts_query(groups)
        if not query:
            return 0
        # The index alone counts fast; only when it may still name deleted posts are its
        # matches checked against posts.
        if await self._db.scalar("SELECT orphans FROM search_index WHERE id = 1"):
            sql = (
                "SELECT count(*) FROM posts WHERE id IN "
                "(SELECT rowid FROM posts_fts WHERE posts_fts MATCH ?)"
            )
        else:
            sql = "SELECT count(*) FROM posts_fts WHERE posts_fts MATCH ?"
        return int(await self._db.scalar(sql, (query,)) or 0)

    async def merge_step(self) -> bool:
        """Merge some of the index's segments (an entry deleted from a contentless index
        takes space until the segments holding it are merged), in a bounded step."""
        async with self._db.transaction() as tx:
            before = await tx.fetchone("SELECT total_changes() AS n")
            # Negative: merge even levels with fewer segments than FTS5 waits for by itself.
            await tx.execute(
                "INSERT INTO posts_fts (posts_fts, rank) VALUES ('merge', ?)", (-MERGE_PAGES,)
            )
            after = await tx.fetchone("SELECT total_changes() AS n")
        assert before is not None and after is not None
        # The command's own row counts as one change; merging work makes more (FTS5 docs).
        return int(after["n"]) - int(before["n"]) >= 2

    async def begin_rebuild(self) -> ReindexProgress:
        lemmatizer = self._require()
        async with self._db.transaction() as tx:
            state = await read_state(tx)
            if state.next_version != lemmatizer.version:
                # None under way, or one by another version: its part is of no use.
                await tx.execute("DROP TABLE IF EXISTS posts_fts_next")
                await tx.execute(f"CREATE VIRTUAL TABLE posts_fts_next USING {FTS_TABLE}")
                for setting, value in (("automerge", AUTOMERGE), ("pgsz", PAGE_BYTES)):
                    await tx.execute(
                        "INSERT INTO posts_fts_next (posts_fts_next, rank) VALUES (?, ?)",
                        (setting, value),
                    )
                await self._start(tx, lemmatizer.version)
            return await self._count_rebuilt(tx)

    async def rebuild_step(self, batch: int) -> tuple[int, bool]:
        """The step that finds fewer than `batch` posts left swaps the new index in within
        its own transaction, so no post can arrive unindexed in between."""
        lemmatizer = self._require()
        async with self._db.transaction() as tx:
            state = await read_state(tx)
            if state.next_version != lemmatizer.version:
                raise RuntimeError("rebuild_step without begin_rebuild")
            entries = await self._posts_after(tx, state.next_cursor, batch)
            await tx.executemany(
                "INSERT INTO posts_fts_next (rowid, lemmas) VALUES (?, ?)",
                [entry for entry in entries if entry[1]],
            )
            if len(entries) < batch:
                await tx.execute("DROP TABLE posts_fts")
                await tx.execute("ALTER TABLE posts_fts_next RENAME TO posts_fts")
            finished = await self._record_step(tx, entries, batch)
        return len(entries), finished

    def _tables(self, state: IndexState, post: int) -> list[tuple[str, bool]]:
        """The index tables holding `post`, each with whether this lemmatizer reproduces
        its entry exactly (same morphology version)."""
        version = None if self._lemmatizer is None else self._lemmatizer.version
        tables = [("posts_fts", state.version == version)]
        if state.next_version is not None and post <= state.next_cursor:
            tables.append(("posts_fts_next", state.next_version == version))
        return tables

    async def _delete(self, tx: Writer, table: str, post: int, text: str) -> None:
        lemmas = self._require()(text)
        if lemmas:
            await tx.execute(
                f"INSERT INTO {table} ({table}, rowid, lemmas) VALUES ('delete', ?, ?)",
                (post, lemmas),
            )
