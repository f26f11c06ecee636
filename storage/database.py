"""What the repositories write against: one `Database` interface, two implementations.

storage/sqlite.py (the embedded default) and storage/postgres.py implement it; the
repositories never ask which one they have. Their SQL is written once, in the dialect both
accept, with `?` placeholders; what truly differs (the schema, full-text search, schema-version
bookkeeping) is in each backend's module, reached through `Database.dialect`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from storage.coordination import Election, Heard
    from storage.search_index import Lemmatizer, SearchIndex


class Row(Protocol):
    """A result row: by column name or position, as sqlite3.Row and asyncpg.Record are."""

    def __getitem__(self, key: str | int, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...

    def __iter__(self) -> Iterator[Any]: ...


def to_db(moment: datetime) -> str:
    """UTC ISO text: SQLite stores it as is (comparing strings compares instants) and the
    PostgreSQL backend parses it into timestamptz, so repositories pass one form to both."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to storage; use an aware UTC datetime")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def from_db(text: str) -> datetime:
    return datetime.fromisoformat(text)


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


EARLIEST: datetime = datetime(1, 1, 1, tzinfo=UTC)
"""Before every stored moment: "since the beginning" as a bound both backends compare."""


@dataclass(frozen=True, slots=True)
class Condition:
    """A piece of SQL for a WHERE clause, with the values of its `?` placeholders."""

    sql: str
    params: tuple[Any, ...]


class Dialect(ABC):
    """The statements that differ between the backends, and nothing else."""

    name: str

    @abstractmethod
    def post_search(self, groups: Sequence[Sequence[str]]) -> Condition | None:
        """A condition on posts aliased `p`: every group has a word among the post's lemmas.

        Words are whole lemmas (a word of several tokens, which lemmas never are, asks for
        all of them: as a phrase on PostgreSQL, anywhere in the post on SQLite, whose index
        keeps no positions) and every group has one at least; None when there is no group,
        which matches nothing."""

    @abstractmethod
    def minute(self, column: str) -> str:
        """An expression for the UTC minute of a moment column, as "YYYY-MM-DDTHH:MM" text
        (to count things per minute with GROUP BY)."""

    @abstractmethod
    def skip_locked(self) -> str:
        """The end of a SELECT of rows a process is about to claim (leases): concurrent
        claimers skip the rows another one is claiming instead of waiting for it, or ""
        where one writer at a time makes that moot."""


class Writer(ABC):
    """Statements inside one open transaction."""

    @abstractmethod
    async def lock(self, *keys: str) -> None:
        """Hold the named locks until the transaction ends: another transaction that locks
        one of them, in any process, waits until then. A read-then-write that must not
        interleave with another on the same thing (a channel's posts and cursor, say)
        takes its key first."""

    @abstractmethod
    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""

    @abstractmethod
    async def insert(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run an `INSERT … RETURNING id`; the new id, or 0 when ON CONFLICT skipped it."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        """Run one statement for each row. A backend may send it with the transaction's
        next statement or its commit (SQLite does, to save a trip to its thread): a failure
        then surfaces there, and rolls the transaction back all the same."""

    @abstractmethod
    async def notify(self, channel: str, payload: str = "") -> None:
        """Tell the listeners of `channel` (in every process) once this transaction commits;
        nothing when it rolls back (storage/coordination.py)."""

    @abstractmethod
    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None: ...

    @abstractmethod
    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]: ...


class Database(ABC):
    """An open, migrated database.

    Reads see every committed write. Writes go through `transaction()`. On SQLite one
    transaction writes at a time (BEGIN IMMEDIATE); on PostgreSQL they run side by side, at
    READ COMMITTED, so repositories make each one safe beside the others: inserts that may
    meet a concurrent twin say ON CONFLICT, and a read-then-write takes `Writer.lock(key)`.
    """

    dialect: Dialect

    @property
    @abstractmethod
    def name(self) -> str:
        """The database as the user knows it (a file path, a URL without its password)."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def schema_version(self) -> int: ...

    @abstractmethod
    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]: ...

    @abstractmethod
    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None: ...

    async def scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Writer]:
        """BEGIN .. COMMIT, rolled back on any exception."""

    @abstractmethod
    def search_index(self, lemmatizer: Lemmatizer | None) -> SearchIndex:
        """This backend's full-text index of posts (storage/search_index.py)."""

    @abstractmethod
    async def size(self) -> int:
        """Bytes the database takes (the SQLite file; the PostgreSQL database)."""

    @abstractmethod
    async def shrink(self, *, pause: float = 0.05) -> None:
        """Give space freed by deletions back, in steps short enough for other writers."""

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One statement in its own transaction; returns the number of rows changed."""
        async with self.transaction() as tx:
            return await tx.execute(sql, params)

    async def notify(self, channel: str, payload: str = "") -> None:
        """Tell the listeners of `channel`, in every process, now."""
        async with self.transaction() as tx:
            await tx.notify(channel, payload)

    @abstractmethod
    def listen(self, channels: Iterable[str], heard: Heard) -> AbstractAsyncContextManager[None]:
        """Call `heard` with what is notified on `channels` while the block runs (in the
        event loop, from no particular task: it should only set an event or queue)."""

    @abstractmethod
    def election(self, office: str) -> Election:
        """This process's campaign for `office` (see storage/coordination.py)."""
