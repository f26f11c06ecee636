"""The full-text index of posts' lemmas, kept in step with `posts`, and its online rebuild.

`posts_fts` is a contentless FTS5 table: it holds which post has which lemma and nothing
else, so no text or lemma is stored twice. The price is that removing a post's entry needs
the very lemmas it was indexed with; storage recomputes them from the post's text with the
`Lemmatizer` the caller supplies (monitor's, the one that indexed it). That is only exact
while the index was built by the same morphology, so every table records its `version`:
an index built by another version is left alone (a search may still find an edited post by
a word it lost) until `chanwatch reindex` rebuilds it into `posts_fts_next` and swaps it in.

While a rebuild is under way, posts up to its cursor are already in `posts_fts_next`: edits
and deletions keep that part exact too, new posts reach it when the cursor does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from storage.database import Database, Writer

FTS_TABLE: Final = "fts5 (lemmas, content = '', detail = none, columnsize = 0, tokenize = 'ascii')"
"""posts_fts as migration 4 creates it (see there why)."""
AUTOMERGE: Final = 16
"""Segments merged at a time (as migration 4 sets for posts_fts; FTS5's default is 4)."""


class Lemmatizer(Protocol):
    """What indexes a post: its text to space-separated lemmas, and which version of the
    morphology that is (monitor.matching.Lemmatizer)."""

    @property
    def version(self) -> int: ...

    def __call__(self, text: str) -> str: ...


@dataclass(frozen=True, slots=True)
class IndexState:
    version: int
    """The morphology version that built posts_fts."""
    next_version: int | None = None
    """The version posts_fts_next is being built with (None: no rebuild under way)."""
    next_cursor: int = 0
    """Every post with an id up to this one is in posts_fts_next."""
    next_until: int = 0
    """The newest post id when the rebuild began: the end of its progress bar."""


@dataclass(frozen=True, slots=True)
class ReindexProgress:
    done: int
    """Posts already in posts_fts_next (a resumed rebuild starts past 0)."""
    total: int
    """Posts that were stored when the rebuild began; newer ones are indexed on the way."""


async def read_state(db: Database | Writer) -> IndexState:
    row = await db.fetchone(
        "SELECT version, next_version, next_cursor, next_until FROM search_index WHERE id = 1"
    )
    if row is None:
        return IndexState(version=1)
    return IndexState(
        version=row["version"],
        next_version=row["next_version"],
        next_cursor=row["next_cursor"] or 0,
        next_until=row["next_until"] or 0,
    )


class SearchIndex:
    """Entries of posts in the index, written inside the callers' transactions."""

    def __init__(self, db: Database, lemmatizer: Lemmatizer | None) -> None:
        self._db = db
        self._lemmatizer = lemmatizer

    @property
    def lemmatizer(self) -> Lemmatizer | None:
        return self._lemmatizer

    async def state(self) -> IndexState:
        return await read_state(self._db)

    async def add(self, tx: Writer, entries: Sequence[tuple[int, str]]) -> None:
        """Index new posts: (post row id, lemmas). New ids are above any rebuild's cursor."""
        await tx.executemany(
            "INSERT INTO posts_fts (rowid, lemmas) VALUES (?, ?)",
            [entry for entry in entries if entry[1]],
        )

    async def replace(self, tx: Writer, post: int, old_text: str, lemmas: str) -> None:
        """Re-index an edited post, whose entry was made from `old_text`."""
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
        """Take deleted posts out of the index: (post row id, its text). An entry this
        lemmatizer cannot reproduce stays, naming a post that no longer exists: searches
        join posts, so it is never shown, and the next rebuild drops it."""
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

    async def has_orphans(self) -> bool:
        """Whether posts_fts may name deleted posts (counting its matches alone would then
        count them too)."""
        return bool(await self._db.scalar("SELECT orphans FROM search_index WHERE id = 1"))

    def _tables(self, state: IndexState, post: int) -> list[tuple[str, bool]]:
        """The index tables holding `post`, each with whether this lemmatizer reproduces
        its entry exactly (same morphology version)."""
        version = None if self._lemmatizer is None else self._lemmatizer.version
        tables = [("posts_fts", state.version == version)]
        if state.next_version is not None and post <= state.next_cursor:
            tables.append(("posts_fts_next", state.next_version == version))
        return tables

    async def _delete(self, tx: Writer, table: str, post: int, text: str) -> None:
        assert self._lemmatizer is not None
        lemmas = self._lemmatizer(text)
        if lemmas:
            await tx.execute(
                f"INSERT INTO {table} ({table}, rowid, lemmas) VALUES ('delete', ?, ?)",
                (post, lemmas),
            )

    async def merge_step(self, pages: int = 500) -> bool:
        """Merge some of the index's segments (an entry deleted from a contentless index
        takes space until the segments holding it are merged); False once nothing is left
        to merge. Bounded work per call, so that writers wait for one short step at most."""
        async with self._db.transaction() as tx:
            before = await tx.fetchone("SELECT total_changes() AS n")
            # Negative: merge even levels with fewer segments than FTS5 waits for by itself.
            await tx.execute(
                "INSERT INTO posts_fts (posts_fts, rank) VALUES ('merge', ?)", (-pages,)
            )
            after = await tx.fetchone("SELECT total_changes() AS n")
        assert before is not None and after is not None
        # The command's own row counts as one change; merging work makes more (FTS5 docs).
        return int(after["n"]) - int(before["n"]) >= 2

    # The rebuild (`chanwatch reindex`), one short transaction per step so that a running
    # `chanwatch run` keeps writing between them; the cursor commits with each step, so a
    # killed rebuild resumes where it stopped.

    async def adopt_if_empty(self) -> None:
        """A database with no posts has nothing indexed by an older version: mark it as
        this lemmatizer's, so a new database never asks for a rebuild."""
        if self._lemmatizer is None:
            return
        async with self._db.transaction() as tx:
            if await tx.fetchone("SELECT 1 FROM posts LIMIT 1") is None:
                await tx.execute(
                    "UPDATE search_index SET version = ? WHERE id = 1 AND version != ? "
                    "AND next_version IS NULL",
                    (self._lemmatizer.version, self._lemmatizer.version),
                )

    async def begin_rebuild(self) -> ReindexProgress:
        """Start a rebuild with this lemmatizer, or resume the one under way with it;
        returns how far it is (counted once here: counting on every step would cost as
        much as the rebuild)."""
        lemmatizer = self._require()
        async with self._db.transaction() as tx:
            state = await read_state(tx)
            if state.next_version != lemmatizer.version:
                # None under way, or one by another version: its part is of no use.
                await tx.execute("DROP TABLE IF EXISTS posts_fts_next")
                await tx.execute(f"CREATE VIRTUAL TABLE posts_fts_next USING {FTS_TABLE}")
                await tx.execute(
                    "INSERT INTO posts_fts_next (posts_fts_next, rank) VALUES ('automerge', ?)",
                    (AUTOMERGE,),
                )
                await tx.execute(
                    "UPDATE search_index SET next_version = ?, next_cursor = 0, "
                    "next_until = (SELECT coalesce(max(id), 0) FROM posts) WHERE id = 1",
                    (lemmatizer.version,),
                )
                state = await read_state(tx)
            row = await tx.fetchone(
                "SELECT (SELECT count(*) FROM posts WHERE id <= ?) AS done, "
                "(SELECT count(*) FROM posts WHERE id <= ?) AS total",
                (state.next_cursor, max(state.next_until, state.next_cursor)),
            )
        assert row is not None
        return ReindexProgress(done=int(row["done"]), total=int(row["total"]))

    async def rebuild_step(self, batch: int) -> tuple[int, bool]:
        """Index the next `batch` posts into posts_fts_next; returns how many, and whether
        the rebuild finished. The step that finds fewer than `batch` posts left swaps the
        new index in within its own transaction, so no post can arrive unindexed between."""
        lemmatizer = self._require()
        async with self._db.transaction() as tx:
            state = await read_state(tx)
            if state.next_version != lemmatizer.version:
                raise RuntimeError("rebuild_step without begin_rebuild")
            rows = await tx.fetchall(
                "SELECT id, text FROM posts WHERE id > ? ORDER BY id LIMIT ?",
                (state.next_cursor, batch),
            )
            entries = [(row["id"], lemmatizer(row["text"])) for row in rows]
            await tx.executemany(
                "INSERT INTO posts_fts_next (rowid, lemmas) VALUES (?, ?)",
                [entry for entry in entries if entry[1]],
            )
            finished = len(rows) < batch
            if finished:
                await tx.execute("DROP TABLE posts_fts")
                await tx.execute("ALTER TABLE posts_fts_next RENAME TO posts_fts")
                await tx.execute(
                    "UPDATE search_index SET version = next_version, orphans = 0, "
                    "next_version = NULL, next_cursor = NULL, next_until = NULL WHERE id = 1"
                )
            else:
                await tx.execute(
                    "UPDATE search_index SET next_cursor = ? WHERE id = 1", (rows[-1]["id"],)
                )
        return len(rows), finished

    def _require(self) -> Lemmatizer:
        if self._lemmatizer is None:
            raise RuntimeError("rebuilding the search index needs a Lemmatizer")
        return self._lemmatizer
