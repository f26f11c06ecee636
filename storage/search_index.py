"""The full-text index of posts' lemmas, kept in step with `posts`, and its online rebuild.

Each backend keeps the index its own way (storage/sqlite_search.py: a contentless FTS5
table; storage/postgres_search.py: a tsvector table), behind this one interface that the
repositories use inside their own transactions. Both record in `search_index` which
morphology built the index (`Lemmatizer.version`) and how far a rebuild has got, so that
`chanwatch reindex` can rebuild it beside a running chanwatch and resume after a kill.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from storage.database import Database, Writer


class Lemmatizer(Protocol):
    """What indexes a post: its text to space-separated lemmas, and which version of the
    morphology that is (monitor.matching.Lemmatizer)."""

    @property
    def version(self) -> int: ...

    def __call__(self, text: str) -> str: ...


@dataclass(frozen=True, slots=True)
class IndexState:
    version: int
    """The morphology version that built the index (0: nothing indexed yet, e.g. a copy)."""
    next_version: int | None = None
    """The version a rebuild under way indexes with (None: no rebuild under way)."""
    next_cursor: int = 0
    """Every post with an id up to this one is indexed by the rebuild."""
    next_until: int = 0
    """The newest post id when the rebuild began: the end of its progress bar."""


@dataclass(frozen=True, slots=True)
class ReindexProgress:
    done: int
    """Posts the rebuild has indexed already (a resumed rebuild starts past 0)."""
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


class SearchIndex(ABC):
    """Entries of posts in the index, written inside the callers' transactions."""

    def __init__(self, db: Database, lemmatizer: Lemmatizer | None) -> None:
        self._db = db
        self._lemmatizer = lemmatizer

    @property
    def lemmatizer(self) -> Lemmatizer | None:
        return self._lemmatizer

    async def state(self) -> IndexState:
        return await read_state(self._db)

    async def adopt_if_empty(self) -> None:
        """A database with no posts has nothing indexed by an older version: mark it as
        this lemmatizer's, so a new database never asks for a rebuild."""
        if self._lemmatizer is None:
            return
        async with self._db.transaction() as tx:
            if await tx.fetchone("SELECT 1 FROM posts LIMIT 1") is None:
                await tx.execute(
                    "UPDATE search_index SET version = ? WHERE id = 1 AND version <> ? "
                    "AND next_version IS NULL",
                    (self._lemmatizer.version, self._lemmatizer.version),
                )

    @abstractmethod
    async def add(self, tx: Writer, entries: Sequence[tuple[int, str]]) -> None:
        """Index new posts: (post row id, lemmas)."""

    @abstractmethod
    async def replace(self, tx: Writer, post: int, old_text: str, lemmas: str) -> None:
        """Re-index an edited post, whose entry was made from `old_text`."""

    @abstractmethod
    async def remove(self, tx: Writer, posts: Sequence[tuple[int, str]]) -> None:
        """Take posts about to be deleted out of the index: (post row id, its text)."""

    @abstractmethod
    async def count(self, groups: Sequence[Sequence[str]]) -> int:
        """How many stored posts have a word of every group (as `Dialect.post_search`)."""

    @abstractmethod
    async def merge_step(self) -> bool:
        """Some upkeep after many deletions; False once there is none left to do."""

    @abstractmethod
    async def begin_rebuild(self) -> ReindexProgress:
        """Start a rebuild with this lemmatizer, or resume the one under way with it."""

    @abstractmethod
    async def rebuild_step(self, batch: int) -> tuple[int, bool]:
        """Index the next `batch` posts; returns how many, and whether the rebuild is done
        (the index then is this lemmatizer's version)."""

    def _require(self) -> Lemmatizer:
        if self._lemmatizer is None:
            raise RuntimeError("rebuilding the search index needs a Lemmatizer")
        return self._lemmatizer

    async def _count_rebuilt(self, tx: Writer) -> ReindexProgress:
        """Progress of the rebuild under way, counted once (not on every step: that would
        cost as much as the rebuild)."""
        state = await read_state(tx)
        row = await tx.fetchone(
            "SELECT (SELECT count(*) FROM posts WHERE id <= ?) AS done, "
            "(SELECT count(*) FROM posts WHERE id <= ?) AS total",
            (state.next_cursor, max(state.next_until, state.next_cursor)),
        )
        assert row is not None
        return ReindexProgress(done=int(row["done"]), total=int(row["total"]))

    async def _start(self, tx: Writer, version: int) -> None:
        """Begin a rebuild with `version` from the first post (the newest is its goal)."""
        await tx.execute(
            "UPDATE search_index SET next_version = ?, next_cursor = 0, "
            "next_until = (SELECT coalesce(max(id), 0) FROM posts) WHERE id = 1",
            (version,),
        )

    async def _record_step(
        self, tx: Writer, entries: Sequence[tuple[int, str]], batch: int
    ) -> bool:
        """Move the rebuild's cursor past `entries`; when fewer than `batch` were left, the
        rebuild is done: the index is the new version's. Returns whether it is done."""
        if len(entries) < batch:
            await tx.execute(
                "UPDATE search_index SET version = next_version, orphans = 0, "
                "next_version = NULL, next_cursor = NULL, next_until = NULL WHERE id = 1"
            )
            return True
        await tx.execute("UPDATE search_index SET next_cursor = ? WHERE id = 1", (entries[-1][0],))
        return False

    async def _posts_after(self, tx: Writer, cursor: int, batch: int) -> list[tuple[int, str]]:
        """The next `batch` posts after `cursor` with their lemmas (for a rebuild step)."""
        lemmatizer = self._require()
        rows = await tx.fetchall(
            "SELECT id, text FROM posts WHERE id > ? ORDER BY id LIMIT ?", (cursor, batch)
        )
        return [(int(row["id"]), lemmatizer(row["text"])) for row in rows]
